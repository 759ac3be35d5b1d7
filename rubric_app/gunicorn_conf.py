"""gunicorn settings for rubric (``gunicorn -c python:rubric_app.gunicorn_conf``, or the
``gunicorn.conf.py`` of a source checkout, which imports this). Each setting can be changed
through the environment; docs/deploy.md explains the sizing."""
from __future__ import annotations

import os


def _int(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise SystemExit(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return int(raw)


wsgi_app = "rubric_app:create_app()"
bind = os.environ.get("BIND") or f"{os.environ.get('HOST', '127.0.0.1')}:{_int('PORT', 8000, 1, 65535)}"
#: gunicorn's gthread worker, taking a new connection only while one of its threads is free (see
#: rubric_app/gunicorn_worker.py: otherwise one worker can hold every connection while another idles)
worker_class = "rubric_app.gunicorn_worker.FreeThreadWorker"
#: processes: about one per core (2 on the reference machine)
workers = _int("WEB_CONCURRENCY", 2, 1, 64)
#: threads per process: requests wait mostly on the database
threads = _int("GUNICORN_THREADS", 4, 1, 64)
#: a request still running after this many seconds is ended and its worker restarted
timeout = _int("GUNICORN_TIMEOUT", 60, 5, 3600)
graceful_timeout = 30
keepalive = 5
#: restart a worker after this many requests (plus jitter) to bound memory growth
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000, 0, 10_000_000)
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
#: the reverse proxy's address (X-Forwarded-* is trusted only from it; see docs/deploy-security.md)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
