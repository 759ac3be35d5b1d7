"""Shared helpers for the web integration tests (Flask test client)."""
from __future__ import annotations

import html
import re
from functools import lru_cache
from html.parser import HTMLParser
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


class _HiddenInputs(HTMLParser):
    """Collects name -> value of every ``<input type="hidden">`` of a page (values unescaped)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        if tag != "input":
            return
        attrs = dict(attrs)
        if (attrs.get("type") or "").lower() == "hidden" and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""

    handle_startendtag = handle_starttag


def hidden_fields(page: str | bytes) -> dict[str, str]:
    """Every hidden input of an HTML page as name -> value, as a browser would send it."""
    parser = _HiddenInputs()
    parser.feed(page.decode() if isinstance(page, bytes) else page)
    parser.close()
    return parser.fields


def page_fields(client, url: str) -> dict[str, str]:
    """GET ``url`` (as a browser opens a page before posting its form) and return its hidden fields."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return hidden_fields(response.get_data(as_text=True))


class _FormControls(HTMLParser):
    """What a browser submits for one form left as shown: hidden and text inputs, checked radios and
    boxes, textareas, the selected option of each select (values unescaped)."""

    def __init__(self, form_id: str | None):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = form_id is None
        self.fields: dict[str, str] = {}
        self._textarea: str | None = None
        self._select: str | None = None
        self._first_option: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = self.form_id is None or attrs.get("id") == self.form_id
            return
        if not self.inside:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = (attrs.get("type") or "text").lower()
            if kind in ("radio", "checkbox"):
                if "checked" in attrs:
                    self.fields[name] = attrs.get("value") or "on"
            elif kind not in ("submit", "button", "file", "image", "reset"):
                self.fields[name] = attrs.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.fields[name] = ""
        elif tag == "select" and name:
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            value = attrs.get("value") or ""
            if self._first_option is None:
                self._first_option = value
                self.fields.setdefault(self._select, value)
            if "selected" in attrs:
                self.fields[self._select] = value

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = self.form_id is None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data):
        if self._textarea is not None:
            if not self.fields[self._textarea]:  # browsers drop one newline right after <textarea>
                data = data[2:] if data.startswith("\r\n") else data[1:] if data.startswith("\n") else data
            self.fields[self._textarea] += data


def parse_form(page: str | bytes, form_id: str | None = None) -> dict[str, str]:
    """What a browser would post from the form ``form_id`` of a page (every form's controls when
    None; a later control of the same name wins) if nobody touched it."""
    parser = _FormControls(form_id)
    parser.feed(page.decode() if isinstance(page, bytes) else page)
    parser.close()
    return parser.fields


def form_fields(client, url: str, form_id: str = "dimension-form") -> dict[str, str]:
    """GET ``url`` and return what a browser would post from the form ``form_id`` if nobody touched it."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    fields = parse_form(response.get_data(as_text=True), form_id)
    assert fields, f"no form {form_id!r} at {url}"
    return fields


def effective_target(answer: dict) -> int | None:
    """The target an answer row of :func:`assessment_row` stands for (None stored: it follows the level)."""
    from rubric_app.domain.scoring import CriterionAnswer

    return CriterionAnswer("", answer["level"], answer["not_applicable"], answer["na_reason"], answer["target"]).effective_target


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
