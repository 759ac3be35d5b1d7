"""rubric: migrant-inclusion self-assessment for vocational training institutions."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: the instrument definitions inside a built package (copied there by setup.py)
PACKAGED_DEFS = Path(__file__).resolve().parent / "defs"


def from_source_checkout() -> bool:
    """True when the app runs from the repository (editable install or tests), False when installed as a package."""
    return (PROJECT_ROOT / "rubric_defs").is_dir() and (PROJECT_ROOT / "setup.cfg").is_file()


def default_paths(instance_path: str) -> dict[str, str]:
    """Where the definitions and the generated documents are by default.

    From a source checkout: ``rubric_defs/`` and ``reports/`` beside the package. Installed as a
    package: the definitions shipped inside it and ``reports/`` under the instance folder (never the
    package folder, which may be read-only). ``RUBRIC_DEFS`` and ``REPORTS_DIR`` in instance/config.py,
    and then in the environment, override both.
    """
    if from_source_checkout():
        paths = {"RUBRIC_DEFS": str(PROJECT_ROOT / "rubric_defs"), "REPORTS_DIR": str(PROJECT_ROOT / "reports")}
    else:
        paths = {"RUBRIC_DEFS": str(PACKAGED_DEFS), "REPORTS_DIR": os.path.join(instance_path, "reports")}
    return paths


def _normalise_db_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def ensure_instance_config(instance_path: str) -> Path:
    """Write instance/config.py (mode 0600) with a random SECRET_KEY the first time the app starts;
    the instance folder is kept at mode 0700."""
    path = Path(instance_path) / "config.py"
    Path(instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(instance_path, 0o700)  # it holds the secret key, the SQLite database and kept uploads
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("# Written on first start. Keep it secret; it signs sessions and CSRF tokens.\n")
            fh.write(f"SECRET_KEY = {secrets.token_hex(32)!r}\n")
    return path


def create_app(test_config: dict | None = None, *, check_schema: bool = True) -> Flask:
    """The application factory (defaults, then instance/config.py or ``test_config``).

    Refuses to start (:class:`RuntimeError` with one line saying what to run) unless the database
    is at the head schema revision. ``check_schema=False`` is for the ``db`` commands, which must
    run on out-of-date databases. With ``DATABASE_AUTO_CREATE`` (tests) an empty database gets
    the tables from the models, stamped at the head revision.
    """
    app = Flask(__name__, instance_relative_config=True, instance_path=os.environ.get("RUBRIC_INSTANCE_PATH") or None)
    app.config.from_mapping(
        DATABASE_URL="sqlite:///" + os.path.join(app.instance_path, "rubric.db"),
        **default_paths(app.instance_path),
        BABEL_DEFAULT_LOCALE="es",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PREFERRED_URL_SCHEME="http",
        PROXY_FIX_HOPS=0,
        HSTS_SECONDS=0,
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,
    )
    # commitment letters: issuing office, signatory, logo, reference prefix, language per country
    # (LETTER_* keys, documented in docs/letters.md; instance/config.py overrides them)
    from .services.documents import LETTER_SETTINGS

    app.config.from_mapping({name: (dict(value) if isinstance(value, dict) else value) for name, value in LETTER_SETTINGS.items()})
    if test_config is None:
        ensure_instance_config(app.instance_path)
        app.config.from_pyfile("config.py")
        for name in ("DATABASE_URL", "RUBRIC_DEFS", "REPORTS_DIR"):
            if os.environ.get(name, "").strip():
                app.config[name] = os.environ[name].strip()
        _deployment_settings_from_environment(app)
    else:
        app.config.from_mapping(test_config)
    _check_deployment_settings(app)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY is not set; refusing to start without a secret.")
    app.config["DATABASE_URL"] = _normalise_db_url(app.config["DATABASE_URL"])

    from .domain.instruments import cached_registry, registry_stamp

    defs = app.config["RUBRIC_DEFS"]
    app.extensions["instruments"] = cached_registry(defs, registry_stamp(defs))

    from . import i18n
    from .extensions import babel, csrf, db, login_manager

    if from_source_checkout():
        i18n.compile_catalogs()  # an installed package's catalogs were compiled when it was built (setup.py)
    db.init_app(app)
    with app.app_context():
        _prepare_schema(app, check_schema)
    babel.init_app(app, locale_selector=i18n.select_locale)
    csrf.init_app(app)
    login_manager.init_app(app)

    from .web import hardening, register_blueprints

    hardening.init_app(app)  # first: the bounded ``int`` URL converter must exist before the routes
    register_blueprints(app)

    from . import jobs
    from .extensions import init_cache

    jobs.init_app(app)
    init_cache(app)  # shared through Redis when REDIS_URL (or CACHE_REDIS_URL) is set

    from .cli import register_commands

    register_commands(app)
    return app


#: deployment settings read from the environment (they override instance/config.py); see docs/deploy-security.md
ENVIRONMENT_SETTINGS = {"PREFERRED_URL_SCHEME": str, "PROXY_FIX_HOPS": int, "SESSION_COOKIE_SECURE": bool, "HSTS_SECONDS": int,
                        "REDIS_URL": str, "CACHE_REDIS_URL": str}


def _deployment_settings_from_environment(app: Flask) -> None:
    for name, kind in ENVIRONMENT_SETTINGS.items():
        raw = os.environ.get(name)
        if raw is None or raw.strip() == "":
            continue
        raw = raw.strip()
        if kind is bool:
            if raw.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise RuntimeError(f"{name} must be true or false, not {raw!r}.")
            app.config[name] = raw.lower() in ("1", "true", "yes", "on")
        elif kind is int:
            if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
                raise RuntimeError(f"{name} must be a whole number >= 0, not {raw!r}.")
            app.config[name] = int(raw)
        else:
            app.config[name] = raw


def _check_deployment_settings(app: Flask) -> None:
    """Refuse to start on deployment settings that would silently do nothing; the remember-me
    cookie follows the session cookie's ``Secure`` flag unless set on its own."""
    config = app.config
    if config["PREFERRED_URL_SCHEME"] not in ("http", "https"):
        raise RuntimeError("PREFERRED_URL_SCHEME must be http or https.")
    for name in ("PROXY_FIX_HOPS", "HSTS_SECONDS"):
        if isinstance(config[name], bool) or not isinstance(config[name], int) or config[name] < 0:
            raise RuntimeError(f"{name} must be a whole number >= 0.")
    config.setdefault("REMEMBER_COOKIE_SECURE", bool(config["SESSION_COOKIE_SECURE"]))


def _prepare_schema(app: Flask, check_schema: bool) -> None:
    from . import schema
    from .extensions import db

    if app.config.get("DATABASE_AUTO_CREATE") and schema.is_empty(db.engine):
        db.create_all()
    if check_schema:
        problem = schema.check(db.engine)
        if problem:
            db.engine.dispose()
            raise RuntimeError(problem)
