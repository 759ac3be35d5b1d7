"""Jobs: long work run outside the request, its progress and its result.

A job is a row (``jobs``): what to do (``kind`` and ``params``, checked before the row is written),
who asked (only that person sees it), how far it got (``done`` of ``total``) and the file it made
(under REPORTS_DIR, which every app server shares). :mod:`rubric_app.jobs` runs them: a worker
thread in the app process by default, RQ workers on any machine when ``REDIS_URL`` is set.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..domain.instruments import Registry
from ..i18n import LANGUAGES
from ..models import JOB_DONE, JOB_FAILED, JOB_QUEUED, JOB_RUNNING, Job, SelectionRound, User, utcnow
from . import N_, Conflict, Invalid, NotFound, ServiceError
from . import documents
from . import selection as sel

#: a job still "running" with no progress for this long was cut off (its process ended): shown as failed
STALE_AFTER = timedelta(minutes=15)
#: how many unfinished jobs one person may have at a time
MAX_OPEN_PER_USER = 5


def _round_params(session: Session, user: User, params: dict) -> dict:
    round_id, lang = params.get("round_id"), params.get("lang", "es")
    if isinstance(round_id, bool) or not isinstance(round_id, int) or not 0 < round_id < 2**31:
        raise Invalid(N_("Choose a selection round."), [{"field": "round_id"}])
    if lang not in LANGUAGES:
        raise Invalid(N_("Choose a language."), [{"field": "lang"}])
    rnd = sel.get_round(session, user, round_id)  # staff only; another id is not found
    return {"round_id": rnd.id, "lang": lang}


def _check_round_documents(session: Session, user: User, params: dict) -> dict:
    checked = _round_params(session, user, params)
    documents.require_frozen(session.get(SelectionRound, checked["round_id"]))
    return checked


#: kind -> checks its params (raising a ServiceError for the person), as stored
CHECKS: dict[str, Callable[[Session, User, dict], dict]] = {
    "round_documents": _check_round_documents,
    "round_report": _round_params,
}


def create_job(session: Session, user: User, kind: str, params: dict) -> Job:
    """Check what the job needs now (so a refusal reaches the person at once, not in the job) and store it queued."""
    if kind not in CHECKS:
        raise NotFound(N_("Unknown kind of job."))
    checked = CHECKS[kind](session, user, params)
    open_jobs = session.scalar(select(Job.id).where(Job.user_id == user.id, Job.status.in_((JOB_QUEUED, JOB_RUNNING)))
                               .order_by(Job.id).offset(MAX_OPEN_PER_USER - 1).limit(1))
    if open_jobs is not None:
        raise Conflict(N_("You already have several documents being prepared: wait for one of them to finish."))
    job = Job(kind=kind, params=checked, user_id=user.id, status=JOB_QUEUED, done=0, total=0)
    session.add(job)
    session.commit()
    return job


def get_job(session: Session, user: User, job_id: int) -> Job:
    """One of the user's own jobs; anyone else's (or none) is not found."""
    job = session.get(Job, job_id) if 0 < job_id < 2**31 else None
    if job is None or job.user_id != user.id:
        raise NotFound(N_("This job does not exist or is not yours."))
    return job


def effective_status(job: Job) -> str:
    """The job's status, a job cut off while running (no progress for STALE_AFTER) counted as failed."""
    if job.status in (JOB_QUEUED, JOB_RUNNING):
        updated = job.updated_at if job.updated_at.tzinfo else job.updated_at.replace(tzinfo=utcnow().tzinfo)
        if utcnow() - updated > STALE_AFTER:
            return JOB_FAILED
    return job.status


def error_message(job: Job) -> str | None:
    if effective_status(job) != JOB_FAILED:
        return None
    return job.error or N_("The work was interrupted (the server restarted). Start it again.")


def result_file(job: Job, reports_dir: str | os.PathLike) -> Path:
    if effective_status(job) != JOB_DONE or not job.result_path:
        raise Conflict(N_("This document is not ready yet."))
    path = Path(reports_dir) / job.result_path
    if not path.is_file():
        raise NotFound(N_("This document is no longer kept: start it again."))
    return path


# --------------------------------------------------------------------------- running (called by rubric_app.jobs)


def _set(session: Session, job_id: int, **values) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(updated_at=utcnow(), **values))
    session.commit()


def run(session: Session, registry: Registry, job_id: int, reports_dir: str | os.PathLike) -> None:
    """Do one queued job: mark it running, report progress, store the result or the reason it failed.

    A job taken by another worker (no longer queued) is left alone, so a job runs once even when
    two workers see it.
    """
    claimed = session.execute(update(Job).where(Job.id == job_id, Job.status == JOB_QUEUED)
                              .values(status=JOB_RUNNING, updated_at=utcnow()))
    session.commit()
    if claimed.rowcount != 1:
        return
    job = session.get(Job, job_id)
    kind, params = job.kind, dict(job.params)
    folder = Path(reports_dir)

    def progress(done: int, total: int) -> None:
        _set(session, job_id, done=done, total=total)

    try:
        user = session.get(User, job.user_id)
        rnd = sel.get_round(session, user, params["round_id"])
        lang = params["lang"]
        if kind == "round_documents":
            path = documents.round_documents_zip(registry, rnd, lang, folder, progress=progress)
            name = f"round-{rnd.id}-documents-{lang}.zip"
        else:
            progress(0, 1)
            path = documents.round_report(registry, rnd, lang, folder)
            progress(1, 1)
            name = f"round-{rnd.id}-{lang}.pdf"
        _set(session, job_id, status=JOB_DONE, result_path=str(Path(path).resolve().relative_to(folder.resolve())),
             result_name=name, finished_at=utcnow())
    except ServiceError as exc:
        session.rollback()
        _set(session, job_id, status=JOB_FAILED, error=str(exc.message)[:2000],
             finished_at=utcnow())
    except Exception:
        session.rollback()
        _set(session, job_id, status=JOB_FAILED, error=None, finished_at=utcnow())
        raise
