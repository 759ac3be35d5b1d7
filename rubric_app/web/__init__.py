"""Blueprints, request-wide helpers and error pages."""
from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from functools import wraps

from flask import Flask, abort, current_app, jsonify, render_template, request
from flask_babel import format_decimal, get_locale
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import bindparam, select

from ..domain.instruments import Registry
from ..extensions import db, login_manager
from ..inputs import MAX_ID, ascii_int
from ..models import User
from ..services import ServiceError


def registry() -> Registry:
    return current_app.extensions["instruments"]


def role_required(*roles: str):
    """Allow the view only to signed-in users with one of ``roles`` (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


#: the signed-in person (built once: it runs on every request)
_USER = select(User).where(User.id == bindparam("user_id"))


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    number = ascii_int(user_id, 1, MAX_ID)
    if number is None:
        return None
    user = db.session.execute(_USER, {"user_id": number}).scalar_one_or_none()
    if user is None or not user.active:
        return None
    # a session started before the last logout, password change, role change or deactivation is over
    from flask import session

    return user if session.get("auth_gen") == user.session_generation else None


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.headers.get("X-Requested-With") == "fetch"


def _error(status: int, message: str, details: list | None = None):
    if _wants_json():
        return jsonify({"error": {"status": status, "message": message, "details": details or []}}), status
    return render_template("error.html", status=status, message=message), status


def register_blueprints(app: Flask) -> None:
    from . import api, assess, auth, compare, main, providers, review
    from . import admin

    app.register_blueprint(main.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(assess.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(providers.bp)
    app.register_blueprint(review.bp)
    app.register_blueprint(compare.bp)
    app.register_blueprint(admin.bp)
    from . import jobs as jobs_views

    app.register_blueprint(jobs_views.bp)

    login_manager.login_view = "auth.login"
    login_manager.request_loader(api.load_user_from_token)

    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Please sign in to continue.")

    @app.errorhandler(ServiceError)
    def service_error(exc: ServiceError):
        from flask_babel import gettext

        db.session.rollback()
        return _error(exc.status, exc.message if request.path.startswith("/api/") else gettext(exc.message), exc.details)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        from flask_babel import gettext as _

        return _error(400, _("The form expired or was sent from elsewhere. Reload the page and try again."))

    app.register_error_handler(429, auth.too_many_requests)

    for status in (400, 403, 404, 405, 413):
        app.register_error_handler(status, lambda exc, s=status: _error(s, exc.description if _wants_json() else None))

    @app.errorhandler(500)
    def server_error(exc):
        try:  # a failed flush leaves the session unusable; the error page must not fail in turn
            db.session.rollback()
        except Exception:  # noqa: BLE001 - the page is shown whatever the session's state
            pass
        return _error(500, None)

    @app.context_processor
    def helpers():
        from .. import i18n

        def number(value, places: int = 2):
            if value is None or value == "":
                return "—"
            if isinstance(value, Fraction):
                value = Decimal(value.numerator) / Decimal(value.denominator)
            elif isinstance(value, str):
                value = Decimal(value)
            fmt = "#,##0." + "0" * places if places else "#,##0"
            return format_decimal(value, format=fmt)

        return {"number": number, "languages": i18n.LANGUAGES, "current_lang": str(get_locale() or "es"),
                "country_name": lambda code: i18n.country_name(code, str(get_locale() or "es"))}

    # security headers, the bounded int converter and the central input checks: web/hardening.py
