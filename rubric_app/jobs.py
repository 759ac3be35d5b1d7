"""Where jobs run: a worker thread in the app process (the embedded default, nothing to install), or
RQ workers (``flask --app rubric_app worker``) on any number of machines when ``REDIS_URL`` is set.

Either way the job's state lives in the database (:mod:`rubric_app.services.jobs`) and its result
under REPORTS_DIR, so any app server can show its progress and serve its result.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from flask import Flask, current_app

log = logging.getLogger(__name__)

#: seconds an RQ worker gives one job before stopping it
RQ_JOB_TIMEOUT = 3600
RQ_QUEUE = "rubric"


def _run_in(app: Flask, job_id: int) -> None:
    from .extensions import db
    from .services import jobs as svc

    with app.app_context():
        session = db.new_session()
        try:
            svc.run(session, app.extensions["instruments"], job_id, app.config["REPORTS_DIR"])
        except Exception:  # recorded as failed on the job; the worker goes on with the next one
            log.exception("job %s failed", job_id)
        finally:
            session.close()


class EmbeddedRunner:
    """One worker thread (JOB_THREADS) in this process; jobs queued in a process that ended are
    reported as interrupted when someone looks at them."""

    kind = "embedded"

    def __init__(self, app: Flask):
        self.app = app
        self.threads = int(app.config.get("JOB_THREADS", 1))
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def submit(self, job_id: int):
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="rubric-job")
        return self._pool.submit(_run_in, self.app, job_id)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


class RQRunner:
    """Jobs go to the RQ queue ``rubric`` in Redis; `flask --app rubric_app worker` runs them."""

    kind = "rq"

    def __init__(self, app: Flask):
        from redis import Redis
        from rq import Queue

        self.connection = Redis.from_url(app.config["REDIS_URL"])
        self.queue = Queue(RQ_QUEUE, connection=self.connection)

    def submit(self, job_id: int):
        return self.queue.enqueue("rubric_app.jobs.run_in_worker", job_id, job_timeout=RQ_JOB_TIMEOUT,
                                  result_ttl=3600, failure_ttl=86400)


def init_app(app: Flask) -> None:
    app.extensions["jobs"] = RQRunner(app) if app.config.get("REDIS_URL") else EmbeddedRunner(app)
    app.cli.add_command(_worker_command())


def submit(job_id: int):
    """Hand a stored, queued job to this app's runner."""
    return current_app.extensions["jobs"].submit(job_id)


_worker_app: Flask | None = None


def run_in_worker(job_id: int) -> None:
    """The RQ entry point: runs in a worker process with an app built from the same settings."""
    global _worker_app
    if _worker_app is None:
        from . import create_app

        _worker_app = create_app()
    _run_in(_worker_app, job_id)


def work(app: Flask, burst: bool = False) -> None:
    """Run an RQ worker on the app's queue (no fork per job: the app is built once per worker)."""
    from rq import SimpleWorker

    global _worker_app
    _worker_app = app
    runner = app.extensions["jobs"]
    if not isinstance(runner, RQRunner):
        raise RuntimeError("REDIS_URL is not set: jobs run inside the app process, no worker is needed.")
    SimpleWorker([runner.queue], connection=runner.connection).work(burst=burst)


def _worker_command():
    import click
    from flask.cli import with_appcontext

    @click.command("worker", help="Run an RQ worker for the app's jobs (needs REDIS_URL); run one or more per machine.")
    @click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
    @with_appcontext
    def worker(burst: bool) -> None:
        app = current_app._get_current_object()
        if not app.config.get("REDIS_URL"):
            raise click.ClickException("REDIS_URL is not set: jobs run in a thread of the app process, no worker is needed.")
        work(app, burst=burst)

    return worker
