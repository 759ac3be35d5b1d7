"""Each role's whole journey in real Chromium, at 1440 and 360 px wide, in Spanish and Portuguese.

Every page visited is checked (tests/e2e/axe.py): axe-core with 0 violations of any impact, colour
contrast included; the page's lang is the one asked for; chart text drawn at 12 px or more; at
360 px, no horizontal overflow (the page must not be wider than the screen). The key action of each
journey (submit, validate, import, deactivate) is reached with the Tab key and pressed with Enter,
with a visible focus; on the dimension and plan pages no focused control hides behind a sticky bar.
A journey goes on after a page fails those checks and reports every failing page at its end; a
step of the journey that cannot be done fails at once.

Set E2E_SCREENSHOTS=<folder> to keep a full-page screenshot of every page checked.
"""
from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import pytest

from rubric_app.extensions import db
from rubric_app.models import Institution, User
from tests.conftest import PASSWORD, Factory
from tests.e2e.axe import PageChecker
from tests.web.helpers import assessment_row

pytestmark = pytest.mark.e2e

LOCALES = {"es": "es-419", "pt": "pt-BR"}
VIEWPORTS = {1440: {"width": 1440, "height": 900}, 360: {"width": 360, "height": 740}}
INSTRUMENT = "ifp-migrant-inclusion"
PROVIDERS = "sde-provider-assessment"
TIMEOUT = 20_000  # for each step; reached only when a step fails (slow machines under load)

journey = pytest.mark.parametrize("width,lang", [(1440, "es"), (360, "es"), (1440, "pt"), (360, "pt")],
                                  ids=["1440-es", "360-es", "1440-pt", "360-pt"])


# ----------------------------------------------------------------------------- helpers


def checker(role: str, width: int, lang: str) -> PageChecker:
    folder = os.environ.get("E2E_SCREENSHOTS")
    return PageChecker(f"{role}-{width}-{lang}", width, lang, Path(folder) if folder else None)


def new_page(browser, width: int, lang: str):
    context = browser.new_context(locale=LOCALES[lang], viewport=VIEWPORTS[width], accept_downloads=True)
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # confirmations ("freeze the round?") are answered yes
    return page


def submit(page, button_selector: str) -> None:
    """Click a submit button and wait for the page it leads to."""
    with page.expect_navigation():
        page.click(button_selector)


def sign_in(browser, base: str, email: str, width: int, lang: str, check: PageChecker | None = None):
    page = new_page(browser, width, lang)
    page.goto(f"{base}/login")
    if check is not None:
        check.check(page, "sign in")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    submit(page, "main form button[type=submit]")
    assert not page.url.endswith("/login"), f"{email} could not sign in"
    return page


def fetch(page, url: str, content_type: str) -> bytes:
    """GET ``url`` with the page's cookies (a download or export link) and check what came back."""
    response = page.request.get(url)
    assert response.status == 200, (url, response.status)
    assert response.headers.get("content-type", "").startswith(content_type), (url, response.headers.get("content-type"))
    return response.body()


def href(page, selector: str) -> str:
    link = page.locator(selector).first
    link.wait_for()
    return link.get_attribute("href")


def flash_shown(page) -> str:
    page.wait_for_selector(".flash")
    return page.locator(".flash").first.text_content()


def seeded(app, fn):
    """Run ``fn(session)`` in a session of its own and commit."""
    with app.app_context():
        s = db.new_session()
        try:
            result = fn(s)
            s.commit()
            return result
        finally:
            s.close()


# ----------------------------------------------------------------------------- member


@journey
def test_member_journey(live_server, journey_browser, width, lang):
    """Register, answer with autosave, close the browser and resume, submit, plan, PDF, a second round."""
    base, app = live_server
    rubric = app.extensions["instruments"].latest(INSTRUMENT)
    dims = list(rubric.dimensions)
    check = checker("member", width, lang)
    email = f"coordinacion-{width}-{lang}@cetpro.example"
    password = PASSWORD

    page = new_page(journey_browser, width, lang)
    page.goto(f"{base}/")
    check.check(page, "landing")
    page.goto(f"{base}/rules")
    check.check(page, "scoring rules")

    # register
    page.goto(f"{base}/register")
    check.check(page, "register")
    page.fill("#institution_name", "CETPRO Lima Norte")
    page.select_option("select[name=country]", "PE")
    page.fill("#city", "Lima")
    page.fill("#name", "Rosa Quispe")
    page.fill("#email", email)
    page.fill("#password", password)
    page.fill("#confirm", password)
    submit(page, "main form button[type=submit]")
    check.check(page, "check your e-mail")
    (message,) = [m for m in app.extensions["mail_outbox"] if m.to == email]
    page.goto(re.search(r"https?://\S+", message.body).group(0))
    check.check(page, "confirm the address")
    submit(page, "#confirm-button")
    assert page.url == f"{base}/"
    check.check(page, "home, no assessment yet")

    # start, answer three dimensions, half of the fourth by autosave only
    page.goto(f"{base}/assessments/new")
    check.check(page, "start")
    submit(page, "#start-button")
    assessment_id = int(re.search(r"/assessments/(\d+)/d/", page.url).group(1))
    levels = {c.id: (i % 5) + 1 for i, c in enumerate(rubric.criteria)}
    for dim in dims[:3]:
        assert page.url.endswith(f"/d/{dim.id}")
        check.check(page, f"dimension {dim.id}")
        if dim is dims[0]:
            check.check_focus(page, f"dimension {dim.id}")
        for crit in dim.criteria:
            page.check(f"input[name=crit_{crit.id}][value='{levels[crit.id]}']")
        page.fill(f"#evidence_{dim.criteria[0].id}", f"Acta {dim.id}")
        submit(page, "button[name=go][value=next]")
    half = dims[3].criteria[0]
    page.check(f"input[name=crit_{half.id}][value='{levels[half.id]}']")
    page.fill(f"#evidence_{half.id}", "Evidencia a medias")
    page.wait_for_function("() => { const s = document.getElementById('autosave-status');"
                           " return s && s.dataset.saved && s.textContent === s.dataset.saved; }")
    page.context.close()
    assert assessment_row(app, assessment_id)["answers"][half.id]["evidence"] == "Evidencia a medias"

    # resume in a new browser context: nothing lost
    page = sign_in(journey_browser, base, email, width, lang, check)
    check.check(page, "home, draft in progress")
    submit(page, f"main a[href='/assessments/{assessment_id}']")
    assert page.url.endswith(f"/d/{dims[3].id}"), page.url
    assert page.is_checked(f"input[name=crit_{half.id}][value='{levels[half.id]}']")
    assert page.input_value(f"#evidence_{half.id}") == "Evidencia a medias"
    for dim in dims[3:]:
        check.check(page, f"dimension {dim.id}")
        for crit in dim.criteria:
            page.check(f"input[name=crit_{crit.id}][value='{levels[crit.id]}']")
        submit(page, "button[name=go][value=next]")
    assert page.url.endswith(f"/assessments/{assessment_id}/review"), page.url
    check.check(page, "review before submitting")

    # submit
    check.keyboard(page, "review before submitting", f"form[action$='/assessments/{assessment_id}/submit'] button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/assessments/{assessment_id}/results"), page.url
    assert assessment_row(app, assessment_id)["status"] == "submitted"
    check.check(page, "results and plan")
    check.check_focus(page, "results and plan")

    # the plan: a responsible person and a due date for the first item, saved
    responsible = page.locator("main [name$=responsible]").first
    responsible.fill("Jefa de admisión")
    page.locator("main [name$=due_date]").first.fill("2030-06-30")
    save = page.locator("#save-plan")
    if not save.count():  # one Save per item
        save = responsible.locator("xpath=ancestor::form[1]//button[@type='submit']").first
    with page.expect_navigation():
        save.click()
    check.check(page, "plan saved")
    plan = assessment_row(app, assessment_id)["plan"]
    assert "Jefa de admisión" in [item["responsible"] for item in plan.values()], plan

    # the PDF
    with page.expect_download() as download:
        page.click("#download-pdf")
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF")

    # a second round, from the answers of the first
    page.goto(f"{base}/")
    check.check(page, "home, submitted")
    page.goto(f"{base}/assessments/new")
    check.check(page, "start round 2")
    previous = page.locator("[name=from_previous]")
    if previous.count():
        if previous.first.get_attribute("type") in ("radio", "checkbox"):
            page.check("[name=from_previous][value='1']")
        else:
            page.select_option("[name=from_previous]", "1")
    submit(page, "#start-button")
    second = int(re.search(r"/assessments/(\d+)/d/", page.url).group(1))
    assert second != assessment_id
    row = assessment_row(app, second)
    assert (row["round"], row["previous_id"]) == (2, assessment_id)
    check.check(page, "round 2, first dimension")
    page.context.close()
    check.assert_clean()


# ----------------------------------------------------------------------------- reviewer


def submitted_assessments(app, factory: Factory, rubric) -> list[int]:
    """Three institutions in Peru and three in Colombia, each with a submitted self-assessment."""
    ids = []
    for i, country in enumerate(("PE", "PE", "PE", "CO", "CO", "CO")):
        inst = factory.institution(name=f"Instituto {country} {i + 1}", country=country,
                                   type=("national_service", "ngo", "training_centre")[i % 3])
        member = factory.user(institution=inst)
        levels = {c.id: ((i + j) % 5) + 1 for j, c in enumerate(rubric.criteria)}
        ids.append(factory.assessment(member, levels=levels, submit=True))
    return ids


@journey
def test_reviewer_journey(live_server, journey_browser, width, lang):
    """Queue, validate with changed levels, return, audit log, comparison, exports."""
    base, app = live_server
    rubric = app.extensions["instruments"].latest(INSTRUMENT)
    factory = Factory(app)
    ids = submitted_assessments(app, factory, rubric)
    reviewer = factory.user("reviewer")
    check = checker("reviewer", width, lang)

    page = sign_in(journey_browser, base, reviewer.email, width, lang)
    check.check(page, "home")
    page.goto(f"{base}/review")
    check.check(page, "review queue")
    page.select_option("#f-country", "PE")
    submit(page, "main form.filters button[type=submit]")
    check.check(page, "review queue, Peru")

    # validate one, changing two levels with a comment each
    submit(page, f"main a[href='/review/{ids[0]}']")
    check.check(page, "review")
    first, second = rubric.criteria[0].id, rubric.criteria[1].id
    for crit_id in (first, second):
        current = page.input_value(f"#level_{crit_id}")
        page.select_option(f"#level_{crit_id}", "5" if current != "5" else "4")
        page.fill(f"#comment_{crit_id}", f"Sin acta que lo respalde ({crit_id})")
    check.keyboard(page, "review", "button[name=action][value=validate]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    flash_shown(page)
    check.check(page, "queue after validating")
    answers = assessment_row(app, ids[0])
    assert answers["status"] == "validated"
    assert answers["answers"][first]["level"] is not None

    # return another one to the institution
    page.goto(f"{base}/review/{ids[1]}")
    page.fill("#return_comment", "Adjunte el convenio con el servicio público de empleo.")
    submit(page, "button[name=action][value=return]")
    flash_shown(page)
    check.check(page, "queue after returning")
    assert assessment_row(app, ids[1])["status"] == "draft"

    # results of the validated one, the audit log and its CSV
    page.goto(f"{base}/assessments/{ids[0]}/results")
    check.check(page, "results of a validated assessment")
    page.goto(f"{base}/review/audit")
    check.check(page, "audit log")
    assert fetch(page, f"{base}/review/audit.csv", "text/csv")

    # comparison of Peru and Colombia, then its exports
    page.goto(f"{base}/compare")
    check.check(page, "comparison form")
    page.select_option("#f-countries", ["PE", "CO"])
    submit(page, "main form.filters button[type=submit]")
    check.check(page, "comparison")
    for fmt, kind in (("csv", "text/csv"), ("xlsx", "application/vnd.openxmlformats"), ("json", "application/json")):
        assert fetch(page, base + href(page, f"main a[href*='/compare/export.{fmt}']"), kind)
    assert fetch(page, base + href(page, "main a[href*='/compare/report.pdf']"), "application/pdf").startswith(b"%PDF")

    # a page that does not exist
    page.goto(f"{base}/review/999999")
    check.check(page, "not found")
    page.context.close()
    check.assert_clean()


# ----------------------------------------------------------------------------- staff


def provider_csv(app) -> bytes:
    """Three new providers in the import layout of the provider instrument."""
    inst = app.extensions["instruments"].latest(PROVIDERS)
    cols = ["code", "name", "country", "city", "type", "contact_name", "contact_email", "contact_phone"]
    cols += [f.id for f in inst.eligibility] + [i.id for i in inst.items]
    rows = [("PE-901", "Cámara de Comercio de Lima Norte", "PE", "Lima", "chamber", "3"),
            ("CO-902", "Fundación Emprender Cúcuta", "CO", "Cúcuta", "ngo", "2"),
            ("AR-903", "Incubadora Social Rosario", "AR", "Rosario", "other", "4")]
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(cols)
    for code, name, country, city, ptype, score in rows:
        writer.writerow([code, name, country, city, ptype, "Ana Pérez", "ana@example.org", "+51 1 555 0101"]
                        + ["yes"] * len(inst.eligibility) + [score] * len(inst.items))
    return buf.getvalue().encode("utf-8")


@journey
def test_staff_journey(live_server, journey_browser, width, lang, tmp_path):
    """Providers: import (dry run, then apply); a selection round: run, override, freeze, letters."""
    base, app = live_server
    from rubric_app.services.providers import provider_instrument, seed_synthetic_providers

    seeded(app, lambda s: seed_synthetic_providers(s, provider_instrument(app.extensions["instruments"]), 24, 2026))
    staff = Factory(app).user("staff")
    check = checker("staff", width, lang)

    page = sign_in(journey_browser, base, staff.email, width, lang)
    check.check(page, "home")
    page.goto(f"{base}/providers")
    check.check(page, "providers")

    # import: a dry run, then the import itself
    upload = tmp_path / "proveedores.csv"
    upload.write_bytes(provider_csv(app))
    page.goto(f"{base}/providers/import")
    check.check(page, "import")
    page.set_input_files("input[type=file][name=file]", str(upload))
    submit(page, "form[enctype='multipart/form-data'] button[type=submit]")
    check.check(page, "import, checked")
    check.keyboard(page, "import, checked", "form:has(input[name=token]) button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    flash_shown(page)
    check.check(page, "import, done")
    page.goto(f"{base}/providers?q=PE-901")
    submit(page, "main a[href^='/providers/']:has-text('PE-901'), main a:has-text('Cámara de Comercio de Lima Norte')")
    check.check(page, "provider profile")
    provider_path = page.url.replace(base, "")
    page.goto(f"{base}{provider_path}/edit")
    check.check(page, "provider edit")

    # a round with a weight written with a decimal comma
    page.goto(f"{base}/rounds/new")
    check.check(page, "new round")
    page.fill("#name", "Ronda 2026")
    page.locator("main input[name^=weight_]").first.fill("1,5")
    submit(page, "main form button[type=submit]")
    assert re.search(r"/rounds/\d+$", page.url), page.url
    round_path = page.url.replace(base, "")
    check.check(page, "round")

    # override one decision with a rationale
    override = page.locator("main form[action*='/override/']").first
    opener = override.locator("xpath=ancestor::details[1]/summary")
    if opener.count():  # the form is folded away under "Change"
        opener.click()
    override.locator("select[name=selected]").select_option("0")
    override.locator("textarea[name=rationale]").fill("Conflicto de interés declarado por el proveedor.")
    with page.expect_navigation():
        override.locator("button[type=submit]").click()
    flash_shown(page)
    check.check(page, "round after an override")

    # freeze (a confirmation, if asked, is answered yes), then the letters
    submit(page, "main a[href$='/freeze'], main form[action$='/freeze'] button[type=submit]")
    if page.url.split("?")[0].endswith("/freeze"):  # the confirmation page
        check.check(page, "confirm freezing")
        submit(page, "main form[action$='/freeze'] button[type=submit]")
    assert page.url.replace(base, "").split("?")[0] == round_path, page.url
    check.check(page, "frozen round")
    letter = href(page, "main a[href*='/letters/']")
    assert fetch(page, base + letter, "application/pdf").startswith(b"%PDF")
    assert fetch(page, base + href(page, "main a[href*='/report.pdf']"), "application/pdf").startswith(b"%PDF")
    zipped = page.locator("main a[href*='/documents.zip']")
    if zipped.count():
        assert fetch(page, base + zipped.first.get_attribute("href"), "application/zip").startswith(b"PK")
    else:  # all documents are prepared by a job, on a page that shows its progress and then the download
        submit(page, "main form:has(input[name=kind][value=round_documents]) button[type=submit]")
        check.check(page, "documents being prepared")
        result = page.locator("main a[href$='/result']")
        result.wait_for(timeout=60_000)  # the page reloads itself until the job is done
        check.check(page, "documents ready")
        assert fetch(page, base + result.first.get_attribute("href"), "application/zip").startswith(b"PK")
    page.goto(f"{base}/rounds")
    check.check(page, "rounds")
    page.goto(f"{base}/rounds/audit")
    check.check(page, "rounds audit")
    page.goto(f"{base}/compare")
    check.check(page, "comparison form")
    page.context.close()
    check.assert_clean()


# ----------------------------------------------------------------------------- admin


@journey
def test_admin_journey(live_server, journey_browser, width, lang):
    """Users: find, change a role, deactivate and reactivate; institutions: find and edit."""
    base, app = live_server
    factory = Factory(app)
    inst = factory.institution(name="Servicio Nacional de Aprendizaje Demo", country="CO", city="Bogotá", type="national_service")
    member = factory.user(institution=inst, email="coordinadora@sena-demo.example")
    reviewer = factory.user("reviewer", email="revisora@cinterfor.example")
    admin = factory.user("admin")
    check = checker("admin", width, lang)

    page = sign_in(journey_browser, base, admin.email, width, lang)
    check.check(page, "home")
    page.goto(f"{base}/admin/")
    check.check(page, "users")
    page.fill("main form[role=search] input[name=q]", "cinterfor")
    submit(page, "main form[role=search] button[type=submit]")
    check.check(page, "users, searched")
    submit(page, f"main a[href='/admin/users/{reviewer.id}']")
    check.check(page, "user")

    # reviewer -> staff
    page.select_option("#role-form select[name=role]", "staff")
    submit(page, "#role-form button[type=submit]")
    flash_shown(page)
    check.check(page, "user, role changed")
    assert seeded(app, lambda s: s.get(User, reviewer.id).role) == "staff"

    # deactivate, then reactivate, the member
    page.goto(f"{base}/admin/users/{member.id}")
    check.keyboard(page, "user", "#deactivate-form button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    check.check(page, "user, deactivated")
    submit(page, "#reactivate-form button[type=submit]")
    check.check(page, "user, reactivated")
    assert seeded(app, lambda s: s.get(User, member.id).active)

    # institutions: find and edit one
    page.goto(f"{base}/admin/institutions")
    check.check(page, "institutions")
    submit(page, f"main a[href='/admin/institutions/{inst.id}']")
    check.check(page, "institution")
    page.fill("#institution-form input[name=city]", "Bogotá D.C.")
    submit(page, "#institution-form button[type=submit]")
    check.check(page, "institution saved")
    assert seeded(app, lambda s: s.get(Institution, inst.id).city) == "Bogotá D.C."
    page.goto(f"{base}/account")
    check.check(page, "account")
    page.context.close()
    check.assert_clean()
