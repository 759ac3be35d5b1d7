"""Answers drawn once per state of what they show, and kept in the shared cache.

A page that shows one assessment (a dimension, the results) and the API's representation of it
are drawn anew only when something they show changed. The key names the request's path and query,
the person (id and role), the interface language and time zone, and the *stamp* of everything drawn:
the assessment's version (bumped by every answer, plan, review and status change), its institution's
version, and, for pages that compare, the comparison's data stamp and today's date. The access rule is
checked on every request before the cache is read (:func:`rubric_app.services.assessments.assessment_stamp`).

What differs per request is put back into a kept page: the CSRF token (kept as a marker). A request
with messages waiting to be shown (``flash``) is drawn as usual and not kept, so each message is shown
once. Kept in Flask-Caching's cache: per process by default, shared through Redis when configured.
``PAGE_CACHE = False`` in the config turns it off.
"""
from __future__ import annotations

import hashlib
from typing import Callable

from flask import current_app, g, request, session
from flask_babel import get_locale, get_timezone
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from ..extensions import app_cache

#: stands for the request's CSRF token in a kept page
CSRF_MARK = "\x1ecsrf-token\x1e"
CSRF_MARK_BYTES = CSRF_MARK.encode("ascii")
#: how long a kept answer may stay unused (seconds)
TIMEOUT = 600


#: signed CSRF tokens by (secret, session's raw token): tokens carry no time limit here
#: (``WTF_CSRF_TIME_LIMIT = None``: a token lasts as long as its session), so one signature per raw
#: token serves every request of that session; bounded, emptied when full
_SIGNED: dict[tuple[str, str], str] = {}
_SIGNED_MAX = 4096


def csrf_token() -> str:
    """This request's CSRF token, as ``generate_csrf()`` gives it, without signing it anew on every
    request of a session (signing costs as much as the rest of a kept page's work)."""
    if current_app.config.get("WTF_CSRF_TIME_LIMIT") is not None:
        return generate_csrf()
    secret = str(current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key)  # what Flask-WTF signs with
    if "csrf_token" in g:  # signed already in this request (a form drew it): that is the one on the page
        token = g.csrf_token
    else:
        raw = session.get("csrf_token")
        token = _SIGNED.get((secret, raw)) if isinstance(raw, str) else None
        if token is not None:
            g.csrf_token = token  # where generate_csrf() and the forms look for it
            return token
        token = generate_csrf()  # puts a raw token in a session that had none
    raw = session.get("csrf_token")
    if isinstance(raw, str) and (secret, raw) not in _SIGNED:
        if len(_SIGNED) >= _SIGNED_MAX:
            _SIGNED.clear()
        _SIGNED[(secret, raw)] = token
    return token


def enabled() -> bool:
    return bool(current_app.config.get("PAGE_CACHE", True)) and "_flashes" not in session


def key(kind: str, *stamp) -> str:
    parts = (kind, request.full_path, current_user.id, current_user.role, str(get_locale()), str(get_timezone()), stamp)
    return "page:" + hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


def page(kind: str, stamp: tuple, draw: Callable[[], tuple[str, int]]):
    """The page for ``stamp``: kept bytes with this request's CSRF token, or what ``draw()`` answers,
    kept when that is (text, 200).  Kept as UTF-8 (what is sent): a kept page is neither decoded
    nor encoded again."""
    if not enabled():
        return draw()
    cache = app_cache()
    name = key(kind, *stamp)
    kept = cache.get(name)
    if not isinstance(kept, bytes):  # none kept (or text an earlier release kept in a shared cache)
        csrf_token()  # the session's kept token, for the page's forms too
        drawn = draw()
        if not (isinstance(drawn, tuple) and len(drawn) == 2 and isinstance(drawn[0], str) and drawn[1] == 200):
            return drawn  # a redirect, an error page: never kept
        text, status = drawn
        token = csrf_token()
        cache.set(name, (text.replace(token, CSRF_MARK) if token else text).encode("utf-8"), timeout=TIMEOUT)
        return text, status
    return kept.replace(CSRF_MARK_BYTES, csrf_token().encode("ascii")), 200


def body(kind: str, stamp: tuple, draw: Callable[[], tuple[bytes, bool]]) -> bytes:
    """An API body for ``stamp`` (no CSRF token in it): kept bytes, or the bytes ``draw()`` answers
    with whether they may be kept (they show exactly ``stamp``)."""
    if not current_app.config.get("PAGE_CACHE", True):
        return draw()[0]
    cache = app_cache()
    name = key(kind, *stamp)
    kept = cache.get(name)
    if kept is None:
        kept, keep = draw()
        if keep:
            cache.set(name, kept, timeout=TIMEOUT)
    return kept
