"""Request-wide defences: bounded ids in URLs, input checks in one place, security headers, proxy trust.

Wired by :func:`init_app` before the blueprints are registered (the ``int`` URL converter must be
in place when their rules are added). Deployment settings are documented in docs/deploy-security.md.
"""
from __future__ import annotations

from flask import Flask, request
from flask_babel import gettext
from flask_login import current_user
from werkzeug.routing import IntegerConverter, ValidationError

from ..inputs import (
    MAX_ID,
    MAX_JSON_DEPTH,
    ascii_int,
    json_depth,
    printable_name,
    unstorable,
    unstorable_json_path,
)
from ..services import N_, ServiceError

CONTENT_SECURITY_POLICY = ("default-src 'self'; base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'; "
                           "img-src 'self' data:; style-src 'self' 'unsafe-inline'")
#: sent with every answer that does not set them itself
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin"),
                    ("Content-Security-Policy", CONTENT_SECURITY_POLICY))
#: endpoints whose answers are the same for everyone and may be kept by browsers and proxies when nobody is signed in
PUBLIC_CACHEABLE = frozenset({"static", "main.index", "main.rules"})
#: what the Werkzeug development server says in ``Server`` (instead of its and Python's versions)
SERVER_NAME = "rubric"

#: refusals, each naming the field (English in the API, translated on pages)
MESSAGES = {
    "number": N_("%(field)s must be a whole number from %(low)s to %(high)s."),
    "text": N_("%(field)s contains a character that is not allowed (a NUL byte or an unpaired surrogate)."),
    "depth": N_("The JSON body is nested more than %(depth)s levels deep."),
}


#: a malformed number in the address is a bad request; well-formed input the app cannot take is unprocessable
STATUSES = {"number": 400, "text": 422, "depth": 422}


class InputRefused(ServiceError):
    """Input the app never reads (a number out of bounds, unstorable text, too deep JSON): a 4xx naming the field."""

    def __init__(self, kind: str, field: str = "", **params):
        self.kind, self.status = kind, STATUSES[kind]
        self.params = {"field": printable_name(field), **params}
        super().__init__(MESSAGES[kind] % self.params, [{"field": self.params["field"], "message": MESSAGES[kind] % self.params}])


class BoundedIntConverter(IntegerConverter):
    """``<int:...>`` for record ids: ASCII digits only, 1..2**31-1 (anything else is a 404, never a database error)."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map, fixed_digits: int = 0, min: int | None = 1, max: int | None = MAX_ID, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=False)

    def to_python(self, value: str) -> int:
        if len(value) > 10:
            raise ValidationError()
        return super().to_python(value)


def query_int(name: str, default: int | None = None, *, minimum: int = 1, maximum: int = MAX_ID) -> int | None:
    """The query argument ``name`` as a bounded whole number; ``default`` when absent or empty.

    Raises :class:`InputRefused` (400, naming the argument) for anything else: "³", "1e3", 20 digits.
    """
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    value = ascii_int(raw, minimum, maximum)
    if value is None:
        raise InputRefused("number", name, low=minimum, high=maximum)
    return value


def init_app(app: Flask) -> None:
    """Register the bounded ``int`` converter, the central input checks and the security headers;
    trust ``PROXY_FIX_HOPS`` proxies; hide the development server's version banner."""
    app.url_map.converters["int"] = BoundedIntConverter
    hops = int(app.config.get("PROXY_FIX_HOPS") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops)  # type: ignore[method-assign]
    _quiet_development_server()
    app.before_request(refuse_unreadable_input)
    app.after_request(security_headers)

    @app.errorhandler(InputRefused)
    def input_refused(exc: InputRefused):
        from . import _error, _wants_json

        message = exc.message if _wants_json() else gettext(MESSAGES[exc.kind], **exc.params)
        return _error(exc.status, message, exc.details)


def _quiet_development_server() -> None:
    """``flask run`` answers ``Server: rubric`` rather than ``Werkzeug/3.x Python/3.x``.

    Only Werkzeug's development server reads this; gunicorn sends ``Server: gunicorn`` without a
    version, and a reverse proxy should drop or replace the header (docs/deploy-security.md).
    """
    from werkzeug.serving import WSGIRequestHandler

    if getattr(WSGIRequestHandler.version_string, "_rubric", False):
        return

    def version_string(self) -> str:
        return SERVER_NAME

    version_string._rubric = True  # type: ignore[attr-defined]
    WSGIRequestHandler.version_string = version_string  # type: ignore[method-assign]


def refuse_unreadable_input() -> None:
    """Refuse, before any view runs, input that no view should see: NUL bytes or unpaired surrogates
    in query arguments, form fields, URL parts or JSON strings (PostgreSQL cannot store them), and
    JSON nested deeper than :data:`MAX_JSON_DEPTH`."""
    for name, values in request.args.lists():
        _check_text(name, values)
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and unstorable(value):
            raise InputRefused("text", name)
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for name, values in request.form.lists():
                _check_text(name, values)
            for name, upload in request.files.items(multi=True):
                _check_text(name, [upload.filename or ""])
        elif request.is_json and request.content_length != 0:
            _check_json()


def _check_text(name, values: list) -> None:
    name = name if isinstance(name, str) else ""  # a multipart part may come without a name
    if unstorable(name):
        raise InputRefused("text", name)
    for value in values:
        if isinstance(value, str) and unstorable(value):
            raise InputRefused("text", name)


def _check_json() -> None:
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        raise InputRefused("depth", "body", depth=MAX_JSON_DEPTH) from None
    if data is None:  # not JSON at all: the view says what it expected
        return
    if json_depth(data) > MAX_JSON_DEPTH:
        raise InputRefused("depth", "body", depth=MAX_JSON_DEPTH)
    where = unstorable_json_path(data)
    if where is not None:
        raise InputRefused("text", where)


def security_headers(response):
    """Headers on every answer: CSP and friends, HSTS on HTTPS when configured, and
    ``Cache-Control: no-store`` on everything private (signed-in pages, the API, downloads)."""
    from flask import current_app

    headers = response.headers
    present = {name.lower() for name in headers.keys()}  # one pass, not one case-blind scan per header
    headers.extend([pair for pair in SECURITY_HEADERS if pair[0].lower() not in present])
    hsts = int(current_app.config.get("HSTS_SECONDS") or 0)
    if hsts > 0 and request.is_secure:
        headers.setdefault("Strict-Transport-Security", f"max-age={hsts}")
    if _private(response):
        headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
    return response


def _private(response) -> bool:
    if request.path.startswith("/api/") or "attachment" in response.headers.get("Content-Disposition", ""):
        return True
    if response.mimetype in ("application/pdf", "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"):
        return True
    if request.endpoint == "static":
        return False
    return current_user.is_authenticated or request.endpoint not in PUBLIC_CACHEABLE
