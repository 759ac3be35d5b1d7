"""Shared helpers for the web integration tests (Flask test client)."""
from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

from rubric_app.extensions import db

TRANSLATIONS = Path(__file__).resolve().parents[2] / "rubric_app" / "translations"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
INSTRUMENT = "ifp-migrant-inclusion"


def csrf_token(page: str | bytes) -> str:
    """The CSRF token of the first form in an HTML page."""
    text = page.decode() if isinstance(page, bytes) else page
    match = CSRF_RE.search(text)
    assert match, "no csrf_token field in the page"
    return match.group(1)


def text(response) -> str:
    """The response body as text, HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


@lru_cache(maxsize=None)
def _catalog(lang: str):
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=lang)


def tr(lang: str, msgid: str) -> str:
    """The catalog translation of ``msgid`` (the msgid itself when absent or empty)."""
    message = _catalog(lang).get(msgid)
    return (message.string if message is not None and message.string else msgid)


def set_language(client, lang: str) -> None:
    response = client.post("/language", data={"lang": lang})
    assert response.status_code == 302


def count(app, model, **where) -> int:
    """Rows of ``model`` matching the equality filters, read in a session of its own."""
    from sqlalchemy import func, select

    with app.app_context():
        s = db.new_session()
        try:
            query = select(func.count()).select_from(model)
            for name, value in where.items():
                query = query.where(getattr(model, name) == value)
            return s.scalar(query)
        finally:
            s.close()


def assessment_row(app, assessment_id: int) -> dict:
    """Status, round and answers (by criterion) of one assessment, as plain data."""
    from rubric_app.models import Assessment

    with app.app_context():
        s = db.new_session()
        try:
            a = s.get(Assessment, assessment_id)
            return {
                "status": a.status,
                "round": a.round_number,
                "previous_id": a.previous_id,
                "language": a.language,
                "institution_id": a.institution_id,
                "answers": {r.criterion_id: {"level": r.level, "not_applicable": r.not_applicable, "na_reason": r.na_reason,
                                             "target": r.target, "evidence": r.evidence} for r in a.answers},
                "plan": {p.criterion_id: {"responsible": p.responsible, "due_date": p.due_date, "status": p.status, "note": p.note}
                         for p in a.plan_items},
            }
        finally:
            s.close()


def user_row(app, email: str):
    from sqlalchemy import select

    from rubric_app.models import User

    with app.app_context():
        s = db.new_session()
        try:
            return s.scalar(select(User).where(User.email == email))
        finally:
            s.close()


def dimension_data(dimension, level="3", go="save", **extra) -> dict:
    """Form data answering every criterion of ``dimension`` with ``level`` ("1".."5" or "na")."""
    data = {"go": go}
    for crit in dimension.criteria:
        data[f"crit_{crit.id}"] = str(level)
        data[f"na_reason_{crit.id}"] = "No aplica aquí" if level == "na" else ""
        data[f"evidence_{crit.id}"] = ""
        data[f"target_{crit.id}"] = ""
    data.update(extra)
    return data


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
