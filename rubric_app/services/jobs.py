"""Jobs: long work run outside the request, its progress and its result.

A job is a row (``jobs``): what to do (``kind`` and ``params``, checked before the row is written),
who asked (only that person sees it), how far it got (``done`` of ``total``) and the file it made
(under REPORTS_DIR, which every app server shares). :mod:`rubric_app.jobs` runs them: a worker
thread in the app process by default, RQ workers on any machine when ``REDIS_URL`` is set.

Kinds: a selection round's documents (``round_documents``) or report (``round_report``); a
comparison export (``comparison_export``, CSV or XLSX, scoped to the requesting person's role when
it is made *and* when it is downloaded); a provider file's check (``provider_import_check``, the
dry run) and its import (``provider_import``), both reading the upload kept in the database.
"""
from __future__ import annotations

import json
import os
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Callable

from sqlalchemy import select, update
from sqlalchemy.orm import Session, object_session

from ..domain.comparison import MixedVersions
from ..domain.instruments import Registry
from ..i18n import LANGUAGES
from ..models import JOB_DONE, JOB_FAILED, JOB_QUEUED, JOB_RUNNING, Job, SelectionRound, User, utcnow
from . import N_, Conflict, Forbidden, Invalid, NotFound, ServiceError
from . import comparison as cmp
from . import documents, provider_io
from . import providers as prov
from . import selection as sel
from .files import write_once

#: a job still "running" with no progress for this long was cut off (its process ended): shown as failed
STALE_AFTER = timedelta(minutes=15)
#: how many unfinished jobs one person may have at a time
MAX_OPEN_PER_USER = 5

#: the selection round's jobs (the round page's form, POST /api/v1/selection-rounds/<id>/jobs)
ROUND_KINDS = ("round_documents", "round_report")
EXPORT_KIND = "comparison_export"
IMPORT_CHECK_KIND = "provider_import_check"
IMPORT_KIND = "provider_import"
IMPORT_KINDS = (IMPORT_CHECK_KIND, IMPORT_KIND)
#: comparison exports made as jobs (the JSON export stays in the request)
EXPORT_FORMATS = ("csv", "xlsx")
#: defaults of the config keys EXPORT_JOB_THRESHOLD (institutions compared, the latest assessment of
#: each) and IMPORT_JOB_THRESHOLD (rows of a provider file): above them the pages start a job
EXPORT_JOB_THRESHOLD = 2000
IMPORT_JOB_THRESHOLD = 2000
#: roles whose comparison exports carry one row per institution (the others get the aggregates)
INSTITUTION_ROWS_ROLES = ("reviewer", "admin")
#: the comparison filters a job keeps (services.comparison.parse_filters reads them)
FILTER_KEYS = ("instrument", "version", "countries", "type", "sector", "round", "date_from", "date_to", "basis")
MAX_FILTER_LENGTH = 1000
#: problems of a checked file kept with the job's result (the page shows the first 500)
MAX_KEPT_PROBLEMS = 10_000
RESULT_MIMETYPES = {".zip": "application/zip", ".pdf": "application/pdf", ".csv": "text/csv", ".json": "application/json",
                    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


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


def shows_institution_rows(user: User | None) -> bool:
    """Whether comparison exports made for ``user`` carry one row per institution (reviewers and administrators)."""
    return user is not None and user.role in INSTITUTION_ROWS_ROLES


class _Args:
    """The stored filters as the query-like object :func:`services.comparison.parse_filters` reads."""

    def __init__(self, values: dict[str, str]):
        self.values = values

    def get(self, name: str, default=None):
        return self.values.get(name, default)

    def getlist(self, name: str) -> list[str]:
        return [self.values[name]] if name in self.values else []


def export_filters(filters: cmp.Filters) -> dict[str, str]:
    """The comparison filters as text, the way a job keeps them (empty ones left out)."""
    return {key: str(value) for key, value in filters.as_query().items() if value not in ("", None)}


def _check_export(session: Session, user: User, params: dict) -> dict:
    cmp.require_compare(user)
    fmt = params.get("format")
    if fmt not in EXPORT_FORMATS:
        raise Invalid(N_("Choose CSV or XLSX."), [{"field": "format"}])
    raw = params.get("filters", {})
    if not isinstance(raw, dict) or any(key not in FILTER_KEYS or not isinstance(value, str) or len(value) > MAX_FILTER_LENGTH
                                        for key, value in raw.items()):
        raise Invalid(N_("The comparison filters are not valid."), [{"field": "filters"}])
    filters = cmp.parse_filters(_Args(raw))
    min_cell = params.get("min_cell")
    if min_cell is not None and (isinstance(min_cell, bool) or not isinstance(min_cell, int) or not 0 <= min_cell <= 10_000):
        raise Invalid(N_("The comparison filters are not valid."), [{"field": "min_cell"}])
    return {"format": fmt, "filters": export_filters(filters), "institutions": shows_institution_rows(user), "min_cell": min_cell}


def _check_export_access(user: User | None, params: dict) -> None:
    """The person may still compare, and may still see institution rows if the file holds them."""
    cmp.require_compare(user)
    if params.get("institutions") and not shows_institution_rows(user):
        raise Forbidden(N_("This file holds institution-level data, which your role no longer allows you to see."))


def _check_import(session: Session, user: User, params: dict, *, apply: bool) -> dict:
    prov.require_staff(user)
    upload = provider_io.pending_upload_by_id(session, user, params.get("upload_id"))
    if upload is None:
        raise NotFound(N_("The checked file is no longer available; upload it again."))
    checked = {"upload_id": upload.id, "filename": upload.filename}
    if apply:
        stamp = params.get("stamp")
        if stamp is not None and (not isinstance(stamp, str) or len(stamp) > 64):
            raise Invalid(N_("The file's check is not valid; check the file again."), [{"field": "stamp"}])
        checked["stamp"] = stamp
        checked["require_precondition"] = params.get("require_precondition") is True
    return checked


#: kind -> checks its params (raising a ServiceError for the person), as stored
CHECKS: dict[str, Callable[[Session, User, dict], dict]] = {
    "round_documents": _check_round_documents,
    "round_report": _round_params,
    EXPORT_KIND: _check_export,
    IMPORT_CHECK_KIND: partial(_check_import, apply=False),
    IMPORT_KIND: partial(_check_import, apply=True),
}


def create_job(session: Session, user: User, kind: str, params: dict) -> Job:
    """Check what the job needs now (so a refusal reaches the person at once, not in the job) and store it queued."""
    if kind not in CHECKS:
        raise NotFound(N_("Unknown kind of job."))
    checked = CHECKS[kind](session, user, params)
    if kind in IMPORT_KINDS:  # the same upload sent twice (a double click): the job already at work on it
        for job in session.scalars(select(Job).where(Job.user_id == user.id, Job.kind == kind,
                                                     Job.status.in_((JOB_QUEUED, JOB_RUNNING))).order_by(Job.id)):
            if (job.params or {}).get("upload_id") == checked["upload_id"] and effective_status(job) in (JOB_QUEUED, JOB_RUNNING):
                return job
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


def check_result_access(session: Session, job: Job) -> None:
    """Whether the job's owner may still have its result, checked again at every download: a person
    whose role changed since gets nothing their role no longer allows."""
    user = session.get(User, job.user_id)
    if job.kind == EXPORT_KIND:
        _check_export_access(user, job.params or {})
    else:  # round documents and provider imports: project staff
        prov.require_staff(user)


def result_file(job: Job, reports_dir: str | os.PathLike) -> Path:
    """The file a finished job made, once its owner's access is checked again."""
    if effective_status(job) != JOB_DONE or not job.result_path:
        raise Conflict(N_("This document is not ready yet."))
    session = object_session(job)
    if session is not None:
        check_result_access(session, job)
    path = Path(reports_dir) / job.result_path
    if not path.is_file():
        raise NotFound(N_("This document is no longer kept: start it again."))
    return path


def result_mimetype(path: Path) -> str:
    """The media type a job's result is sent with, by its file's suffix."""
    return RESULT_MIMETYPES.get(path.suffix.lower(), "application/octet-stream")


def import_summary(job: Job, reports_dir: str | os.PathLike) -> dict | None:
    """What a finished provider check or import found (the body its result holds), or None when the
    job is not done or its result is no longer kept."""
    if job.kind not in IMPORT_KINDS:
        return None
    try:
        path = result_file(job, reports_dir)
    except (Conflict, NotFound):
        return None
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


# --------------------------------------------------------------------------- running (called by rubric_app.jobs)


def _set(session: Session, job_id: int, **values) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(updated_at=utcnow(), **values))
    session.commit()


def _result_path(folder: Path, job_id: int, name: str) -> Path:
    return folder / "jobs" / str(job_id) / name


def _run_round(session: Session, registry: Registry, job_id: int, user: User, params: dict, folder: Path,
               progress: Callable[[int, int], None], *, kind: str) -> tuple[Path, str]:
    rnd = sel.get_round(session, user, params["round_id"])
    lang = params["lang"]
    if kind == "round_documents":
        return documents.round_documents_zip(registry, rnd, lang, folder, progress=progress), f"round-{rnd.id}-documents-{lang}.zip"
    progress(0, 1)
    path = documents.round_report(registry, rnd, lang, folder)
    progress(1, 1)
    return path, f"round-{rnd.id}-{lang}.pdf"


def _run_export(session: Session, registry: Registry, job_id: int, user: User, params: dict, folder: Path,
                progress: Callable[[int, int], None]) -> tuple[Path, str]:
    """The comparison export the person would get from the page for the same filters (three steps:
    compare, write the file, keep it)."""
    _check_export_access(user, params)
    filters = cmp.parse_filters(_Args(params["filters"]))
    with_institutions = bool(params.get("institutions"))
    progress(0, 3)
    result = cmp.compare(session, registry, user, filters, with_institutions=with_institutions, min_cell=params.get("min_cell"))
    progress(1, 3)
    build = cmp.comparison_csv if params["format"] == "csv" else cmp.comparison_xlsx
    data = build(result, with_institutions=with_institutions)
    progress(2, 3)
    name = f"comparison.{params['format']}"
    path = write_once(_result_path(folder, job_id, name), lambda fh: fh.write(data))
    progress(3, 3)
    return path, name


def _problem_json(problem: provider_io.ImportProblem) -> dict:
    return {**problem.as_dict(), "msgid": problem.msgid, "params": problem.params}


def _run_import(session: Session, registry: Registry, job_id: int, user: User, params: dict, folder: Path,
                progress: Callable[[int, int], None], *, dry_run: bool) -> tuple[Path, str]:
    """Check (``dry_run``) or import the kept upload as the import page or the API would, and keep
    what was found as JSON: the API's body, with ``problems`` (nothing imported when there are any)."""
    upload = provider_io.pending_upload_by_id(session, user, params["upload_id"])
    if upload is None:
        raise NotFound(N_("The checked file is no longer available; upload it again."))
    filename, data, token = upload.filename, upload.data, upload.token
    plan, problems = provider_io.import_providers(
        session, filename, data, prov.provider_instrument(registry), dry_run=dry_run,
        expected_stamp=None if dry_run else params.get("stamp"),
        require_precondition=not dry_run and bool(params.get("require_precondition")), progress=progress)
    if problems:
        provider_io.forget_upload(session, user, token)  # it can never be applied
        summary = {"dry_run": dry_run, "filename": filename, "created": [], "updated": [], "unchanged": [], "stamp": None,
                   "problem_count": len(problems), "problems": [_problem_json(p) for p in problems[:MAX_KEPT_PROBLEMS]]}
    else:
        if dry_run:
            provider_io.restamp_upload(session, user, token, plan.stamp)
        else:
            provider_io.forget_upload(session, user, token)
        summary = {**provider_io.plan_json(plan, dry_run=dry_run), "filename": filename,
                   "created_names": [r.name for r in plan.creates[:200]], "problem_count": 0, "problems": []}
    name = "import-check.json" if dry_run else "import.json"
    text = json.dumps(summary, ensure_ascii=False, default=str).encode("utf-8")
    return write_once(_result_path(folder, job_id, name), lambda fh: fh.write(text)), name


#: kind -> does the work: (session, registry, job id, owner, params, reports folder, progress) -> (file, download name)
RUNNERS: dict[str, Callable[..., tuple[Path, str]]] = {
    "round_documents": partial(_run_round, kind="round_documents"),
    "round_report": partial(_run_round, kind="round_report"),
    EXPORT_KIND: _run_export,
    IMPORT_CHECK_KIND: partial(_run_import, dry_run=True),
    IMPORT_KIND: partial(_run_import, dry_run=False),
}

#: why an export failed when the selection mixes instrument versions (no values: the job keeps a msgid)
MIXED_VERSIONS = N_("Assessments answered on different instrument versions cannot be compared. Choose one version.")


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
        runner = RUNNERS.get(kind)
        if runner is None:
            raise NotFound(N_("Unknown kind of job."))
        path, name = runner(session, registry, job_id, user, params, folder, progress)
        _set(session, job_id, status=JOB_DONE, result_path=str(Path(path).resolve().relative_to(folder.resolve())),
             result_name=name, finished_at=utcnow())
    except MixedVersions:
        session.rollback()
        _set(session, job_id, status=JOB_FAILED, error=MIXED_VERSIONS, finished_at=utcnow())
    except ServiceError as exc:
        session.rollback()
        _set(session, job_id, status=JOB_FAILED, error=str(exc.message)[:2000],
             finished_at=utcnow())
    except Exception:
        session.rollback()
        _set(session, job_id, status=JOB_FAILED, error=None, finished_at=utcnow())
        raise
