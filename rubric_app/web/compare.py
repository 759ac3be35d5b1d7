"""Comparison across institutions and countries (reviewers, staff, admins)."""
from __future__ import annotations

import os

from flask import Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from ..domain.comparison import MixedVersions
from ..extensions import app_cache, db
from ..i18n import current_language
from ..services import N_, Invalid
from .forms import INSTITUTION_TYPE_LABELS
from ..reporting.charts import wide_svg
from ..reporting.comparison_pdf import chart_drawings
from ..jobs import submit
from ..services import comparison as svc
from ..services import jobs as jobs_svc
from ..services import reports
from . import registry, role_required
from .countries import resolve_country

bp = Blueprint("compare", __name__, url_prefix="/compare")
compare_roles = role_required(*svc.COMPARE_ROLES)


def _with_institutions() -> bool:
    return jobs_svc.shows_institution_rows(current_user)


def export_job_threshold() -> int:
    """Institutions compared above which the CSV and XLSX exports are prepared as a job (``EXPORT_JOB_THRESHOLD``)."""
    value = current_app.config.get("EXPORT_JOB_THRESHOLD")
    return jobs_svc.EXPORT_JOB_THRESHOLD if value in (None, "") else int(value)


def _export_as_job(result: svc.Comparison | None) -> bool:
    return result is not None and result.institutions > export_job_threshold()


def _min_cell() -> int | None:
    """The configured cell threshold (``COMPARISON_MIN_CELL``); the domain never applies less than 5."""
    value = current_app.config.get("COMPARISON_MIN_CELL")
    return int(value) if value not in (None, "") else None


def charts(result: svc.Comparison, lang: str) -> dict:
    """SVG charts for the page (the PDF draws the same drawings), kept in the app's cache next to
    the cached result (shared between servers when the cache is)."""
    if lang not in result.rendered:
        key = f"{result.cache_key}:charts:{lang}" if result.cache_key else None
        drawn = app_cache().get(key) if key else None
        if drawn is None:
            drawn = {name: wide_svg(drawing, title) for name, (drawing, title) in chart_drawings(result, lang).items()}
            if key:
                app_cache().set(key, drawn)
        result.rendered[lang] = drawn
    return result.rendered[lang]


#: the comparison filters' problems, in the page's language (services.comparison gives them in English)
FILTER_MESSAGES = {
    "countries": _l("Choose countries from the list."),
    "round": _l("Enter the round as a whole number, e.g. 2."),
    "date_from": _l("Enter a date like 2026-01-31."),
    "date_to": _l("Enter a date like 2026-01-31."),
    "basis": _l("Choose self-assessed or validated levels."),
    "version": _l("Choose an instrument version from the list."),
    "instrument": _l("Choose an instrument version from the list."),
}


def country_args(args) -> tuple[MultiDict, list[str]]:
    """The query with every chosen country as an ISO code: the picker sends codes (repeated
    ``country``), a typed ``countries=Colombia, peru`` is resolved by name in es, en or pt.
    Returns the rewritten query and the entries that name no country."""
    typed = [v.strip() for name in ("countries", "country") for raw in args.getlist(name) for v in str(raw).split(",")]
    codes, unknown = [], []
    for value in (v for v in typed if v):
        code = resolve_country(value)
        if code:
            codes.append(code)
        else:
            unknown.append(value)
    rewritten = MultiDict([(k, v) for k, v in args.items(multi=True) if k not in ("countries", "country")])
    for code in dict.fromkeys(codes):
        rewritten.add("country", code)
    return rewritten, unknown


def instrument_label(rubric, lang: str) -> str:
    """"Title, version 1.0" for lists and selects (never the instrument's id)."""
    return _("%(title)s, version %(version)s", title=rubric.title(lang), version=rubric.version)


def _page(result, errors: dict, args, status: int = 200):
    lang = current_language()
    chosen = list(result.filters.countries) if result else list(args.getlist("country"))
    return render_template("compare/page.html", result=result, rubrics=registry().rubrics(), args=args,
                           type_labels=INSTITUTION_TYPE_LABELS, errors=errors, chosen_countries=chosen,
                           instrument_label=instrument_label, lang=lang, with_institutions=_with_institutions(),
                           charts=charts(result, lang) if result else {}, query=result.filters.as_query() if result else {},
                           notice=svc.INSTITUTION_LEVEL_NOTICE, export_job=_export_as_job(result)), status


@bp.get("")
@compare_roles
def page():
    rubrics = registry().rubrics()
    args, unknown = country_args(request.args)
    errors: dict[str, str] = {}
    if unknown:
        errors["countries"] = _("No country is called “%(names)s”. Choose countries from the list.",
                                names=", ".join(unknown[:5]))
    try:
        filters = svc.parse_filters(args)
    except Invalid as exc:
        for problem in exc.details:
            field = problem.get("field") or ""
            errors.setdefault(field, str(FILTER_MESSAGES.get(field, _("Check this filter."))))
        return _page(None, errors, args, 422)
    if not filters.instrument and rubrics:
        filters = svc.Filters(**{**filters.__dict__, "instrument": rubrics[-1].id,
                                 "versions": filters.versions or (registry().latest(rubrics[-1].id).version,)})
    try:
        result = svc.compare(db.session, registry(), current_user, filters, with_institutions=_with_institutions(),
                             min_cell=_min_cell())
    except MixedVersions as exc:
        flash(mixed_message(exc), "error")
        return _page(None, errors, args, 422)
    except Invalid as exc:
        field = next((p.get("field") for p in exc.details if p.get("field")), "version")
        errors.setdefault(field, str(FILTER_MESSAGES.get(field, _("Check this filter."))))
        return _page(None, errors, args, 422)
    return _page(result, errors, args)


def mixed_message(exc: MixedVersions) -> str:
    """The refusal to mix instrument versions, in the page's language, versions named by title."""
    lang = current_language()
    names = []
    for rid, version in exc.versions:
        rubric = registry().get(rid, version)
        names.append(instrument_label(rubric, lang) if rubric is not None else version)
    return _("Assessments answered on different instrument versions cannot be compared (%(versions)s). Choose one version.",
             versions="; ".join(names))


def _mixed(exc: MixedVersions):
    return render_template("error.html", status=422, message=mixed_message(exc)), 422


@bp.get("/export.<fmt>")
@compare_roles
def export(fmt: str):
    filters = svc.parse_filters(country_args(request.args)[0])
    try:
        result = svc.compare(db.session, registry(), current_user, filters, with_institutions=_with_institutions(),
                             min_cell=_min_cell())
    except MixedVersions as exc:
        return _mixed(exc)
    builders = {"csv": (svc.comparison_csv, "text/csv"), "json": (svc.comparison_json_bytes, "application/json"),
                "xlsx": (svc.comparison_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    if fmt not in builders:
        return render_template("error.html", status=404, message=None), 404
    if fmt in jobs_svc.EXPORT_FORMATS and _export_as_job(result):  # too large for the request: offer a job (started by POST)
        return render_template("jobs/start_export.html", fmt=fmt, query=jobs_svc.export_filters(filters), institutions=result.institutions)
    build, mime = builders[fmt]
    return current_app.response_class(build(result, with_institutions=_with_institutions()), mimetype=mime,
                                      headers={"Content-Disposition": f"attachment; filename=comparison.{fmt}"})


@bp.post("/export.<fmt>")
@compare_roles
def export_job(fmt: str):
    """Prepare the CSV or XLSX export of the filters sent (the page's query, as form fields) as a job,
    and show its page."""
    if fmt not in jobs_svc.EXPORT_FORMATS:
        return render_template("error.html", status=404, message=None), 404
    args, unknown = country_args(request.form)
    if unknown:  # a job for other countries than asked would look right and be wrong
        raise Invalid(N_("The comparison filters are not valid."), [{"field": "countries"}])
    filters = svc.parse_filters(args)
    job = jobs_svc.create_job(db.session, current_user, jobs_svc.EXPORT_KIND,
                              {"format": fmt, "filters": jobs_svc.export_filters(filters), "min_cell": _min_cell()})
    submit(job.id)
    return redirect(url_for("jobs.show", job_id=job.id), code=303)


@bp.get("/report.pdf")
@compare_roles
def report():
    filters = svc.parse_filters(country_args(request.args)[0])
    try:
        result = svc.compare(db.session, registry(), current_user, filters, min_cell=_min_cell())
    except MixedVersions as exc:
        return _mixed(exc)
    lang = request.args.get("lang") or current_language()
    path = reports.comparison_report(result, lang if lang in ("es", "en", "pt") else "es", current_app.config["REPORTS_DIR"])
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=os.path.basename(path))
