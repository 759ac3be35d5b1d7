"""Comparison across institutions and countries (reviewers, staff, admins)."""
from __future__ import annotations

import os

from flask import Blueprint, current_app, flash, render_template, request, send_file
from flask_login import current_user

from ..domain.comparison import MixedVersions
from ..extensions import db
from ..i18n import current_language
from ..models import INSTITUTION_TYPES
from ..reporting.charts import to_svg
from ..reporting.comparison_pdf import chart_drawings
from ..services import comparison as svc
from ..services import reports
from . import registry, role_required

bp = Blueprint("compare", __name__, url_prefix="/compare")
compare_roles = role_required(*svc.COMPARE_ROLES)


def _with_institutions() -> bool:
    return current_user.role in ("reviewer", "admin")


def _min_cell() -> int | None:
    """The configured cell threshold (``COMPARISON_MIN_CELL``); the domain never applies less than 5."""
    value = current_app.config.get("COMPARISON_MIN_CELL")
    return int(value) if value not in (None, "") else None


def charts(result: svc.Comparison, lang: str) -> dict:
    """SVG charts for the page (the PDF draws the same drawings), kept with the cached result."""
    if lang not in result.rendered:
        result.rendered[lang] = {key: to_svg(drawing, title) for key, (drawing, title) in chart_drawings(result, lang).items()}
    return result.rendered[lang]


@bp.get("")
@compare_roles
def page():
    lang = current_language()
    rubrics = registry().rubrics()
    try:
        filters = svc.parse_filters(request.args)
        if not filters.instrument and rubrics:
            filters = svc.Filters(**{**filters.__dict__, "instrument": rubrics[-1].id,
                                     "versions": filters.versions or (registry().latest(rubrics[-1].id).version,)})
        result = svc.compare(db.session, registry(), current_user, filters, with_institutions=_with_institutions(),
                             min_cell=_min_cell())
    except MixedVersions as exc:
        flash(str(exc), "error")
        return render_template("compare/page.html", result=None, rubrics=rubrics, args=request.args, types=INSTITUTION_TYPES), 422
    return render_template("compare/page.html", result=result, rubrics=rubrics, args=request.args, types=INSTITUTION_TYPES,
                           charts=charts(result, lang), lang=lang, with_institutions=_with_institutions(),
                           query=result.filters.as_query(), notice=svc.INSTITUTION_LEVEL_NOTICE)


def _mixed(exc: MixedVersions):
    return render_template("error.html", status=422, message=str(exc)), 422


@bp.get("/export.<fmt>")
@compare_roles
def export(fmt: str):
    filters = svc.parse_filters(request.args)
    try:
        result = svc.compare(db.session, registry(), current_user, filters, with_institutions=_with_institutions(),
                             min_cell=_min_cell())
    except MixedVersions as exc:
        return _mixed(exc)
    builders = {"csv": (svc.comparison_csv, "text/csv"), "json": (svc.comparison_json_bytes, "application/json"),
                "xlsx": (svc.comparison_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}
    if fmt not in builders:
        return render_template("error.html", status=404, message=None), 404
    build, mime = builders[fmt]
    return current_app.response_class(build(result, with_institutions=_with_institutions()), mimetype=mime,
                                      headers={"Content-Disposition": f"attachment; filename=comparison.{fmt}"})


@bp.get("/report.pdf")
@compare_roles
def report():
    filters = svc.parse_filters(request.args)
    try:
        result = svc.compare(db.session, registry(), current_user, filters, min_cell=_min_cell())
    except MixedVersions as exc:
        return _mixed(exc)
    lang = request.args.get("lang") or current_language()
    path = reports.comparison_report(result, lang if lang in ("es", "en", "pt") else "es", current_app.config["REPORTS_DIR"])
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=os.path.basename(path))
