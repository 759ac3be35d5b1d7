"""Extensions, each wired to the app with ``init_app``."""
from __future__ import annotations

import os

from flask import Flask, current_app, g, request
from flask_babel import Babel
from flask_caching import Cache
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

babel = Babel()
csrf = CSRFProtect()
login_manager = LoginManager()
#: results worth keeping between requests (the comparison): a simple in-process cache by default,
#: Redis, shared by every process and machine, when ``CACHE_REDIS_URL`` or ``REDIS_URL`` is set
cache = Cache()


def init_cache(app: Flask) -> None:
    """Wire the cache: Redis when ``CACHE_REDIS_URL`` (or else ``REDIS_URL``) is configured, else
    Flask-Caching's simple cache; an explicit ``CACHE_TYPE`` in the config wins."""
    redis_url = app.config.get("CACHE_REDIS_URL") or app.config.get("REDIS_URL")
    if redis_url:
        app.config.setdefault("CACHE_TYPE", "RedisCache")
        app.config.setdefault("CACHE_REDIS_URL", redis_url)
    else:
        app.config.setdefault("CACHE_TYPE", "SimpleCache")
        app.config.setdefault("CACHE_THRESHOLD", 256)
    app.config.setdefault("CACHE_KEY_PREFIX", "rubric:")
    app.config.setdefault("CACHE_DEFAULT_TIMEOUT", 3600)
    cache.init_app(app)


def app_cache() -> Cache:
    """The cache of the current app, wired on first use when ``create_app`` has not done it."""
    if cache not in current_app.extensions.get("cache", {}):
        init_cache(current_app)
    return cache


class Database:
    """One engine per app (kept in ``app.extensions``) and one session per request."""

    def init_app(self, app: Flask) -> None:
        url = app.config["DATABASE_URL"]
        kwargs: dict = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            _private_sqlite_files(engine.url.database, app.instance_path)
            event.listen(engine, "connect", _sqlite_pragmas)
        app.extensions["rubric_db"] = (engine, sessionmaker(engine, expire_on_commit=False))
        app.teardown_appcontext(self._close)

    @property
    def engine(self) -> Engine:
        return current_app.extensions["rubric_db"][0]

    def new_session(self) -> Session:
        """A session of its own (for commands and scripts); the caller closes it."""
        return current_app.extensions["rubric_db"][1]()

    @property
    def session(self) -> Session:
        """The request's session (created on first use, closed at teardown)."""
        if "db_session" not in g:
            g.db_session = self.new_session()
        return g.db_session

    def _close(self, exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()

    def create_all(self) -> None:
        """Create an EMPTY database's tables from the models, stamped at the head revision (tests only).

        Real databases are made and upgraded by migrations: ``flask --app rubric_app db upgrade``.
        """
        from .schema import create_from_models

        create_from_models(self.engine)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # room for the sorts and the materialized universe of the comparison at 100,000 assessments
    # (the default 2 MB page cache spills them to temporary files); memory is taken only when used
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.close()


def _private_sqlite_files(database: str | None, instance_path: str) -> None:
    """The SQLite file (password and token hashes, answers) readable by its owner only: created 0600
    before SQLite opens it (SQLite gives its -wal and -shm files the database file's mode), older
    files tightened to 0600, and the instance folder, when it holds the file, kept at 0700."""
    import os
    from pathlib import Path

    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).resolve()
    if path.parent == Path(instance_path).resolve():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
    if not path.parent.is_dir():
        return  # SQLite says what is wrong when it connects
    if not path.exists():
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
    for name in (path.name, path.name + "-wal", path.name + "-shm", path.name + "-journal"):
        try:
            os.chmod(path.parent / name, 0o600)
        except (FileNotFoundError, PermissionError):  # gone meanwhile, or not ours to change
            pass


db = Database()


# ----------------------------------------------------------------------------- throttling

#: rate limits, each overridable in the instance config; "per account" counts the e-mail submitted
RATE_LIMIT_DEFAULTS = {
    # failed sign-ins (answered 401): the account, or the address, is locked for the rest of the window
    "RATELIMIT_LOGIN_FAILURES_ACCOUNT": "5 per 15 minutes",
    "RATELIMIT_LOGIN_FAILURES_ADDRESS": "20 per 15 minutes",
    # every sign-in attempt from one address
    "RATELIMIT_LOGIN_ADDRESS": "60 per minute",
    "RATELIMIT_REGISTER_ACCOUNT": "5 per hour",
    "RATELIMIT_REGISTER_ADDRESS": "20 per hour",
    "RATELIMIT_FORGOT_ACCOUNT": "5 per hour",
    "RATELIMIT_FORGOT_ADDRESS": "20 per hour",
    "RATELIMIT_TOKEN_ACCOUNT": "10 per hour",
    "RATELIMIT_TOKEN_ADDRESS": "30 per hour",
    "RATELIMIT_INVITE_ACCOUNT": "30 per hour",
}

#: one limiter; its storage is made anew by each app's ``init_app`` (memory unless
#: ``RATELIMIT_STORAGE_URI`` names e.g. redis://host:6379), so every test app starts with no counts
limiter = Limiter(key_func=get_remote_address, strategy="moving-window")


#: methods no limit applies to
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def init_limiter(app: Flask) -> None:
    """Wire the limiter: storage from the instance config, else ``RATELIMIT_STORAGE_URI`` in the environment, else the
    app's Redis (``REDIS_URL``: the counts are shared by every process and machine), else memory.

    Every limit is on a POST (sign-in, registration, resets, tokens, invitations), so reads skip the
    limiter's per-request check altogether: its ``before_request`` hook is wrapped to run for the
    other methods only."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", os.environ.get("RATELIMIT_STORAGE_URI") or app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    for name, value in RATE_LIMIT_DEFAULTS.items():
        app.config.setdefault(name, value)
    limiter.init_app(app)
    hooks = app.before_request_funcs.setdefault(None, [])
    check = limiter._check_request_limit  # noqa: SLF001 - the hook init_app registered
    for i, hook in enumerate(hooks):
        if hook == check:
            hooks[i] = _checks_writes_only(check)


def _checks_writes_only(check):
    def check_writes() -> None:
        if request.method not in _READS:
            check_writes.wrapped()

    check_writes.wrapped = check  # type: ignore[attr-defined]
    return check_writes


def rate(name: str):
    """A limit read from the config when the request is checked (so each app may set its own)."""
    return lambda: current_app.config[name]


def submitted_email() -> str:
    """The rate-limit key "per account": the e-mail address in the form, normalised ("" skips the limit)."""
    return (request.form.get("email") or "").strip().lower()[:254]


def failed_sign_in(response) -> bool:
    """Count an attempt against the failure limits only when it failed."""
    return response.status_code == 401
