"""An institution registers, self-assesses with the keyboard only, closes the browser half-way,
resumes with nothing lost, submits and downloads its PDF — in real Chromium."""
from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

pytestmark = pytest.mark.e2e

EMAIL, PASSWORD = "coordinacion@cetpro-e2e.example", "e2e-password-1"
INSTITUTION = "CETPRO E2E <Norte>"


def focus_by_tab(page, predicate_js: str, limit: int = 80) -> None:
    """Press Tab until the focused element satisfies ``predicate_js`` (an expression over ``el``)."""
    for _ in range(limit):
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!(el && ({predicate_js})); }})()"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"never focused: {predicate_js}")


def answer_criterion(page, crit_id: str, level: int, evidence: str) -> None:
    focus_by_tab(page, f"el.name === 'crit_{crit_id}'")
    checked = page.evaluate(f"document.querySelector('input[name=crit_{crit_id}]:checked')?.value || null")
    if checked is None:
        page.keyboard.press("Space")  # checks level 1, where the group's first radio has focus
        current = 1
    else:
        current = int(checked)
    for _ in range(abs(level - current)):
        page.keyboard.press("ArrowRight" if level > current else "ArrowLeft")
    page.keyboard.press("Tab")
    focus_by_tab(page, f"el.id === 'evidence_{crit_id}'")
    page.keyboard.type(evidence)


def wait_saved(page) -> None:
    """Wait until the page says its draft was saved automatically (autosave.js says so only once
    nothing is scheduled, running or queued)."""
    page.wait_for_function("() => { const s = document.getElementById('autosave-status');"
                           " return s && s.dataset.saved && s.textContent === s.dataset.saved; }", timeout=20_000)


def press_button(page, value: str) -> None:
    focus_by_tab(page, f"el.tagName === 'BUTTON' && el.value === '{value}'")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def wait_focus(page, element_id: str) -> None:
    """Wait until autofocus has put the caret in ``element_id``."""
    page.wait_for_function("(id) => document.activeElement && document.activeElement.id === id", arg=element_id,
                           timeout=20_000)


def login(page, base: str) -> None:
    page.goto(f"{base}/login")
    wait_focus(page, "email")
    page.keyboard.type(EMAIL)  # the e-mail field has autofocus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")


def level_for(index: int) -> int:
    return (index % 5) + 1


def test_register_assess_close_resume_submit_download(live_server, browser_factory, tmp_path):
    base, app = live_server
    rubric = app.extensions["instruments"].latest("ifp-migrant-inclusion")
    criteria = list(rubric.criteria)
    dims = list(rubric.dimensions)

    # 1. Register with the keyboard.
    browser = browser_factory()
    page = browser.new_page(locale="es-PE")
    page.goto(f"{base}/register")
    wait_focus(page, "institution_name")
    page.keyboard.type(INSTITUTION)
    page.keyboard.press("Tab")  # the country picker's search box
    page.keyboard.type("Perú")
    page.keyboard.press("Enter")  # the only match is chosen and the list gets the focus
    assert page.evaluate("document.activeElement.id") == "country"
    assert page.evaluate("document.getElementById('country').value") == "PE"
    page.keyboard.press("Tab")
    page.keyboard.type("Lima")
    page.keyboard.press("Tab")  # type of institution: keep the default
    page.keyboard.press("Tab")  # public/private: keep the default
    page.keyboard.press("Tab")
    page.keyboard.type("Rosa Quispe")
    page.keyboard.press("Tab")
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{base}/register"  # "check your e-mail": the account opens with the link sent to the address

    # 1b. Follow the confirmation link (read from the app's in-memory outbox) and confirm with the keyboard.
    (message,) = [m for m in app.extensions["mail_outbox"] if m.to == EMAIL]
    link = re.search(r"https?://\S+", message.body).group(0)
    page.goto(link)
    wait_focus(page, "confirm-button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == f"{base}/"
    assert "CETPRO E2E &lt;Norte&gt;" in page.content()

    # 2. Start an assessment.
    focus_by_tab(page, "el.tagName === 'A' && el.getAttribute('href') === '/assessments/new'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    focus_by_tab(page, "el.id === 'start-button'")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/d/policy" in page.url

    # 3. Answer the first three dimensions and move on with the keyboard.
    answered = 0
    for dim in dims[:3]:
        for crit in dim.criteria:
            answer_criterion(page, crit.id, level_for(answered), f"Evidencia {crit.id}")
            answered += 1
        press_button(page, "next")
    assert f"/d/{dims[3].id}" in page.url
    # Half of the fourth dimension: saved by autosave only, then the browser is closed.
    half = dims[3].criteria[0]
    answer_criterion(page, half.id, level_for(answered), "Evidencia a medias")
    page.keyboard.press("Tab")  # leave the textarea so its change is sent too
    wait_saved(page)
    answered += 1
    browser.close()

    # 4. Resume in a new browser: nothing is lost.
    browser = browser_factory()
    page = browser.new_page(locale="es-PE")
    login(page, base)
    assert page.url == f"{base}/", page.url
    focus_by_tab(page, "el.tagName === 'A' && /\\/assessments\\/\\d+$/.test(el.getAttribute('href') || '')")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"/d/{dims[3].id}" in page.url
    assert page.is_checked(f"input[name=crit_{half.id}][value='{level_for(answered - 1)}']")
    assert page.input_value(f"#evidence_{half.id}") == "Evidencia a medias"
    assert f"{answered} de 18" in page.text_content(".progress")

    for crit in dims[3].criteria[1:]:
        answer_criterion(page, crit.id, level_for(answered), f"Evidencia {crit.id}")
        answered += 1
    press_button(page, "next")
    for dim in dims[4:]:
        for crit in dim.criteria:
            answer_criterion(page, crit.id, level_for(answered), f"Evidencia {crit.id}")
            answered += 1
        press_button(page, "next")
    assert answered == len(criteria) == 18
    assert page.url.endswith("/review")

    # 5. Submit and download the PDF.
    focus_by_tab(page, "el.tagName === 'BUTTON' && el.textContent.includes('Enviar')")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/results")
    assert page.locator("svg.chart").count() == 2  # the radar and the benchmark against country and region
    focus_by_tab(page, "el.id === 'download-pdf'")
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    path = tmp_path / "plan.pdf"
    download_info.value.save_as(path)
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(path.read_bytes())).pages)
    assert "CETPRO E2E <Norte>" in text
    assert "Plan de mejora" in text
    browser.close()
