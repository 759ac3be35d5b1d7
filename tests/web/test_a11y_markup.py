"""Markup for keyboards and screen readers on the member's pages: described-by links, headings, lang, the sticky bar."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.conftest import login

from .helpers import set_language

STATIC = Path(__file__).resolve().parents[2] / "rubric_app" / "static"


class _Elements(HTMLParser):
    """Every start tag with its attributes, the headings in order, and the text inside elements with ``lang``."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.headings: list[int] = []
        self.ids: set[str] = set()
        self.html_lang: str | None = None
        self._stack: list[str | None] = []  # the lang in force for each open element
        self.text_by_lang: dict[str | None, str] = {}
        self._svg_depth = 0

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "html":
            self.html_lang = attrs.get("lang")
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "svg":
            self._svg_depth += 1
        if tag not in self.VOID:
            inherited = self._stack[-1] if self._stack else None
            self._stack.append(attrs.get("lang", inherited))

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg_depth -= 1
        if tag not in self.VOID and self._stack:
            self._stack.pop()

    def handle_data(self, data):
        if self.lasttag == "title" and self._stack and len(self._stack) <= 3:
            return  # the document title cannot carry a lang of its own
        if self._svg_depth:
            return  # charts are images (role="img"): screen readers read their title, not their text
        lang = self._stack[-1] if self._stack else None
        self.text_by_lang[lang] = self.text_by_lang.get(lang, "") + data


def elements(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    parser.close()
    return parser


def assert_describedby_resolves(html: str):
    """No aria-describedby="None" (or empty), and every id it names exists in the page."""
    parsed = elements(html)
    for tag, attrs in parsed.tags:
        described = attrs.get("aria-describedby")
        if described is None:
            continue
        assert described.strip() and described != "None", (tag, attrs)
        for ref in described.split():
            assert ref in parsed.ids, (tag, attrs, ref)


def assert_heading_order(html: str):
    """One h1 first, and no heading skips a level on the way down."""
    levels = elements(html).headings
    assert levels and levels[0] == 1 and levels.count(1) == 1, levels
    for before, after in zip(levels, levels[1:]):
        assert after <= before + 1, levels


def member_pages(member_client, aid_draft, aid_submitted, rubric) -> dict[str, str]:
    pages = {"home": "/", "account": "/account", "password": "/account/password",
             "dimension": f"/assessments/{aid_draft}/d/{rubric.dimensions[0].id}", "review": f"/assessments/{aid_draft}/review",
             "results": f"/assessments/{aid_submitted}/results", "institution": "/account/institution"}
    out = {}
    for name, url in pages.items():
        response = member_client.get(url)
        assert response.status_code == 200, (name, url, response.status_code)
        out[name] = response.get_data(as_text=True)
    return out


def test_member_pages_have_no_dangling_describedby_and_sane_headings(app, member_client, member, factory, rubric):
    submitted = factory_submitted(app, factory, member)
    start = member_client.get("/assessments/new").get_data(as_text=True)  # offered while no draft is in progress
    assert 'aria-describedby="None"' not in start and 'aria-describedby="language-hint"' in start
    assert_describedby_resolves(start)
    draft = factory.assessment(member, levels=2)
    for name, html in member_pages(member_client, draft, submitted, rubric).items():
        assert 'aria-describedby="None"' not in html, name
        assert_describedby_resolves(html)
        if name in ("dimension", "results", "review"):
            assert_heading_order(html)


def factory_submitted(app, factory, member) -> int:
    """A submitted assessment of the member's institution, by a colleague (the member keeps one draft at most)."""
    return factory.assessment(factory.user("member", institution=member.institution), levels=3, submit=True)


def test_forms_with_errors_link_the_errors_and_forms_without_do_not(client):
    register = client.get("/register").get_data(as_text=True)
    assert 'aria-describedby="None"' not in register
    # a field without a hint and without an error has no aria-describedby at all
    email = re.search(r'<input[^>]*id="email"[^>]*>', register).group(0)
    assert "aria-describedby" not in email and "aria-invalid" not in email
    refused = client.post("/register", data={"institution_name": "", "email": "x", "password": "short", "confirm": "other"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert_describedby_resolves(html)
    email = re.search(r'<input[^>]*id="email"[^>]*>', html).group(0)
    assert 'aria-describedby="email-err"' in email and 'aria-invalid="true"' in email
    password = re.search(r'<input[^>]*id="password"[^>]*>', html).group(0)
    assert re.search(r'aria-describedby="password-hint( password-err)?"', password)
    confirm = re.search(r'<input[^>]*id="confirm"[^>]*>', html).group(0)
    assert 'aria-describedby="confirm-err"' in confirm and 'id="confirm-err"' in html


@pytest.mark.parametrize("path", ["/register", "/account/password"])
def test_the_password_hint_is_linked_to_its_field(client, member, path):
    if path.startswith("/account"):
        login(client, member)
    html = client.get(path).get_data(as_text=True)
    password = re.search(r'<input[^>]*id="password"[^>]*>', html).group(0)
    assert 'aria-describedby="password-hint"' in password
    hint = re.search(r'<small id="password-hint">([^<]+)</small>', html)
    assert hint and len(hint.group(1)) > 20


def test_the_reset_page_links_the_password_hint(app, client, member):
    from tests.web.test_accounts import link_in, outbox

    client.post("/forgot", data={"email": member.email})
    link = link_in(outbox(app, member.email)[-1])
    html = client.get(link).get_data(as_text=True)
    password = re.search(r'<input[^>]*id="password"[^>]*>', html).group(0)
    assert 'aria-describedby="password-hint"' in password and 'id="password-hint"' in html


def test_criteria_are_fieldsets_with_headings(member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=2)
    dim = rubric.dimensions[1]
    html = member_client.get(f"/assessments/{aid}/d/{dim.id}").get_data(as_text=True)
    legends = re.findall(r"<legend>(.*?)</legend>", html, re.S)
    assert len(legends) == len(dim.criteria)
    for crit, legend in zip(dim.criteria, legends):
        assert re.match(rf'<h2 class="criterion-title" id="c-title-{crit.id}">', legend)
        assert crit.title("es") in legend
        assert f'aria-labelledby="c-title-{crit.id}"' in html  # the level choices are named by that heading
    assert_heading_order(html)


@pytest.mark.parametrize("interface,assessment", [("es", "en"), ("en", "pt"), ("pt", "es")])
def test_instrument_text_carries_the_assessment_language_when_it_differs(app, member_client, member, factory, rubric, interface,
                                                                         assessment):
    draft = factory.assessment(member, levels=2, language=assessment)
    done = factory_submitted_in(app, factory, member, assessment)
    set_language(member_client, interface)
    dim = rubric.dimensions[0]
    crit = dim.criteria[0]
    for url in (f"/assessments/{draft}/d/{dim.id}", f"/assessments/{draft}/review", f"/assessments/{done}/results"):
        html = member_client.get(url).get_data(as_text=True)
        parsed = elements(html)
        assert parsed.html_lang == interface, url
        inside = parsed.text_by_lang.get(assessment, "")
        outside = "".join(text for lang, text in parsed.text_by_lang.items() if lang != assessment)
        for wording in (crit.title(assessment), dim.name(assessment), rubric.level_name(2, assessment)):
            assert wording in inside, (url, wording)
            assert wording not in outside or wording == crit.title(interface), (url, wording)
        if "/d/" in url:
            assert crit.descriptors[3](assessment) in inside
            assert crit.descriptors[3](assessment) not in outside


def factory_submitted_in(app, factory, member, language: str) -> int:
    return factory.assessment(factory.user("member", institution=member.institution), levels=2, language=language, submit=True)


def test_no_lang_marks_when_the_languages_match(member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=2, language="es")
    html = member_client.get(f"/assessments/{aid}/d/{rubric.dimensions[0].id}").get_data(as_text=True)
    assert '<html lang="es">' in html
    assert ' lang="es"' not in html.split("<main", 1)[1]


def test_the_sticky_bar_never_hides_a_focused_field(member_client, member, factory, rubric):
    """WCAG 2.4.11: scroll padding as tall as the sticky bar, and a script that scrolls a field out from under it."""
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    assert re.search(r"html[^{]*\{[^}]*scroll-padding-bottom:[^}]*--sticky-bar-height", css)
    script = (STATIC / "forms.js").read_text(encoding="utf-8")
    assert "focusin" in script and "--sticky-bar-height" in script and "scrollBy" in script
    assert "beforeunload" in script and "removeEventListener(\"beforeunload\"" in script  # a warning only while dirty
    aid = factory.assessment(member, levels=2)
    html = member_client.get(f"/assessments/{aid}/d/{rubric.dimensions[0].id}").get_data(as_text=True)
    assert "forms.js" in html and 'class="actions"' in html
