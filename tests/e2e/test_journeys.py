"""Each role's whole journey in real Chromium, at 1440 and 360 px wide, in Spanish, Portuguese and English.

Every page visited is checked (tests/e2e/axe.py): axe-core with 0 violations of any impact, colour
contrast included; the page's lang is the one asked for; chart text drawn at 12 px or more; at
360 px, no horizontal overflow (the page must not be wider than the screen). The key action of each
journey (submit, validate, import, deactivate) is reached with the Tab key and pressed with Enter,
with a visible focus; on the dimension and plan pages no focused control hides behind a sticky bar.
A journey goes on after a page fails those checks and reports every failing page at its end; a
step of the journey that cannot be done fails at once.

Nothing here waits a fixed time: every step waits for a condition (a navigation, an element, the
autosave status, a download), bounded by TIMEOUT, so a slow machine only makes a journey slower.

Set E2E_SCREENSHOTS=<folder> to keep a full-page screenshot of every page checked
(bench/screenshots.py does that for a chosen set of roles, widths and languages).
"""
from __future__ import annotations

import csv
import io
import os
import re
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from rubric_app.extensions import db
from rubric_app.models import Answer, Institution, Provider, SelectionRound, User
from tests.conftest import PASSWORD, Factory
from tests.e2e.axe import PageChecker
from tests.web.helpers import assessment_row

pytestmark = pytest.mark.e2e

LOCALES = {"es": "es-419", "pt": "pt-BR", "en": "en-US"}
VIEWPORTS = {1440: {"width": 1440, "height": 900}, 360: {"width": 360, "height": 740}}
INSTRUMENT = "ifp-migrant-inclusion"
PROVIDERS = "sde-provider-assessment"
TIMEOUT = 20_000  # for each step; reached only when a step fails (slow machines under load)

JOURNEYS = [(width, lang) for lang in ("es", "pt", "en") for width in (1440, 360)]
journey = pytest.mark.parametrize("width,lang", JOURNEYS, ids=[f"{w}-{lang}" for w, lang in JOURNEYS])


# ----------------------------------------------------------------------------- helpers


def checker(role: str, width: int, lang: str) -> PageChecker:
    folder = os.environ.get("E2E_SCREENSHOTS")
    return PageChecker(f"{role}-{width}-{lang}", width, lang, Path(folder) if folder else None)


class Dialogs:
    """The browser's own dialogs a page opened. Confirmations are answered yes; "leave the page?"
    (beforeunload, shown while a form holds unsaved edits) is answered "stay" so that a journey
    never loses what it typed without saying so."""

    def __init__(self):
        self.seen: list[str] = []

    def __call__(self, dialog) -> None:
        self.seen.append(dialog.type)
        if dialog.type == "beforeunload":
            dialog.dismiss()
        else:
            dialog.accept()


def new_page(browser, width: int, lang: str):
    context = browser.new_context(locale=LOCALES[lang], viewport=VIEWPORTS[width], accept_downloads=True)
    context.set_default_timeout(TIMEOUT)
    context.set_default_navigation_timeout(TIMEOUT)
    page = context.new_page()
    page.journey_dialogs = Dialogs()
    page.on("dialog", page.journey_dialogs)
    return page


def dialogs(page) -> Dialogs:
    return page.journey_dialogs


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


def download(page, selector: str) -> tuple[str, bytes]:
    """Click a download link as a person does; the file's suggested name and its bytes."""
    with page.expect_download() as info:
        page.locator(selector).first.click()
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


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


def pick_countries(page, select_id: str, names: list[str]) -> list[str]:
    """Choose countries in a country picker the way a person does: type part of the name in its
    search box (no accents, any case) and press Enter on the only match. Returns the codes chosen."""
    search = page.locator(f"#{select_id}-search")
    for name in names:
        search.fill(name)  # the list keeps what is chosen and shows what matches
        offered = page.eval_on_selector(f"#{select_id}", "s => Array.from(s.options).filter(o => !o.selected).map(o => o.value)")
        assert len(offered) == 1, f"{name!r} should match one country, not {offered}"
        search.press("Enter")
    return page.eval_on_selector(f"#{select_id}", "s => Array.from(s.selectedOptions).map(o => o.value).sort()")


# ----------------------------------------------------------------------------- member


@journey
def test_member_journey(live_server, journey_browser, width, lang):
    """Register, answer with autosave, close the browser and resume in a new one with nothing lost,
    submit, the plan (one "save plan", a warning before unsaved edits are lost), the PDF, and a
    second round started from the answers of the first."""
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
    assert pick_countries(page, "country", ["peru"]) == ["PE"]
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

    # start, answer three dimensions (with a target of our own on the first criterion), then half
    # of the fourth by autosave only
    page.goto(f"{base}/assessments/new")
    check.check(page, "start")
    submit(page, "#start-button")
    assessment_id = int(re.search(r"/assessments/(\d+)/d/", page.url).group(1))
    levels = {c.id: (i % 5) + 1 for i, c in enumerate(rubric.criteria)}
    first = rubric.criteria[0].id
    targets = {first: 4}  # above the default (current + 1 = 2)
    for dim in dims[:3]:
        assert page.url.endswith(f"/d/{dim.id}")
        check.check(page, f"dimension {dim.id}")
        if dim is dims[0]:
            check.check_focus(page, f"dimension {dim.id}")
        for crit in dim.criteria:
            page.check(f"input[name=crit_{crit.id}][value='{levels[crit.id]}']")
            if crit.id in targets:
                page.select_option(f"#target_{crit.id}", str(targets[crit.id]))
        page.fill(f"#evidence_{dim.criteria[0].id}", f"Acta {dim.id}")
        submit(page, "button[name=go][value=next]")
    half = dims[3].criteria[0]
    page.check(f"input[name=crit_{half.id}][value='{levels[half.id]}']")
    page.fill(f"#evidence_{half.id}", "Evidencia a medias")
    # "saved" is shown only once nothing is scheduled, running or queued (autosave.js)
    page.wait_for_function("() => { const s = document.getElementById('autosave-status');"
                           " return s && s.dataset.saved && s.textContent === s.dataset.saved; }")
    page.context.close()
    saved = assessment_row(app, assessment_id)["answers"]
    assert (saved[half.id]["level"], saved[half.id]["evidence"]) == (levels[half.id], "Evidencia a medias"), saved.get(half.id)
    assert saved[first]["target"] == targets[first]

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

    # the plan: one "save plan" for every item
    results_url = page.url
    assert page.locator("#plan-form button[type=submit]").count() == 1, "the plan has one Save button for all its items"
    responsible = page.locator("#plan-form input[name$='-responsible']")
    assert responsible.count() >= 2, "the plan has at least two items"
    item_ids = [re.fullmatch(r"plan_(.+)-responsible", responsible.nth(i).get_attribute("name")).group(1) for i in range(2)]
    assert page.is_hidden("#plan-unsaved")
    responsible.nth(0).click()  # a real gesture: browsers warn about leaving only pages a person has used
    responsible.nth(0).fill("Jefa de admisión")
    page.fill(f"#plan_{item_ids[0]}-due_date", "2030-06-30")
    responsible.nth(1).fill("Coordinador de formación")
    page.locator("#plan-unsaved").wait_for(state="visible")

    # leaving now asks first; the journey stays, and the edits are still there
    with page.expect_event("dialog") as asked:
        page.click("header a.brand")
    assert asked.value.type == "beforeunload"
    assert page.url == results_url
    assert page.input_value(f"#plan_{item_ids[1]}-responsible") == "Coordinador de formación"

    with page.expect_navigation():
        page.click("#save-plan")
    check.check(page, "plan saved")
    plan = assessment_row(app, assessment_id)["plan"]
    assert plan[item_ids[0]]["responsible"] == "Jefa de admisión", plan
    assert str(plan[item_ids[0]]["due_date"]) == "2030-06-30", plan
    assert plan[item_ids[1]]["responsible"] == "Coordinador de formación", plan
    assert page.is_hidden("#plan-unsaved")

    # the PDF
    name, pdf = download(page, "#download-pdf")
    assert pdf.startswith(b"%PDF") and name.endswith(".pdf"), name

    # saved: leaving asks nothing
    with page.expect_navigation():
        page.click("header a.brand")
    assert dialogs(page).seen.count("beforeunload") == 1, dialogs(page).seen
    check.check(page, "home, submitted")

    # a second round, from the answers of the first: walked from the first dimension, targets kept
    page.goto(f"{base}/assessments/new")
    check.check(page, "start round 2")
    page.select_option("[name=from_previous]", "1")
    submit(page, "#start-button")
    second = int(re.search(r"/assessments/(\d+)/d/", page.url).group(1))
    assert second != assessment_id
    assert page.url.endswith(f"/d/{dims[0].id}"), page.url
    flash_shown(page)
    row = assessment_row(app, second)
    assert (row["round"], row["previous_id"]) == (2, assessment_id)
    for crit in dims[0].criteria:
        assert page.is_checked(f"input[name=crit_{crit.id}][value='{levels[crit.id]}']"), crit.id
    assert page.input_value(f"#target_{first}") == str(targets[first])
    assert page.input_value(f"#evidence_{first}") == f"Acta {dims[0].id}"
    check.check(page, "round 2, first dimension")
    page.context.close()
    check.assert_clean()


# ----------------------------------------------------------------------------- reviewer


def submitted_assessments(app, factory: Factory, rubric) -> list[tuple[int, User]]:
    """Three institutions in Peru and three in Colombia, each with a submitted self-assessment:
    (assessment id, a member of the institution)."""
    made = []
    for i, (country, name) in enumerate((("PE", "Perú"), ("PE", "Perú"), ("PE", "Perú"),
                                         ("CO", "Colombia"), ("CO", "Colombia"), ("CO", "Colombia"))):
        inst = factory.institution(name=f"Instituto Técnico {name} {i + 1}", country=country,
                                   type=("national_service", "ngo", "training_centre")[i % 3])
        member = factory.user(institution=inst)
        levels = {c.id: ((i + j) % 5) + 1 for j, c in enumerate(rubric.criteria)}
        made.append((factory.assessment(member, levels=levels, submit=True), member))
    return made


def validated_levels(app, assessment_id: int) -> dict[str, int | None]:
    return seeded(app, lambda s: {a.criterion_id: a.validated_level
                                  for a in s.scalars(select(Answer).where(Answer.assessment_id == assessment_id))})


@journey
def test_reviewer_journey(live_server, journey_browser, width, lang):
    """Queue with search, validate with changed levels, return with a comment (which the institution
    then reads at home), audit log, comparison chosen with the country picker, exports downloaded
    and opened."""
    base, app = live_server
    rubric = app.extensions["instruments"].latest(INSTRUMENT)
    factory = Factory(app)
    made = submitted_assessments(app, factory, rubric)
    ids = [aid for aid, _member in made]
    reviewer = factory.user("reviewer")
    check = checker("reviewer", width, lang)

    page = sign_in(journey_browser, base, reviewer.email, width, lang)
    check.check(page, "home")
    page.goto(f"{base}/review")
    check.check(page, "review queue")
    # search: part of the name, without its accents
    page.fill("#f-q", "tecnico peru 1")
    submit(page, "main form.filters button[type=submit]")
    check.check(page, "review queue, searched")
    assert page.locator(f"main a[href='/review/{ids[0]}']").count() == 1
    assert page.locator("main a[href^='/review/']:not([href^='/review/audit'])").count() == 1, "the search finds one institution"

    # validate it, changing two levels with a comment each
    submit(page, f"main a[href='/review/{ids[0]}']")
    check.check(page, "review")
    first, second = rubric.criteria[0].id, rubric.criteria[1].id
    changed = {}
    for crit_id in (first, second):
        current = page.input_value(f"#level_{crit_id}")
        changed[crit_id] = 5 if current != "5" else 4
        page.select_option(f"#level_{crit_id}", str(changed[crit_id]))
        page.fill(f"#comment_{crit_id}", f"Sin acta que lo respalde ({crit_id})")
    check.keyboard(page, "review", "button[name=action][value=validate]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    flash_shown(page)
    check.check(page, "queue after validating")
    assert assessment_row(app, ids[0])["status"] == "validated"
    stored = validated_levels(app, ids[0])
    assert {c: stored[c] for c in changed} == changed, stored

    # return another one to the institution, with a comment
    comment = "Adjunte el convenio con el servicio público de empleo."
    page.goto(f"{base}/review/{ids[1]}")
    page.fill("#return_comment", comment)
    submit(page, "button[name=action][value=return]")
    flash_shown(page)
    check.check(page, "queue after returning")
    assert assessment_row(app, ids[1])["status"] == "draft"
    page.select_option("#f-status", "returned")
    submit(page, "main form.filters button[type=submit]")
    check.check(page, "review queue, returned")
    assert comment in page.locator("main .return-row").first.text_content()

    # the institution sees it returned, with the comment, on its home page
    member_page = sign_in(journey_browser, base, made[1][1].email, width, lang)
    check.check(member_page, "member home, returned")
    note = member_page.locator("main .return-note")
    note.wait_for()
    assert comment in note.text_content()
    member_page.context.close()

    # results of the validated one, the audit log and its CSV
    page.goto(f"{base}/assessments/{ids[0]}/results")
    check.check(page, "results of a validated assessment")
    page.goto(f"{base}/review/audit")
    check.check(page, "audit log")
    assert fetch(page, f"{base}/review/audit.csv", "text/csv")

    # comparison of Peru and Colombia, chosen with the country picker's search
    page.goto(f"{base}/compare")
    check.check(page, "comparison form")
    assert pick_countries(page, "f-countries", ["peru", "COLOMBIA"]) == ["CO", "PE"]
    submit(page, "main form.filters button[type=submit]")
    check.check(page, "comparison")
    page.locator("#compare-count").wait_for()

    # exports: CSV and XLSX downloaded and opened (under the job threshold they are direct downloads)
    names = {seeded(app, lambda s: s.get(Institution, assessment_row(app, aid)["institution_id"]).name) for aid in ids if aid != ids[1]}
    name, data = download(page, "main a[href*='/compare/export.csv']")
    assert name.endswith(".csv"), name
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["group", "measure", "n"], rows[0]
    assert names <= {r[0] for r in rows if r}, "every institution compared has its row in the CSV"
    name, data = download(page, "main a[href*='/compare/export.xlsx']")
    assert name.endswith(".xlsx"), name
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True)
    assert {"aggregates", "agreement", "institutions"} <= set(book.sheetnames), book.sheetnames
    assert names <= {r[0] for r in book["institutions"].iter_rows(values_only=True)}
    book.close()
    assert fetch(page, base + href(page, "main a[href*='/compare/export.json']"), "application/json")
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


def provider_codes(app) -> set[str]:
    return seeded(app, lambda s: set(s.scalars(select(Provider.code))))


@journey
def test_staff_journey(live_server, journey_browser, width, lang, tmp_path):
    """Providers: import (dry run, then apply); a selection round: create, override with a
    rationale, freeze after its confirmation, letters and documents."""
    base, app = live_server
    from rubric_app.services.providers import provider_instrument, seed_synthetic_providers

    seeded(app, lambda s: seed_synthetic_providers(s, provider_instrument(app.extensions["instruments"]), 24, 2026))
    staff = Factory(app).user("staff")
    check = checker("staff", width, lang)

    page = sign_in(journey_browser, base, staff.email, width, lang)
    check.check(page, "home")
    page.goto(f"{base}/providers")
    check.check(page, "providers")

    # import: a dry run (which writes nothing), then the import itself
    upload = tmp_path / "proveedores.csv"
    upload.write_bytes(provider_csv(app))
    new_codes = {"PE-901", "CO-902", "AR-903"}
    page.goto(f"{base}/providers/import")
    check.check(page, "import")
    page.set_input_files("input[type=file][name=file]", str(upload))
    assert page.is_checked("input[name=dry_run][value='1']"), "a dry run is the default"
    submit(page, "form[enctype='multipart/form-data'] button[type=submit]")
    check.check(page, "import, checked")
    assert not new_codes & provider_codes(app), "the dry run wrote nothing"
    check.keyboard(page, "import, checked", "form:has(input[name=token]) button[type=submit]")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    flash_shown(page)
    check.check(page, "import, done")
    assert new_codes <= provider_codes(app)
    page.goto(f"{base}/providers?q=PE-901")
    submit(page, "main a[href^='/providers/']:has-text('PE-901'), main a:has-text('Cámara de Comercio de Lima Norte')")
    check.check(page, "provider profile")
    provider_path = page.url.replace(base, "")
    page.goto(f"{base}{provider_path}/edit")
    check.check(page, "provider edit")

    # a round with a weight written as the language writes decimals (a comma in es and pt)
    page.goto(f"{base}/rounds/new")
    check.check(page, "new round")
    page.fill("#name", "Ronda 2026")
    weight = page.locator("main input[name^=weight_]").first
    category = weight.get_attribute("name").removeprefix("weight_")
    weight.fill("1.5" if lang == "en" else "1,5")
    submit(page, "main form button[type=submit]")
    assert re.search(r"/rounds/\d+$", page.url), page.url
    round_path = page.url.replace(base, "")
    round_id = int(round_path.rsplit("/", 1)[1])
    stored = seeded(app, lambda s: s.get(SelectionRound, round_id).settings["weights"][category])
    assert Decimal(stored) == Decimal("1.5"), stored
    check.check(page, "round")

    # override one decision with a rationale
    rationale = "Conflicto de interés declarado por el proveedor."
    override = page.locator("main form[action*='/override/']").first
    opener = override.locator("xpath=ancestor::details[1]/summary")
    if opener.count():  # the form is folded away under "Change"
        opener.click()
    override.locator("select[name=selected]").select_option("0")
    override.locator("textarea[name=rationale]").fill(rationale)
    with page.expect_navigation():
        override.locator("button[type=submit]").click()
    flash_shown(page)
    check.check(page, "round after an override")
    assert page.locator(f"main .badge[title='{rationale}']").count() == 1

    # freeze: a page asks for confirmation first
    submit(page, "main a[href$='/freeze']")
    assert page.url.replace(base, "").split("?")[0] == f"{round_path}/freeze", page.url
    check.check(page, "confirm freezing")
    assert seeded(app, lambda s: s.get(SelectionRound, round_id).status) == "open", "asking changes nothing"
    submit(page, "main form[action$='/freeze'] button[type=submit]")
    assert page.url.replace(base, "").split("?")[0] == round_path, page.url
    check.check(page, "frozen round")
    frozen = seeded(app, lambda s: (s.get(SelectionRound, round_id).status, [o.rationale for o in s.get(SelectionRound, round_id).overrides]))
    assert frozen == ("frozen", [rationale]), frozen
    # a frozen round offers no more overrides, no "run again" and no second freeze
    assert page.locator("main form[action*='/override/']").count() == 0
    assert page.locator("main a[href$='/freeze']").count() == 0

    # letters, the report and all documents (prepared by a job whose page shows the download)
    letter = href(page, "main a[href*='/letters/']")
    assert fetch(page, base + letter, "application/pdf").startswith(b"%PDF")
    assert fetch(page, base + href(page, "main a[href*='/report.pdf']"), "application/pdf").startswith(b"%PDF")
    zipped = page.locator("main a[href*='/documents.zip']")
    if zipped.count():
        assert fetch(page, base + zipped.first.get_attribute("href"), "application/zip").startswith(b"PK")
    else:
        submit(page, "main form:has(input[name=kind][value=round_documents]) button[type=submit]")
        check.check(page, "documents being prepared")
        result = page.locator("main a[href$='/result']")
        result.wait_for(timeout=60_000)  # the page polls the job and shows the link when it is done
        check.check(page, "documents ready")
        name, data = download(page, "main a[href$='/result']")
        assert data.startswith(b"PK") and name.endswith(".zip"), name
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
