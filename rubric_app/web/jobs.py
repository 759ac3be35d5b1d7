"""Long work as jobs: start one (a form on the page that needs it), watch its progress, fetch the result."""
from __future__ import annotations

from types import SimpleNamespace

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, url_for
from flask_babel import format_decimal, format_percent
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from ..extensions import db
from ..inputs import ascii_int
from ..jobs import submit
from ..models import JOB_DONE, JOB_FAILED
from ..services import jobs as svc
from ..services import provider_io

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

#: seconds between reloads of a job page while the work goes on
REFRESH_SECONDS = 2

#: the job page's heading by kind
HEADINGS = {
    "round_documents": _l("Round documents (zip)"),
    "round_report": _l("Selection report"),
    svc.EXPORT_KIND: _l("Comparison export"),
    svc.IMPORT_CHECK_KIND: _l("Checking a provider file"),
    svc.IMPORT_KIND: _l("Importing providers"),
}


@bp.post("")
@login_required
def start():
    kind = request.form.get("kind", "")
    round_id = ascii_int(request.form.get("round_id", "").strip(), 1, 2**31 - 1)
    if kind not in svc.ROUND_KINDS or round_id is None:
        abort(400)
    job = svc.create_job(db.session, current_user, kind, {"round_id": round_id, "lang": request.form.get("lang", "")})
    submit(job.id)
    return redirect(url_for(".show", job_id=job.id), code=303)


def _progress_texts(job) -> tuple[str, str]:
    """The progress as shown now, and as jobs.js fills it in ({done}, {total}, {percent})."""
    if job.kind in svc.ROUND_KINDS:
        return (_("%(done)s of %(total)s documents prepared", done=format_decimal(job.done, format="#,##0"),
                  total=format_decimal(job.total, format="#,##0")),
                _("%(done)s of %(total)s documents prepared", done="{done}", total="{total}"))
    share = min(job.done / job.total, 1) if job.total else 0
    return _("%(percent)s done", percent=format_percent(share)), _("%(percent)s done", percent="{percent}")


def _back(job) -> tuple[str, str]:
    """Where the work was asked for: the link back, and its text."""
    params = job.params or {}
    if job.kind == svc.EXPORT_KIND:
        return url_for("compare.page", **params.get("filters", {})), _("Back to the comparison")
    if job.kind in svc.IMPORT_KINDS:
        return url_for("providers.import_page"), _("Back to the provider import")
    if "round_id" in params:
        return url_for("providers.round_results", round_id=params["round_id"]), _("Back to the round")
    return url_for("main.index"), _("Back to the start page")


def _import_result(job, summary: dict):
    """A finished check or import, shown as the import page shows it when it runs in the request."""
    problems = [SimpleNamespace(**{"msgid": "", "params": {}, **p}) for p in summary.get("problems", [])]
    filename = summary.get("filename", "")
    if problems:
        return render_template("providers/import.html", plan=None, problems=problems, filename=filename, job=job)
    names = summary.get("created_names", [])
    plan = SimpleNamespace(
        creates=[SimpleNamespace(code=code, name=names[i] if i < len(names) else "") for i, code in enumerate(summary.get("created", []))],
        updates=[(SimpleNamespace(code=u["code"]), {field: (pair["old"], pair["new"]) for field, pair in u["changes"].items()})
                 for u in summary.get("updated", [])],
        unchanged=summary.get("unchanged", []))
    if job.kind == svc.IMPORT_CHECK_KIND:
        upload = provider_io.pending_upload_by_id(db.session, current_user, (job.params or {}).get("upload_id"))
        return render_template("providers/import.html", plan=plan, problems=None, filename=filename, dry_run=True, job=job,
                               token=upload.token if upload is not None and upload.stamp == summary.get("stamp") else None)
    back, back_text = _back(job)
    return render_template("jobs/show.html", job=job, status=JOB_DONE, error=None, finished=True, refresh=None, heading=HEADINGS[job.kind],
                           title=HEADINGS[job.kind], imported=plan, back=back, back_text=back_text)


@bp.get("/<int:job_id>")
@login_required
def show(job_id: int):
    job = svc.get_job(db.session, current_user, job_id)
    status = svc.effective_status(job)
    if job.kind in svc.IMPORT_KINDS and status == JOB_DONE:
        summary = svc.import_summary(job, current_app.config["REPORTS_DIR"])
        if summary is not None:
            return _import_result(job, summary)
    error = svc.error_message(job)
    finished = status in (JOB_DONE, JOB_FAILED)
    back, back_text = _back(job)
    progress_text, progress_template = _progress_texts(job)
    heading = HEADINGS.get(job.kind, _l("Preparing documents"))
    if job.kind == svc.EXPORT_KIND:
        heading = f"{heading} ({(job.params or {}).get('format', '').upper()})"
    return render_template("jobs/show.html", job=job, status=status, error=_(error) if error else None, finished=finished,
                           refresh=None if finished else REFRESH_SECONDS, back=back, back_text=back_text, heading=heading,
                           title=_("Preparing documents") if job.kind in svc.ROUND_KINDS else heading,
                           progress_text=progress_text, progress_template=progress_template, imported=None)


@bp.get("/<int:job_id>/result")
@login_required
def result(job_id: int):
    job = svc.get_job(db.session, current_user, job_id)
    path = svc.result_file(job, current_app.config["REPORTS_DIR"])
    return send_file(path, mimetype=svc.result_mimetype(path), as_attachment=True, download_name=job.result_name or path.name)
