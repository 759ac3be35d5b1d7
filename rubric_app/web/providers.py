"""Provider registry, imports and exports, selection rounds and their documents (staff and admins)."""
from __future__ import annotations

import os
import statistics
from decimal import Decimal
from fractions import Fraction

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, session, url_for
from babel.numbers import NumberFormatError, format_decimal, parse_decimal
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db
from ..i18n import LANGUAGES, country_name, current_language
from ..models import LETTER_TERMS, PROVIDER_TYPES, ROUND_FROZEN, Provider
from ..reporting.charts import provider_profile_svg
from ..reporting.selection_pdf import exclusion_text
from ..services import N_, Conflict, Invalid, PreconditionFailed, ServiceError, provider_io
from ..jobs import submit as submit_job
from ..services import documents as docs
from ..services import jobs as jobs_svc
from ..services import providers as svc
from ..services import selection as sel
from ..inputs import MAX_ID, ascii_int, plain_decimal
from . import registry, role_required
from .hardening import query_int
from .forms import VersionedForm

bp = Blueprint("providers", __name__)
staff_only = role_required(*svc.STAFF_ROLES)
PAGE_SIZE = 50
MAX_PAGE = 100_000  # far beyond any registry; keeps the offset a small number


def instrument():
    return svc.provider_instrument(registry())


# --------------------------------------------------------------------------- registry


@bp.get("/providers")
@staff_only
def index():
    country = request.args.get("country") or None
    ptype = request.args.get("type") or None
    search = (request.args.get("q") or "").strip() or None
    show_archived = request.args.get("archived") == "1"
    page = min(max(1, query_int("page", 1, minimum=-MAX_ID)), MAX_PAGE)  # 0 or -1: the first page; not a number: 400
    archived = None if show_archived else False
    rows, total = svc.list_providers(db.session, current_user, country=country, type=ptype, search=search,
                                     limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, archived=archived)
    pages = max(1, -(-total // PAGE_SIZE))
    if page > pages:  # past the last page (an old link, a narrower filter): the last page
        page = pages
        rows, total = svc.list_providers(db.session, current_user, country=country, type=ptype, search=search,
                                         limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, archived=archived)
    filters = {"q": search, "country": country, "type": ptype, "archived": "1" if show_archived else None}
    return render_template("providers/index.html", providers=rows, total=total, page=page, pages=pages, page_size=PAGE_SIZE,
                           page_url=lambda n: url_for(".index", page=n if n > 1 else None, **filters),
                           country=country, ptype=ptype, search=search or "", types=PROVIDER_TYPES, show_archived=show_archived,
                           countries=svc.countries_in_registry(db.session), instrument=instrument())


def _form_values() -> dict:
    inst = instrument()
    return {
        **{f: request.form.get(f, "") for f in PROVIDER_FIELDS},
        "facts": {fact.id: request.form.get(f"fact_{fact.id}") == "yes" for fact in inst.eligibility},
        "item_scores": {item.id: request.form.get(f"item_{item.id}", "") for item in inst.items},
    }


PROVIDER_FIELDS = ("code", "name", "country", "city", "type", "contact_name", "contact_email", "contact_phone",
                   "legal_representative", "legal_representative_position")


@bp.record_once
def _check_letter_templates(state) -> None:
    """Load the letter templates when the app starts: a broken file stops the start, listing every problem."""
    docs.letter_templates(state.app.config["RUBRIC_DEFS"])


def _stored_values(provider: Provider) -> dict:
    values = {f: getattr(provider, f) for f in PROVIDER_FIELDS}
    values["facts"], values["item_scores"] = dict(provider.facts or {}), dict(provider.item_scores or {})
    return values


def _differences(inst, mine: dict, theirs: dict) -> list[tuple[str, str, str]]:
    """(what, mine, theirs) for every value the two versions of a provider disagree on."""
    labels = {"code": _("Code"), "name": _("Name"), "country": _("Country"), "city": _("City"), "type": _("Type"),
              "contact_name": _("Contact person"), "contact_email": _("Contact e-mail"), "contact_phone": _("Contact phone"),
              "legal_representative": _("Legal representative"), "legal_representative_position": _("Position of the legal representative")}
    rows = []
    for f in PROVIDER_FIELDS:
        a, b = str(mine.get(f) or "").strip(), str(theirs.get(f) or "").strip()
        if f == "country":
            a, b = a.upper(), b.upper()
        if a != b:
            rows.append((labels[f], a or "—", b or "—"))
    yes_no = {True: _("Yes"), False: _("No")}
    for fact in inst.eligibility:
        a, b = bool(mine["facts"].get(fact.id)), bool(theirs["facts"].get(fact.id))
        if a != b:
            rows.append((fact.text(current_language()), yes_no[a], yes_no[b]))
    for item in inst.items:
        a, b = mine["item_scores"].get(item.id), theirs["item_scores"].get(item.id)
        a, b = ("" if a in (None, "") else str(a)), ("" if b in (None, "") else str(b))
        if a != b:
            rows.append((item.text(current_language()), a or "—", b or "—"))
    return rows


def _refuse_unicode_digits(item_scores: dict) -> None:
    """Scores such as "³" or "٣" pass ``str.isdigit()`` but are no score: refuse them as off the scale."""
    wrong = [item_id for item_id, raw in item_scores.items() if raw and not raw.isascii()]
    if wrong:
        low, high = svc.PROVIDER_SCALE[0], svc.PROVIDER_SCALE[-1]
        raise Invalid(N_("The provider was not saved: check the fields marked."),
                      [{"field": item_id, "message": "Score must be between %(low)s and %(high)s." % {"low": low, "high": high},
                        "msgid": N_("Score must be between %(low)s and %(high)s."), "params": {"low": low, "high": high}}
                       for item_id in wrong])


def _problem_text(problem: dict, fallback: str) -> str:
    """A service problem in the interface language (its msgid and params when it has them)."""
    if problem.get("msgid"):
        return _(problem["msgid"], **(problem.get("params") or {}))
    return _(problem.get("message") or fallback)


def _edit(provider: Provider | None):
    inst = instrument()
    errors: dict[str, str] = {}
    values = None
    differences = None
    status = 200
    version = provider.version if provider is not None else 0
    if request.method == "POST":
        values = _form_values()
        raw_version = request.form.get("version", "")
        seen = ascii_int(raw_version, 0, MAX_ID)
        try:
            if provider is not None and seen is None:
                raise PreconditionFailed(N_("The form expired or was sent from elsewhere. Reload the page and try again."))
            _refuse_unicode_digits(values["item_scores"])
            saved = svc.save_provider(db.session, current_user, inst, values, provider, expected_version=seen)
        except PreconditionFailed as exc:
            db.session.rollback()
            provider = svc.get_provider(db.session, current_user, provider.id)
            differences = _differences(inst, values, _stored_values(provider))
            errors = {"": _(exc.message)}
            version = provider.version
            status = 409
        except ServiceError as exc:
            db.session.rollback()
            errors = {d.get("field", ""): _problem_text(d, exc.message) for d in exc.details} or {"": _(exc.message)}
            status = exc.status if exc.status == 409 else 422
        else:
            flash(_("The provider was saved."), "success")
            return redirect(url_for(".profile", provider_id=saved.id))
    if values is None and provider is not None:
        values = _stored_values(provider)
    return render_template("providers/edit.html", provider=provider, values=values or {"facts": {}, "item_scores": {}}, errors=errors,
                           instrument=inst, types=PROVIDER_TYPES, version=version,
                           differences=differences), status


@bp.route("/providers/new", methods=["GET", "POST"])
@staff_only
def new():
    return _edit(None)


@bp.route("/providers/<int:provider_id>/edit", methods=["GET", "POST"])
@staff_only
def edit(provider_id: int):
    return _edit(svc.get_provider(db.session, current_user, provider_id))


@bp.get("/providers/<int:provider_id>")
@staff_only
def profile(provider_id: int):
    provider = svc.get_provider(db.session, current_user, provider_id)
    inst = instrument()
    from ..domain.selection import category_scores

    peers, _total = svc.list_providers(db.session, current_user, country=provider.country)
    mine = category_scores(inst, provider.item_scores or {})
    medians = {}
    for cat in inst.categories:
        values = [s[cat.id] for s in (category_scores(inst, p.item_scores or {}) for p in peers) if s[cat.id] is not None]
        medians[cat.id] = statistics.median(values) if values else None
    lang = current_language()
    chart = provider_profile_svg(inst, mine, medians, lang, (provider.name, _("Median of %(country)s", country=country_name(provider.country, lang))))
    return render_template("providers/profile.html", provider=provider, instrument=inst, scores=mine, medians=medians,
                           chart=chart, peers=len(peers), lang=lang, form=VersionedForm(formdata=None, version=provider.version))


@bp.post("/providers/<int:provider_id>/archive")
@staff_only
def archive(provider_id: int):
    """Archive the provider (``archive=1``) or bring it back (``archive=0``), from the version the page showed."""
    provider = svc.get_provider(db.session, current_user, provider_id)
    archived = request.form.get("archive") == "1"
    form = VersionedForm()
    try:
        if not form.validate():
            raise PreconditionFailed(N_("The form expired or was sent from elsewhere. Reload the page and try again."))
        svc.set_archived(db.session, current_user, provider, archived, expected_version=form.version.data)
    except (PreconditionFailed, Conflict) as exc:
        db.session.rollback()
        flash(_(exc.message), "error")
    else:
        flash(_("The provider was archived: it no longer takes part in new rounds.") if archived
              else _("The provider is active again and takes part in new rounds."), "success")
    return redirect(url_for(".profile", provider_id=provider_id))


# --------------------------------------------------------------------------- import and export

@bp.route("/providers/import", methods=["GET", "POST"])
@staff_only
def import_page():
    """Upload a file: check it (dry run) or import it at once; "Import now" applies the checked file.

    A checked file waits in the database (at most an hour, for the person who checked it only), so
    the app server that applies it need not be the one that checked it.
    """
    inst = instrument()
    provider_io.forget_expired_uploads(db.session)
    if request.method == "GET":
        return render_template("providers/import.html", plan=None, problems=None)
    token = request.form.get("token")
    if token:  # apply an upload that was checked in a dry run
        pending = provider_io.pending_upload(db.session, current_user, token)
        if pending is None:
            flash(_("The checked file is no longer available; upload it again."), "error")
            return redirect(url_for(".import_page"))
        filename, data, stamp = pending.filename, pending.data, pending.stamp
        if _import_as_job(filename, data):
            return _start_import_job(jobs_svc.IMPORT_KIND, {"upload_id": pending.id, "stamp": stamp or ""})
        dry_run = False
        try:
            plan, problems = provider_io.import_providers(db.session, filename, data, inst, dry_run=False, expected_stamp=stamp or "")
        except PreconditionFailed as exc:
            flash(_(exc.message), "error")
            plan, problems = provider_io.import_providers(db.session, filename, data, inst, dry_run=True)
            if problems:
                provider_io.forget_upload(db.session, current_user, token)
                return render_template("providers/import.html", plan=None, problems=problems, filename=filename), 422
            provider_io.restamp_upload(db.session, current_user, token, plan.stamp)
            return render_template("providers/import.html", plan=plan, problems=None, filename=filename, token=token,
                                   dry_run=True), 409
    else:
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Choose a CSV or XLSX file."), "error")
            return render_template("providers/import.html", plan=None, problems=None), 422
        filename, data = upload.filename, upload.read()
        dry_run = request.form.get("dry_run", "1") == "1"
        if _import_as_job(filename, data):  # kept in the database, so the job (on any server) reads it
            kept = provider_io.keep_upload(db.session, current_user, filename, data, "")
            upload_id = provider_io.pending_upload(db.session, current_user, kept).id
            try:
                if dry_run:
                    return _start_import_job(jobs_svc.IMPORT_CHECK_KIND, {"upload_id": upload_id})
                return _start_import_job(jobs_svc.IMPORT_KIND, {"upload_id": upload_id, "stamp": None})
            except ServiceError:  # no job (too many unfinished ones): nothing is to read the file
                db.session.rollback()
                provider_io.forget_upload(db.session, current_user, kept)
                raise
        plan, problems = provider_io.import_providers(db.session, filename, data, inst, dry_run=dry_run)
    if problems:
        if token:  # the kept file can no longer be applied
            provider_io.forget_upload(db.session, current_user, token)
        return render_template("providers/import.html", plan=None, problems=problems, filename=filename), 422
    if dry_run:  # one pending upload per person: this check replaces their last one
        token = provider_io.keep_upload(db.session, current_user, filename, data, plan.stamp)
        return render_template("providers/import.html", plan=plan, problems=None, filename=filename, token=token, dry_run=True)
    if token:
        provider_io.forget_upload(db.session, current_user, token)
    flash(_("Import done: %(created)d created, %(updated)d updated, %(unchanged)d unchanged.",
            created=len(plan.creates), updated=len(plan.updates), unchanged=len(plan.unchanged)), "success")
    return redirect(url_for(".index"))


def import_job_threshold() -> int:
    """Rows of a provider file above which it is checked and imported as a job (``IMPORT_JOB_THRESHOLD``)."""
    value = current_app.config.get("IMPORT_JOB_THRESHOLD")
    return jobs_svc.IMPORT_JOB_THRESHOLD if value in (None, "") else int(value)


def _import_as_job(filename: str, data: bytes) -> bool:
    return provider_io.count_rows(filename, data) > import_job_threshold()


def _start_import_job(kind: str, params: dict):
    job = jobs_svc.create_job(db.session, current_user, kind, params)
    submit_job(job.id)
    return redirect(url_for("jobs.show", job_id=job.id), code=303)


@bp.get("/providers/template.<fmt>")
@staff_only
def template(fmt: str):
    inst = instrument()
    if fmt == "csv":
        data, mime = provider_io.template_csv(inst), "text/csv"
    elif fmt == "xlsx":
        data, mime = provider_io.template_xlsx(inst), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        abort(404)
    return current_app.response_class(data, mimetype=mime, headers={"Content-Disposition": f"attachment; filename=providers-template.{fmt}"})


@bp.get("/providers/export.<fmt>")
@staff_only
def export(fmt: str):
    inst = instrument()
    rows, _total = svc.list_providers(db.session, current_user)
    if fmt == "csv":
        data, mime = provider_io.export_csv(rows, inst), "text/csv"
    elif fmt == "xlsx":
        data, mime = provider_io.export_xlsx(rows, inst), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        abort(404)
    return current_app.response_class(data, mimetype=mime, headers={"Content-Disposition": f"attachment; filename=providers.{fmt}"})


# --------------------------------------------------------------------------- selection rounds


@bp.get("/rounds")
@staff_only
def rounds():
    rounds = sel.list_rounds(db.session, current_user)
    counts = {r.id: sum(1 for row in sel.final_results(r) if row["selected"]) for r in rounds}
    return render_template("rounds/index.html", rounds=rounds, selected_counts=counts)


@bp.get("/rounds/audit")
@staff_only
def rounds_audit():
    """The selection-round entries of the audit log (freezes, overrides and their rationale): staff and admins only."""
    from ..services import review as audit

    return render_template("rounds/audit.html", rows=[_audit_row(*row) for row in audit.audit_entries(db.session, current_user,
                                                                                                    rounds_only=True)])


def _audit_row(entry, email, _institution) -> dict:
    """An audit entry about rounds in the interface language: the round's number, the provider's code,
    what changed and the old and new values in words (never the stored ids)."""
    parts = dict(part.partition(":")[::2] for part in (entry.subject or "").split())
    changes = {"status": _("Round status"), "selection": _("Selection of a provider"), "archived": _("Archived")}
    words = {"open": _("open"), "frozen": _("frozen"), "selected": _("selected"), "not selected": _("not selected"),
             "yes": _("yes"), "no": _("no")}
    round_id = parts.get("round", "")
    return {"at": entry.at, "who": email or "—",
            "round": _("Round #%(id)s", id=round_id) if round_id.isdigit() else "—", "round_id": int(round_id) if round_id.isdigit() else None,
            "provider": parts.get("provider") or "",
            "change": changes.get(entry.field, _("Other change")),
            "old": words.get(entry.old, "—") if entry.old else "—",
            "new": words.get(entry.new, "—") if entry.new else (_("follows the rule") if entry.field == "selection" else "—"),
            "comment": entry.comment or ""}


@bp.get("/rounds/audit.csv")
@staff_only
def rounds_audit_csv():
    from ..services import review as audit

    rows = audit.audit_entries(db.session, current_user, rounds_only=True, limit=None)
    return current_app.response_class(audit.audit_csv(rows), mimetype="text/csv",
                                      headers={"Content-Disposition": "attachment; filename=rounds-audit-log.csv"})


def _form_number(text: str | None) -> str | None:
    """A number typed in the interface language ("1,5" in es and pt, "1.5" anywhere) as plain text for
    the service ("1.5"); anything else goes on unchanged, for the service to refuse at its field."""
    if text is None:
        return None
    raw = text.strip()
    if not raw:
        return raw
    try:
        return str(parse_decimal(raw, locale=current_language(), strict=True))
    except (NumberFormatError, ValueError):
        return raw


def _settings_from_form(inst, countries: list[str]) -> tuple[dict, dict]:
    """(typed values to show again, settings for the service) from the round form."""
    form = request.form
    typed = {
        "weights": {cat.id: form.get(f"weight_{cat.id}", "1") for cat in inst.categories},
        "knockouts": [fact.id for fact in inst.eligibility if form.get(f"ko_{fact.id}") == "1"],
        "min_scores": {cat.id: form.get(f"min_{cat.id}") for cat in inst.categories if (form.get(f"min_{cat.id}") or "").strip()},
        "rule": form.get("rule", "quota"),
        "quotas": {c: form.get(f"quota_{c}") for c in countries if (form.get(f"quota_{c}") or "").strip()},
        "default_quota": form.get("default_quota") or 0,
        "threshold": form.get("threshold") or None,
        "draws": form.get("draws") or 0,
        "seed": form.get("seed") or 0,
        "countries": [c.strip().upper() for c in form.getlist("countries") if c.strip()][:sel.MAX_COUNTRIES + 1],
        # the page sends "0" and, when ticked, "1"; a form without the field leaves the default to the service
        "include_synthetic": "1" in form.getlist("include_synthetic") if "include_synthetic" in form else None,
    }
    settings = {**typed,
                "weights": {k: _form_number(v) for k, v in typed["weights"].items()},
                "min_scores": {k: _form_number(v) for k, v in typed["min_scores"].items()},
                "quotas": {k: (v or "").strip() for k, v in typed["quotas"].items()},
                "default_quota": str(typed["default_quota"]).strip(),
                "threshold": _form_number(typed["threshold"]) or None,
                "draws": str(typed["draws"]).strip(), "seed": str(typed["seed"]).strip()}
    return typed, settings


#: a problem's field in the service -> the form control it is shown at
def _form_field(field: str) -> str:
    head, _dot, tail = field.partition(".")
    if head == "countries":
        return head
    return {"weights": "weight_", "min_scores": "min_", "quotas": "quota_", "letter_terms": ""}.get(head, head) + tail \
        if tail else field


def _shown_weight(value) -> str:
    """A stored or default weight as the form shows it (decimal comma in es and pt)."""
    number = value if isinstance(value, Decimal) else plain_decimal(value)
    return format_decimal(number, locale=current_language()) if number is not None else str(value)


@bp.route("/rounds/new", methods=["GET", "POST"])
@staff_only
def new_round():
    inst = instrument()
    countries = svc.countries_in_registry(db.session)
    values = {"name": "", "settings": {"weights": {c.id: _shown_weight(c.weight) for c in inst.categories},
                                       "knockouts": [f.id for f in inst.eligibility], "min_scores": {}, "rule": "quota",
                                       "quotas": {}, "default_quota": 10, "threshold": "60", "draws": 1000, "seed": 2026,
                                       "countries": [], "include_synthetic": not sel.has_real_providers(db.session)},
              "terms": {key: default for key, (default, _lo, _hi) in LETTER_TERMS.items()}}
    errors: dict[str, str] = {}
    sources: dict[str, str] = {}
    general: list[str] = []
    if request.method == "POST":
        typed, settings = _settings_from_form(inst, countries)
        values = {"name": request.form.get("name", ""), "settings": typed,
                  "terms": {key: request.form.get(key, "").strip() for key in LETTER_TERMS}}
        try:
            rnd = sel.create_round(db.session, registry(), current_user, values["name"], settings, values["terms"])
        except Invalid as exc:
            db.session.rollback()
            problems = getattr(exc, "problems", None) or exc.details or [{"field": "", "message": exc.message}]
            for problem in problems:
                field = _form_field(problem.get("field") or "")
                if field == "name" and not problem.get("message"):
                    problem = {**problem, "msgid": exc.message}
                elif field.startswith("letter_") or field in LETTER_TERMS:
                    key = field.rpartition(".")[2]
                    low, high = LETTER_TERMS.get(key, (0, 0, 0))[1:]
                    problem = {**problem, "msgid": N_("Write a whole number from %(low)s to %(high)s."), "params": {"low": low, "high": high}}
                    field = key
                text = _problem_text(problem, exc.message)
                if field in errors:
                    errors[field] += " " + text
                else:
                    errors[field], sources[field] = text, problem.get("field") or ""
                if field not in _round_form_fields(inst, countries):
                    general.append(text)
        else:
            flash(_("The round was run."), "success")
            return redirect(url_for(".round_results", round_id=rnd.id))
    return render_template("rounds/new.html", instrument=inst, values=values, errors=errors, sources=sources, general=general,
                           term_limits=LETTER_TERMS, countries=countries,
                           real_countries=sel.round_countries(db.session, include_synthetic=False),
                           all_countries=sel.round_countries(db.session)), 422 if errors else 200


def _round_form_fields(inst, countries) -> set[str]:
    """The controls of the round form a problem can be shown at."""
    return ({"name", "default_quota", "threshold", "draws", "seed", "quotas", "weights", "rule", "countries", "include_synthetic",
             *LETTER_TERMS}
            | {f"weight_{c.id}" for c in inst.categories} | {f"min_{c.id}" for c in inst.categories}
            | {f"quota_{c}" for c in countries})


SORT_KEYS = {
    "rank": lambda r: (r["rank"] is None, r["rank"] or 0, r["code"]),
    "total": lambda r: (-float(r["total"] or 0), r["code"]),
    "code": lambda r: r["code"],
    "name": lambda r: ((r.get("name") or "").lower(), r["code"]),
    "frequency": lambda r: (-float(r["frequency"] or 0), r["code"]),
}

#: rows of the round's results per page (a country of the demo data fits on one page)
ROUND_PAGE_SIZE = 100

#: an override's rationale longer than this is not kept in the session cookie: the page is drawn at once
DRAFT_IN_SESSION = 1500


def _round_view(rnd, sort: str | None = None, country: str | None = None) -> tuple[str, str | None]:
    """The sort and country filter the round page is drawn with (the request's unless given): an unknown
    sort is the rank, an unknown country is every country."""
    sort = sort if sort is not None else request.args.get("sort", "rank")
    country = (country if country is not None else request.args.get("country") or "").strip().upper()[:2]
    countries = {r["country"] for r in rnd.results}
    return (sort if sort in SORT_KEYS else "rank"), (country if country in countries else None)


def _ordered_rows(rnd, sort: str, country: str | None) -> list[dict]:
    """The round's final results as the page lists them: country by country, each in the chosen order."""
    key = SORT_KEYS[sort]
    rows = [row for row in sel.final_results(rnd) if country is None or row["country"] == country]
    rows.sort(key=lambda r: (r["country"], key(r)))
    return rows


def _round_page_of(rnd, code: str, sort: str, country: str | None) -> int:
    """The page of the round's results that lists ``code`` (1 when it is not listed)."""
    codes = [row["code"] for row in _ordered_rows(rnd, sort, country)]
    return codes.index(code) // ROUND_PAGE_SIZE + 1 if code in codes else 1


def _round_url(rnd_id: int, sort: str, country: str | None, page: int = 1, **extra) -> str:
    """The round page's address; the defaults (rank order, every country, page 1) are left out."""
    return url_for(".round_results", round_id=rnd_id, sort=None if sort == "rank" else sort, country=country or None,
                   page=None if page == 1 else page, **extra)


def _number_formatter(lang: str):
    """The ``number`` helper of the templates, remembering what it formatted: a round page formats the
    same few scores thousands of times."""
    from babel.numbers import format_decimal as babel_decimal

    done: dict = {}

    def number(value, places: int = 2) -> str:
        key = (type(value), value, places) if isinstance(value, (str, int, Decimal)) or value is None else None
        if key is not None and key in done:
            return done[key]
        if value is None or value == "":
            shown = "—"
        else:
            if isinstance(value, Fraction):
                value = Decimal(value.numerator) / Decimal(value.denominator)
            decimal = Decimal(value) if isinstance(value, str) else value
            shown = babel_decimal(decimal, format="#,##0." + "0" * places if places else "#,##0", locale=lang)
        if key is not None:
            done[key] = shown
        return shown

    return number


def _round_page(rnd, draft: dict | None = None, status: int = 200, *, sort: str | None = None, country: str | None = None,
                page: int | None = None):
    """The round's results: a summary per country, then one page of rows (ROUND_PAGE_SIZE) country by
    country in the chosen order; the draft's row is on the page drawn when no page is asked for."""
    inst = sel.round_instrument(registry(), rnd)
    sort, country = _round_view(rnd, sort, country)
    lang = current_language()
    rows = _ordered_rows(rnd, sort, country)
    summary: dict[str, dict[str, int]] = {}
    for row in sel.final_results(rnd) if country is not None else rows:
        counts = summary.setdefault(row["country"], {"providers": 0, "eligible": 0, "selected": 0})
        counts["providers"] += 1
        counts["eligible"] += bool(row.get("eligible"))
        counts["selected"] += bool(row.get("selected"))
    pages = max(1, -(-len(rows) // ROUND_PAGE_SIZE))
    if page is None:
        page = min(max(1, query_int("page", 1, minimum=-MAX_ID)), MAX_PAGE)
        if draft and "page" not in request.args:
            page = _round_page_of(rnd, draft["code"], sort, country)
    page = min(page, pages)
    setup = docs.letter_setup()
    by_country: dict[str, list] = {}
    for row in rows[(page - 1) * ROUND_PAGE_SIZE:page * ROUND_PAGE_SIZE]:
        row["reasons"] = [exclusion_text(e, inst, lang) for e in row["exclusions"]]
        row["letter_lang"] = docs.letter_language(setup, row)
        by_country.setdefault(row["country"], []).append(row)
    return render_template("rounds/show.html", rnd=rnd, instrument=inst, by_country=by_country, summary=dict(sorted(summary.items())),
                           sort=sort, country=country, page=page, pages=pages, total=len(rows), page_size=ROUND_PAGE_SIZE,
                           page_url=lambda n: _round_url(rnd.id, sort, country, n),
                           view_url=lambda **kw: _round_url(rnd.id, **{"sort": sort, "country": country, **kw}),
                           form=VersionedForm(formdata=None, version=rnd.version), languages=LANGUAGES, number=_number_formatter(lang),
                           frozen=rnd.status == ROUND_FROZEN, terms=sel.letter_terms(rnd), draft=draft), status


@bp.get("/rounds/<int:round_id>")
@staff_only
def round_results(round_id: int):
    rnd = sel.get_round(db.session, current_user, round_id)
    draft = session.pop("override_draft", None)
    if not isinstance(draft, dict) or draft.get("round") != rnd.id:
        draft = None
    return _round_page(rnd, draft)


def _round_version() -> int | None:
    """The round's version the page showed; a form without one is refused like a stale one."""
    form = VersionedForm()
    if not form.validate():
        raise PreconditionFailed(N_("The form expired or was sent from elsewhere. Reload the page and try again."))
    return form.version.data


def _round_change(round_id: int, change, done_message):
    rnd = sel.get_round(db.session, current_user, round_id)
    try:
        change(rnd, _round_version())
    except (PreconditionFailed, Conflict, Invalid) as exc:
        db.session.rollback()
        flash(_(exc.message), "error")
        return rnd, exc
    flash(done_message(rnd), "success")
    return rnd, None


@bp.post("/rounds/<int:round_id>/rerun")
@staff_only
def rerun(round_id: int):
    """Open round: run again on the current registry. Frozen round: check that its stored results reproduce."""
    rnd, _error = _round_change(round_id, lambda rnd, v: sel.rerun(db.session, registry(), current_user, rnd, expected_version=v),
                                lambda rnd: _("The round was run again.") if rnd.status == "open"
                                else _("Re-running the frozen round gave the same results."))
    return redirect(url_for(".round_results", round_id=rnd.id))


@bp.route("/rounds/<int:round_id>/freeze", methods=["GET", "POST"])
@staff_only
def freeze(round_id: int):
    """GET: what freezing means, and the button that does it (the confirmation). POST: freeze, from the
    version the confirmation page showed; the version is checked again where the change commits."""
    if request.method == "GET":
        rnd = sel.get_round(db.session, current_user, round_id)
        if rnd.status == ROUND_FROZEN:
            flash(_("This round is already frozen."), "error")
            return redirect(url_for(".round_results", round_id=rnd.id))
        rows = sel.final_results(rnd)
        selected: dict[str, int] = {}
        for row in rows:
            if row["selected"]:
                selected[row["country"]] = selected.get(row["country"], 0) + 1
        return render_template("rounds/freeze.html", rnd=rnd, selected=dict(sorted(selected.items())),
                               overrides=len(rnd.overrides), form=VersionedForm(formdata=None, version=rnd.version))
    rnd, _error = _round_change(round_id, lambda rnd, v: sel.freeze(db.session, current_user, rnd, expected_version=v),
                                lambda rnd: _("The round is frozen: its inputs, seed and results are kept."))
    return redirect(url_for(".round_results", round_id=rnd.id))


@bp.post("/rounds/<int:round_id>/override/<code>")
@staff_only
def override(round_id: int, code: str):
    """Record an override. When it cannot be recorded (the round changed or was frozen meanwhile, no
    rationale) the round's page says why and keeps the decision and rationale typed."""
    choice = request.form.get("selected") or ""
    selected = {"1": True, "0": False, "": None}.get(choice, None)
    rationale = request.form.get("rationale", "")
    rnd, error = _round_change(round_id, lambda rnd, v: sel.set_override(db.session, current_user, rnd, code, selected,
                                                                         rationale, expected_version=v),
                               lambda rnd: _("The override was recorded."))
    if error is not None and rationale.strip() and code in {r["code"] for r in rnd.results}:
        draft = {"round": rnd.id, "code": code, "selected": choice if choice in ("1", "0") else "", "rationale": rationale}
        if len(rationale) > DRAFT_IN_SESSION:  # too long for the session cookie: this answer is the page
            return _round_page(db.session.get(type(rnd), rnd.id), draft,
                               409 if isinstance(error, (Conflict, PreconditionFailed)) else 422)
        session["override_draft"] = draft
    sort, country = _round_view(rnd)  # the order and country the page was drawn with (the form's address)
    return redirect(_round_url(rnd.id, sort, country, _round_page_of(rnd, code, sort, country)) + f"#p-{code}")


def _lang() -> str:
    lang = request.args.get("lang") or current_language()
    return lang if lang in LANGUAGES else "es"


@bp.get("/rounds/<int:round_id>/report.pdf")
@staff_only
def round_report(round_id: int):
    rnd = sel.get_round(db.session, current_user, round_id)
    path = docs.round_report(registry(), rnd, _lang(), current_app.config["REPORTS_DIR"])
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=os.path.basename(path))


@bp.get("/rounds/<int:round_id>/letters/<code>.pdf")
@staff_only
def letter(round_id: int, code: str):
    """A selected provider's letter, in its country's language (frozen rounds only: 409 with a message otherwise)."""
    rnd = sel.get_round(db.session, current_user, round_id)
    path = docs.commitment_letter(registry(), rnd, code, None, current_app.config["REPORTS_DIR"])
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=os.path.basename(path))


@bp.get("/rounds/<int:round_id>/documents.zip")
@staff_only
def documents_zip(round_id: int):
    rnd = sel.get_round(db.session, current_user, round_id)
    path = docs.round_documents_zip(registry(), rnd, _lang(), current_app.config["REPORTS_DIR"])
    return send_file(path, mimetype="application/zip", as_attachment=True, download_name=os.path.basename(path))
