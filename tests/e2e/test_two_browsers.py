"""Two people answer the same dimension page in two real browsers: autosave merges what each
changed, and a field both changed is shown as a conflict each can resolve (keep mine / use theirs)."""
from __future__ import annotations

import pytest

from tests.conftest import PASSWORD, Factory
from tests.web.helpers import assessment_row

pytestmark = pytest.mark.e2e


def sign_in(browser, base: str, email: str):
    context = browser.new_context(locale="es-ES", viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    return page


def wait_for_status(page, saved: bool) -> None:
    """Wait until the autosave status says saved (or not saved)."""
    page.wait_for_function(
        "([saved]) => { const s = document.getElementById('autosave-status');"
        " return saved ? s.textContent === s.dataset.saved : s.textContent.startsWith(s.dataset.failed); }",
        arg=[saved], timeout=15_000)


def test_two_browsers_merge_and_resolve_conflicts(live_server, browser_factory):
    base, app = live_server
    factory = Factory(app)
    rubric = app.extensions["instruments"].latest("ifp-migrant-inclusion")
    dim = rubric.dimensions[0]
    c1, c2, c3 = (c.id for c in dim.criteria)
    member = factory.user()
    colleague = factory.user(institution=member.institution)
    aid = factory.assessment(member, levels={c1: 2, c2: 2, c3: 2})
    url = f"{base}/assessments/{aid}/d/{dim.id}"

    browser = browser_factory()
    a, b = sign_in(browser, base, member.email), sign_in(browser, base, colleague.email)
    a.goto(url)
    b.goto(url)

    # A and B change different criteria: both land
    a.fill(f"#evidence_{c1}", "Informe A")
    wait_for_status(a, saved=True)
    b.check(f"input[name=crit_{c2}][value='4']")
    wait_for_status(b, saved=True)
    answers = assessment_row(app, aid)["answers"]
    assert (answers[c1]["evidence"], answers[c2]["level"]) == ("Informe A", 4)
    # B's page took in A's evidence (B had not touched that field)
    assert b.input_value(f"#evidence_{c1}") == "Informe A"

    # both change the evidence of c3: B is shown both and uses theirs
    a.fill(f"#evidence_{c3}", "Convenio con la SPE (A)")
    wait_for_status(a, saved=True)
    b.fill(f"#evidence_{c3}", "Convenio con el SENA (B)")
    b.wait_for_selector(f"#conflict-{c3}:not([hidden])", timeout=15_000)
    box = b.text_content(f"#conflict-{c3}")
    assert "Convenio con la SPE (A)" in box and "Convenio con el SENA (B)" in box
    assert b.get_attribute(f"#c-{c3}", "class").count("has-error") == 1
    b.click(f"#conflict-{c3} button[data-keep=theirs]")
    assert b.input_value(f"#evidence_{c3}") == "Convenio con la SPE (A)"
    assert b.is_hidden(f"#conflict-{c3}")
    assert assessment_row(app, aid)["answers"][c3]["evidence"] == "Convenio con la SPE (A)"

    # again on c1; this time A keeps its own
    b.fill(f"#evidence_{c1}", "Informe B")
    wait_for_status(b, saved=True)
    a.fill(f"#evidence_{c1}", "Informe A, revisado")
    a.wait_for_selector(f"#conflict-{c1}:not([hidden])", timeout=15_000)
    # told in the page's language
    assert "Otra persona cambió una respuesta que usted también cambió" in a.text_content("#autosave-status")
    assert "Guardado por la otra persona" in a.text_content(f"#conflict-{c1}")
    a.click(f"#conflict-{c1} button[data-keep=mine]")
    wait_for_status(a, saved=True)
    answers = assessment_row(app, aid)["answers"]
    assert answers[c1]["evidence"] == "Informe A, revisado"
    assert (answers[c2]["level"], answers[c3]["evidence"]) == (4, "Convenio con la SPE (A)")
    # the page still fits a phone
    b.set_viewport_size({"width": 360, "height": 740})
    assert b.evaluate("document.documentElement.scrollWidth") <= 360 + 1
