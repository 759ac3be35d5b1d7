"""Long work as jobs: start one (a form on the page that needs it), watch its progress, fetch the result."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..extensions import db
from ..inputs import ascii_int
from ..jobs import submit
from ..models import JOB_DONE, JOB_FAILED
from ..services import jobs as svc

bp = Blueprint("jobs", __name__, url_prefix="/jobs")

#: seconds between reloads of a job page while the work goes on
REFRESH_SECONDS = 2


@bp.post("")
@login_required
def start():
    kind = request.form.get("kind", "")
    round_id = ascii_int(request.form.get("round_id", "").strip(), 1, 2**31 - 1)
    if kind not in svc.CHECKS or round_id is None:
        abort(400)
    job = svc.create_job(db.session, current_user, kind, {"round_id": round_id, "lang": request.form.get("lang", "")})
    submit(job.id)
    return redirect(url_for(".show", job_id=job.id), code=303)


@bp.get("/<int:job_id>")
@login_required
def show(job_id: int):
    job = svc.get_job(db.session, current_user, job_id)
    status = svc.effective_status(job)
    error = svc.error_message(job)
    finished = status in (JOB_DONE, JOB_FAILED)
    back = url_for("providers.round_results", round_id=job.params["round_id"]) if "round_id" in job.params else url_for("main.index")
    return render_template("jobs/show.html", job=job, status=status, error=_(error) if error else None, finished=finished,
                           refresh=None if finished else REFRESH_SECONDS, back=back)


@bp.get("/<int:job_id>/result")
@login_required
def result(job_id: int):
    job = svc.get_job(db.session, current_user, job_id)
    path = svc.result_file(job, current_app.config["REPORTS_DIR"])
    mimetype = "application/zip" if path.suffix == ".zip" else "application/pdf"
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=job.result_name or path.name)
