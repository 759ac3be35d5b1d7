"""Reviewers: queue, review page (validated levels, validate or return), audit log."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_login import current_user

from ..extensions import db
from ..services import N_, Conflict, Invalid, PreconditionFailed
from ..services import review as svc
from ..services.assessments import rubric_for
from ..i18n import current_language
from ..inputs import ascii_int
from ..models import DRAFT, SUBMITTED, VALIDATED
from . import registry, role_required
from .countries import country_choices
from .hardening import query_int
from .forms import VersionedForm

bp = Blueprint("review", __name__, url_prefix="/review")
reviewers_only = role_required(*svc.REVIEWER_ROLES)


#: the queue's statuses as the reviewer reads them
QUEUE_STATUS_LABELS = {SUBMITTED: _l("To review"), VALIDATED: _l("Validated"), svc.RETURNED: _l("Returned to the institution")}
#: rows per page of the review queue
QUEUE_PAGE_SIZE = 50


@bp.get("")
@reviewers_only
def queue():
    from sqlalchemy import select

    from ..models import Institution

    country = (request.args.get("country") or "").strip().upper()[:2] or None
    status = request.args.get("status") if request.args.get("status") in svc.QUEUE_STATUSES else None
    round_number = query_int("round")
    search = (request.args.get("q") or "").strip()[:200]
    filters = {"country": country, "status": status, "round_number": round_number, "search": search or None}
    total = svc.count_review_queue(db.session, current_user, **filters)
    pages = max(1, -(-total // QUEUE_PAGE_SIZE))
    page = min(query_int("page", 1, maximum=100000), pages)
    rows = svc.review_queue_rows(db.session, current_user, **filters, limit=QUEUE_PAGE_SIZE, offset=(page - 1) * QUEUE_PAGE_SIZE)
    lang = current_language()
    codes = set(db.session.scalars(select(Institution.country).distinct()))
    countries = [(code, name) for code, name in country_choices(lang) if code in codes]
    countries += [(code, code) for code in sorted(codes - {c for c, _n in countries})]
    return render_template("review/queue.html", rows=rows, country=country, status=status, round_number=round_number,
                           search=search, countries=countries, status_labels=QUEUE_STATUS_LABELS,
                           filtered=bool(country or status or round_number or search), total=total, page=page, pages=pages,
                           per_page=QUEUE_PAGE_SIZE,
                           args={k: v for k, v in (("q", search), ("country", country), ("status", status), ("round", round_number)) if v})


def _entries_from_form(assessment) -> list[svc.ReviewEntry]:
    entries = []
    for row in assessment.answers:
        if row.level is None and not row.not_applicable:
            continue
        level = ascii_int(request.form.get(f"level_{row.criterion_id}", ""), max_digits=2)
        entries.append(svc.ReviewEntry(row.criterion_id, level, request.form.get(f"comment_{row.criterion_id}", "")))
    return entries


@bp.route("/<int:assessment_id>", methods=["GET", "POST"])
@reviewers_only
def review(assessment_id: int):
    assessment = svc.get_for_review(db.session, current_user, assessment_id)
    rubric = rubric_for(registry(), assessment)
    errors: dict[str, str] = {}
    others: dict[str, dict] = {}
    status = 200
    form = VersionedForm(formdata=None, version=assessment.version)
    if request.method == "POST":
        form = VersionedForm()
        action = request.form.get("action", "save")
        try:
            if not form.validate():
                raise Invalid(N_("The form expired or was sent from elsewhere. Reload the page and try again."))
            version = form.version.data
            if action == "return":
                svc.return_to_institution(db.session, current_user, assessment.id, request.form.get("return_comment", ""),
                                          expected_version=version)
                flash(_("The assessment was returned to the institution as a draft."), "success")
                return redirect(url_for(".queue"))
            svc.save_review(db.session, registry(), current_user, assessment.id, _entries_from_form(assessment),
                            expected_version=version, then_validate=action == "validate",
                            validate_comment=request.form.get("validate_comment", ""))
            if action == "validate":
                flash(_("The assessment is validated."), "success")
                return redirect(url_for(".queue"))
            flash(_("The review was saved."), "success")
            return redirect(url_for(".review", assessment_id=assessment.id))
        except Conflict as exc:
            db.session.rollback()
            flash(_(exc.message), "error")
            return redirect(url_for(".review", assessment_id=assessment.id))
        except PreconditionFailed:
            db.session.rollback()
            assessment = svc.get_for_review(db.session, current_user, assessment_id)
            for row in assessment.answers:
                mine = ascii_int(request.form.get(f"level_{row.criterion_id}", ""), max_digits=1)
                if (row.validated_level, row.review_comment) != (mine, request.form.get(f"comment_{row.criterion_id}", "").strip()):
                    others[row.criterion_id] = {"level": row.validated_level, "comment": row.review_comment}
            errors[""] = _("Another reviewer saved this review after you opened it. Their levels are shown at each criterion; "
                           "the form still holds yours. Saving again replaces theirs.")
            form = VersionedForm(formdata=None, version=assessment.version)
            status = 409
        except Invalid as exc:
            db.session.rollback()
            assessment = svc.get_for_review(db.session, current_user, assessment_id)
            messages = {"comment": _("A comment is required where the validated level differs from the self-assessed one."),
                        "level": _("Choose a validated level from 1 to 5.")}
            errors = {d.get("criterion", ""): messages.get(d.get("field"), _("This answer is not valid.")) for d in exc.details}
            if not exc.details or "" in errors:
                errors[""] = _(exc.message)
            status = 422
    rows = {row.criterion_id: row for row in assessment.answers}
    country = assessment.institution.country if assessment.institution is not None else None
    notes = {crit.id: rubric.country_note(country, crit.id) for crit in rubric.criteria}
    return render_template("review/review.html", assessment=assessment, rubric=rubric, rows=rows, errors=errors, form=form,
                           others=others, notes=notes, country=country, lang=request.args.get("lang") or assessment.language,
                           posted=request.form if status in (409, 422) else None), status


#: the audit log's "kind" filter, as the reader reads it (services.review.AUDIT_KINDS)
AUDIT_KIND_LABELS = {
    "answers": _l("Levels changed by the institution"),
    "validated_levels": _l("Validated levels set by a reviewer"),
    "submitted": _l("Submissions"),
    "validated": _l("Validations"),
    "returned": _l("Returns to the institution"),
    "discarded": _l("Discarded drafts"),
    "rounds": _l("Selection rounds"),
    "providers": _l("Providers"),
    "accounts": _l("Accounts and institutions"),
}
#: what changed (AuditEntry.field), in words
AUDIT_FIELD_LABELS = {
    "level": _l("Self-assessed level"),
    "validated_level": _l("Validated level"),
    "status": lazy_pgettext("audit log", "Status"),
    "selection": _l("Selection"),
    "archived": _l("Archived"),
    "role": _l("Role"),
    "institution": _l("Institution"),
    "active": _l("Account active"),
    "api_tokens": _l("API tokens"),
    "email": _l("E-mail"),
    "password": _l("Password"),
    "invitation": _l("Invitation"),
    "name": _l("Institution name"),
    "city": _l("City"),
    "country": _l("Country"),
    "type": _l("Type of institution"),
    "sector": _l("Public or private"),
}
#: status changes (old, new) as one word for what happened
AUDIT_STATUS_CHANGES = {
    (DRAFT, SUBMITTED): _l("Submitted"),
    (SUBMITTED, VALIDATED): _l("Validated"),
    (SUBMITTED, DRAFT): _l("Returned to the institution"),
    (DRAFT, "discarded"): _l("Draft discarded"),
    ("open", "frozen"): _l("Round frozen"),
}
#: stored values that are codes, in words
AUDIT_VALUE_LABELS = {
    DRAFT: _l("Draft"), SUBMITTED: _l("Submitted"), VALIDATED: _l("Validated"), "discarded": _l("Discarded"),
    "n/a": _l("Not applicable"), "yes": _l("Yes"), "no": _l("No"), "true": _l("Yes"), "false": _l("No"),
    "changed": _l("Changed"), "reset": _l("Reset"), "confirmed": _l("Confirmed"), "revoked": _l("Revoked"),
    "open": _l("Open"), "frozen": _l("Frozen"), "selected": _l("Selected"), "not selected": _l("Not selected"),
    "member": _l("Institution member"), "reviewer": _l("Reviewer"), "staff": _l("Project staff"), "admin": _l("Administrator"),
}


def _rubric(instrument_id: str | None, version: str | None):
    reg = registry()
    if instrument_id and version:
        found = reg.get(instrument_id, version)
        if found is not None:
            return found
    rubrics = reg.rubrics()
    return rubrics[-1] if rubrics else None


def _criterion_title(criterion_id: str | None, rubric, lang: str) -> str | None:
    if not criterion_id:
        return None
    candidates = [rubric] if rubric is not None else []
    candidates += list(reversed(registry().rubrics()))
    for candidate in candidates:
        if candidate is not None and candidate.has_criterion(criterion_id):
            crit = candidate.criterion(criterion_id)
            return _("%(dimension)s: %(criterion)s", dimension=candidate.dimension(crit.dimension_id).name(lang),
                     criterion=crit.title(lang))
    return _("A criterion no longer in the instrument")


def _value(entry, value: str | None, rubric, lang: str) -> str:
    if value is None or value == "":
        return "—"
    if entry.field in ("level", "validated_level") and value.isdigit() and rubric is not None:
        try:
            return _("%(level)s · %(name)s", level=value, name=rubric.level_name(int(value), lang))
        except KeyError:
            return value
    if entry.field == "country" and len(value) == 2:
        from ..i18n import country_name

        return country_name(value.upper(), lang)
    if entry.field == "type":
        from .forms import INSTITUTION_TYPE_LABELS

        return str(INSTITUTION_TYPE_LABELS.get(value, value))
    if entry.field == "sector":
        from .forms import SECTOR_LABELS

        return str(SECTOR_LABELS.get(value, value))
    label = AUDIT_VALUE_LABELS.get(value)
    return str(label) if label is not None else value


def _about(entry, institution: str | None) -> str:
    if institution:
        return institution
    subject = entry.subject or ""
    if subject.startswith("round:"):
        parts = dict(p.split(":", 1) for p in subject.split() if ":" in p)
        if "provider" in parts:
            return _("Round %(round)s, provider %(provider)s", round=parts.get("round", "?"), provider=parts["provider"])
        return _("Round %(round)s", round=parts.get("round", "?"))
    if subject.startswith("provider:"):
        return _("Provider %(code)s", code=subject.split(":", 1)[1])
    if subject.startswith("user:"):
        return _("Account %(id)s", id=subject.split(":", 1)[1])
    if subject.startswith("institution:"):
        return _("Institution %(id)s", id=subject.split(":", 1)[1])
    if subject.startswith("assessment:"):
        return _("A discarded draft")
    return "—"


def audit_row(entry, email, institution, instrument_id, instrument_version, lang: str) -> dict:
    """One audit entry in words: no criterion ids, field names or status codes."""
    rubric = _rubric(instrument_id, instrument_version) if entry.criterion_id or entry.field in ("level", "validated_level") else None
    change = AUDIT_STATUS_CHANGES.get((entry.old, entry.new)) if entry.field == "status" else None
    return {
        "at": entry.at, "who": email or "—", "about": _about(entry, institution),
        "criterion": _criterion_title(entry.criterion_id, rubric, lang),
        "what": str(change) if change is not None else str(AUDIT_FIELD_LABELS.get(entry.field, entry.field)),
        "old": "—" if change is not None else _value(entry, entry.old, rubric, lang),
        "new": "—" if change is not None else _value(entry, entry.new, rubric, lang),
        "status_change": change is not None,
        "comment": entry.comment or "",
        "assessment_id": entry.assessment_id,
    }


@bp.get("/audit")
@reviewers_only
def audit():
    assessment_id = query_int("assessment")
    page_number = query_int("page", 1, maximum=100000)
    kinds = svc.audit_kinds(current_user)
    kind = request.args.get("kind") if request.args.get("kind") in kinds else ""
    search = (request.args.get("q") or "").strip()[:200]
    result = svc.audit_page(db.session, current_user, assessment_id=assessment_id, kind=kind or None, search=search or None,
                            page=page_number)
    lang = current_language()
    rows = [audit_row(*row, lang=lang) for row in result.rows]
    filters = {k: v for k, v in {"assessment": assessment_id, "kind": kind, "q": search}.items() if v}
    return render_template("review/audit.html", rows=rows, result=result, assessment_id=assessment_id, kind=kind, search=search,
                           kinds=[(k, AUDIT_KIND_LABELS[k]) for k in kinds], filters=filters)


@bp.get("/audit.csv")
@reviewers_only
def audit_csv():
    rows = svc.audit_entries(db.session, current_user, assessment_id=query_int("assessment"), limit=None)
    return current_app.response_class(svc.audit_csv(rows), mimetype="text/csv",
                                      headers={"Content-Disposition": "attachment; filename=audit-log.csv"})
