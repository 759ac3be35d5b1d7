"""Staff pages (issue 11): frozen rounds read-only, overrides that keep their rationale, freezing with
a confirmation, accent-insensitive provider search, e-mail and phone checks, archiving, localized
round setup (decimal comma, quotas at the field), category titles, no ids in the rounds' audit log."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from rubric_app.extensions import db
from rubric_app.models import AuditEntry, Provider, SelectionOverride, SelectionRound
from rubric_app.services import Conflict
from tests.conftest import login

from .helpers import count, hidden_fields, page_fields, parse_form, set_language, text, tr

PROVIDER_INSTRUMENT = "sde-provider-assessment"
CATEGORIES = ("marketing", "legal", "finance", "inclusion", "infrastructure", "management", "digital")
FACTS = ("entrepreneurship_training", "commitment_letter", "facilitator_staff")


def inst_of(app):
    return app.extensions["instruments"].latest(PROVIDER_INSTRUMENT)


def add_provider(app, user, code, country="PE", *, name=None, city="Lima", default=2, facts=None):
    from rubric_app.services import providers as prov

    inst = inst_of(app)
    with app.app_context():
        s = db.new_session()
        try:
            return prov.save_provider(s, s.merge(user), inst, {
                "code": code, "name": name or f"Proveedor {code}", "country": country, "city": city, "type": "ngo",
                "facts": facts if facts is not None else dict.fromkeys(FACTS, True),
                "item_scores": {item.id: default for item in inst.items}}).id
        finally:
            s.close()


def new_round(app, user, settings=None, name="Ronda") -> int:
    from rubric_app.services import selection as sel

    with app.app_context():
        s = db.new_session()
        try:
            return sel.create_round(s, app.extensions["instruments"], s.merge(user), name,
                                    settings or {"knockouts": list(FACTS), "default_quota": 1, "draws": 20, "seed": 1}).id
        finally:
            s.close()


def freeze(app, user, rid) -> None:
    from rubric_app.services import selection as sel

    with app.app_context():
        s = db.new_session()
        try:
            sel.freeze(s, s.merge(user), s.get(SelectionRound, rid))
        finally:
            s.close()


@pytest.fixture
def staff(factory):
    return factory.user("staff")


@pytest.fixture
def staff_client(client, staff):
    login(client, staff)
    set_language(client, "en")
    return client


@pytest.fixture
def pool(app, staff):
    """Two eligible providers in PE and AR, one knocked out in PE."""
    return {code: add_provider(app, staff, code, country, default=default, facts=facts)
            for code, country, default, facts in (("PE-1", "PE", 3, None), ("PE-2", "PE", 2, None), ("AR-1", "AR", 2, None),
                                                  ("PE-X", "PE", 4, {"commitment_letter": False}))}


# ----------------------------------------------------------------------------- frozen rounds, overrides, freezing


def test_a_frozen_round_is_read_only_with_its_date(app, staff, staff_client, pool):
    rid = new_round(app, staff)
    open_page = text(staff_client.get(f"/rounds/{rid}"))
    assert "Run again" in open_page and "/override/" in open_page
    freeze(app, staff, rid)
    page = text(staff_client.get(f"/rounds/{rid}"))
    assert "/override/" not in page and 'name="rationale"' not in page and "Run again" not in page
    assert "Frozen on " in page and "Freeze the round" not in page
    assert "Check that the results reproduce" in page  # a frozen round can still show that it reproduces


def test_freezing_asks_for_confirmation_first(app, staff, staff_client, pool):
    rid = new_round(app, staff)
    page = staff_client.get(f"/rounds/{rid}").get_data(as_text=True)
    assert f'href="/rounds/{rid}/freeze"' in page  # the round page links to the confirmation, it does not freeze
    confirm = staff_client.get(f"/rounds/{rid}/freeze")
    assert confirm.status_code == 200
    body = text(confirm)
    assert "cannot be undone" in body and "Yes, freeze the round" in body
    assert SelectionRound and count(app, AuditEntry, field="status") == 0
    fields = hidden_fields(body)
    assert fields["version"].isdigit()
    done = staff_client.post(f"/rounds/{rid}/freeze", data=fields)
    assert done.status_code == 302 and count(app, AuditEntry, field="status") == 1
    # the confirmation of a round frozen meanwhile goes back to the round with a message
    again = staff_client.get(f"/rounds/{rid}/freeze")
    assert again.status_code == 302
    assert "This round is already frozen." in text(staff_client.get(again.headers["Location"]))


def test_freeze_is_checked_again_where_it_commits(app, staff, pool):
    from rubric_app.services import selection as sel

    rid = new_round(app, staff)
    with app.app_context():
        first, second = db.new_session(), db.new_session()
        try:
            mine = first.get(SelectionRound, rid)
            seen = mine.version
            theirs = second.get(SelectionRound, rid)
            sel.freeze(second, second.merge(staff), theirs, expected_version=seen)  # another tab froze first
            with pytest.raises(Conflict):
                sel.freeze(first, first.merge(staff), mine, expected_version=seen)  # my page's version still matches my read
        finally:
            first.close()
            second.close()
    assert count(app, AuditEntry, field="status") == 1


def test_an_override_on_a_round_frozen_meanwhile_keeps_the_rationale(app, staff, staff_client, pool):
    rid = new_round(app, staff)
    opened = page_fields(staff_client, f"/rounds/{rid}")
    freeze(app, staff, rid)
    rationale = "Cobertura en Tumbes; aliado <clave> & probado."
    response = staff_client.post(f"/rounds/{rid}/override/PE-2", data={**opened, "selected": "1", "rationale": rationale})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/rounds/{rid}#p-PE-2")
    page = staff_client.get(response.headers["Location"])
    assert page.status_code == 200
    body = text(page)
    assert "Someone else changed this round after you opened the page." in body
    assert "Your override of PE-2 was not recorded." in body
    assert re.search(r'<textarea id="kept-rationale"[^>]*readonly>' + re.escape(rationale) + "</textarea>", body)
    assert count(app, SelectionOverride) == 0
    assert "kept-rationale" not in text(staff_client.get(f"/rounds/{rid}"))  # shown once


def test_an_override_on_a_round_changed_meanwhile_comes_back_in_its_form(app, staff, staff_client, pool):
    rid = new_round(app, staff)
    opened = page_fields(staff_client, f"/rounds/{rid}")
    other = page_fields(staff_client, f"/rounds/{rid}")
    assert staff_client.post(f"/rounds/{rid}/override/PE-1", data={**other, "selected": "0",
                                                                     "rationale": "Otra pestaña."}).status_code == 302
    staff_client.get(f"/rounds/{rid}")  # the success message is read
    rationale = "Sin sede en Tumbes.\nRevisar en marzo."
    stale = staff_client.post(f"/rounds/{rid}/override/PE-2", data={**opened, "selected": "0", "rationale": rationale})
    assert stale.status_code == 302
    body = staff_client.get(stale.headers["Location"]).get_data(as_text=True)
    form = re.search(r'<form method="post" action="/rounds/%d/override/PE-2">.*?</form>' % rid, body, re.S).group(0)
    assert parse_form(form)["rationale"] == rationale and parse_form(form)["selected"] == "0"
    assert re.search(r'<details open><summary>[^<]*</summary>\s*<form method="post" action="/rounds/%d/override/PE-2"' % rid, body)
    # the form now carries the current version: sending it again records the override
    again = staff_client.post(f"/rounds/{rid}/override/PE-2", data=parse_form(form))
    assert again.status_code == 302
    with app.app_context():
        s = db.new_session()
        overrides = {o.provider_code: (o.selected, o.rationale) for o in s.scalars(select(SelectionOverride))}
        s.close()
    assert overrides == {"PE-1": (False, "Otra pestaña."), "PE-2": (False, rationale)}


def test_a_long_rationale_is_kept_without_the_session(app, staff, staff_client, pool):
    rid = new_round(app, staff)
    opened = page_fields(staff_client, f"/rounds/{rid}")
    freeze(app, staff, rid)
    rationale = "Justificación extensa. " * 200  # larger than a session cookie can hold
    response = staff_client.post(f"/rounds/{rid}/override/PE-2", data={**opened, "selected": "1", "rationale": rationale})
    assert response.status_code == 409
    body = text(response)
    assert "Someone else changed this round after you opened the page." in body and rationale in body
    assert "<h1>" in body and "Ronda" in body  # the round's page, not a bare error page


# ----------------------------------------------------------------------------- provider search, contacts, archive


@pytest.mark.parametrize("query", ["cordoba", "CORDOBA", "Córdoba", "córdoba", "CÓRDOBA", "fundacion nandu", "ar-0"])
def test_search_ignores_case_and_accents(app, staff, staff_client, query):
    add_provider(app, staff, "AR-01", "AR", name="Fundación Ñandú", city="Córdoba")
    add_provider(app, staff, "AR-02", "AR", name="Red Sur", city="Rosario")
    page = text(staff_client.get("/providers", query_string={"q": query}))
    assert "Fundación Ñandú" in page
    if query != "ar-0":
        assert "Red Sur" not in page


def test_search_keeps_wildcards_literal_and_follows_edits(app, staff, staff_client):
    pid = add_provider(app, staff, "AR-01", "AR", name="Consultora 100% Pyme", city="Córdoba")
    add_provider(app, staff, "AR-02", "AR", name="Consultora 1000 Pyme", city="Salta")
    page = text(staff_client.get("/providers", query_string={"q": "100%"}))
    assert "Consultora 100% Pyme" in page and "Consultora 1000 Pyme" not in page
    fields = page_fields(staff_client, f"/providers/{pid}/edit")
    inst = inst_of(app)
    data = {**fields, "code": "AR-01", "name": "Consultora 100% Pyme", "country": "AR", "city": "San Miguel de Tucumán",
            "type": "ngo", **{f"item_{i.id}": "2" for i in inst.items}}
    assert staff_client.post(f"/providers/{pid}/edit", data=data).status_code == 302
    assert "Consultora 100% Pyme" in text(staff_client.get("/providers", query_string={"q": "tucuman"}))
    assert "Consultora 100% Pyme" not in text(staff_client.get("/providers", query_string={"q": "cordoba"}))


def provider_form(inst, **extra) -> dict:
    data = {"code": "PE-001", "name": "Fundación Puentes", "country": "PE", "city": "Lima", "type": "ngo", "contact_name": "Rosa",
            "contact_email": "rosa@puentes.example", "contact_phone": "+51 (1) 555-0101", "version": "0",
            **{f"fact_{f}": "yes" for f in FACTS}, **{f"item_{item.id}": "2" for item in inst.items}}
    data.update(extra)
    return data


@pytest.mark.parametrize("field, value", [
    ("contact_email", "not-an-email"), ("contact_email", "ana@localhost"), ("contact_email", "ana @x.org"),
    ("contact_email", "ana@@x.org"), ("contact_phone", "abc"), ("contact_phone", "12"), ("contact_phone", "+51 1 555 0101 ext 4"),
    ("contact_phone", "1" * 25),
])
@pytest.mark.parametrize("lang", ["es", "en", "pt"])
def test_contact_email_and_phone_are_checked_at_the_field(app, staff_client, field, value, lang):
    set_language(staff_client, lang)
    response = staff_client.post("/providers/new", data=provider_form(inst_of(app), **{field: value}))
    assert response.status_code == 422
    body = text(response)
    msgid = ("Write an e-mail address such as name@example.org." if field == "contact_email"
             else "Write a phone number with digits, spaces and + ( ) - . only (6 to 20 digits).")
    assert re.search(rf'<div id="{field}_err"><p class="error">{re.escape(tr(lang, msgid))}</p></div>', body)
    assert re.search(rf'<input id="{field}"[^>]*aria-describedby="[^"]*{field}_err"[^>]*aria-invalid="true"', body)
    assert f'value="{value}"' in body  # what was typed stays in the form
    assert count(app, Provider) == 0


def test_good_contacts_are_saved(app, staff_client):
    response = staff_client.post("/providers/new", data=provider_form(inst_of(app), contact_email=" ana.perez+sde@puentes.org.pe ",
                                                                      contact_phone="+51 (1) 555-0101"))
    assert response.status_code == 302
    with app.app_context():
        s = db.new_session()
        p = s.scalar(select(Provider))
        s.close()
    assert (p.contact_email, p.contact_phone) == ("ana.perez+sde@puentes.org.pe", "+51 (1) 555-0101")


def test_archiving_hides_a_provider_and_keeps_it_out_of_new_rounds(app, staff, staff_client, pool):
    pid = pool["PE-1"]
    profile = staff_client.get(f"/providers/{pid}").get_data(as_text=True)
    fields = hidden_fields(profile)
    assert fields["version"].isdigit() and 'action="/providers/%d/archive"' % pid in profile
    done = staff_client.post(f"/providers/{pid}/archive", data={**fields, "archive": "1"})
    assert done.status_code == 302
    page = text(staff_client.get(done.headers["Location"]))
    assert "The provider was archived" in page and "Archived on " in page and "Bring back from the archive" in page
    listing = text(staff_client.get("/providers"))
    assert "Proveedor PE-1" not in listing and "Proveedor PE-2" in listing
    shown = text(staff_client.get("/providers", query_string={"archived": "1"}))
    assert "Proveedor PE-1" in shown and "archived" in shown
    rid = new_round(app, staff)
    with app.app_context():
        s = db.new_session()
        rnd = s.get(SelectionRound, rid)
        codes = {p["code"] for p in rnd.inputs}
        entries = [(e.subject, e.field, e.old, e.new) for e in s.scalars(select(AuditEntry).where(AuditEntry.field == "archived"))]
        s.close()
    assert "PE-1" not in codes and "PE-2" in codes
    assert entries == [("provider:PE-1", "archived", "no", "yes")]
    # the page opened before archiving is stale: refused with a message, nothing changes
    stale = staff_client.post(f"/providers/{pid}/archive", data={**fields, "archive": "0"})
    assert stale.status_code == 302
    assert "Someone else changed this provider" in text(staff_client.get(stale.headers["Location"]))
    assert count(app, AuditEntry, field="archived") == 1
    # without a version: refused too
    staff_client.post(f"/providers/{pid}/archive", data={"archive": "0"})
    assert count(app, AuditEntry, field="archived") == 1
    # bring it back from the page as it is now
    current = hidden_fields(staff_client.get(f"/providers/{pid}").get_data(as_text=True))
    assert staff_client.post(f"/providers/{pid}/archive", data={**current, "archive": "0"}).status_code == 302
    assert "Proveedor PE-1" in text(staff_client.get("/providers"))
    assert count(app, AuditEntry, field="archived") == 2


def test_archiving_needs_the_csrf_token(csrf_app):
    from tests.conftest import PASSWORD, Factory

    from .helpers import csrf_token

    factory = Factory(csrf_app)
    staff = factory.user("staff")
    pid = add_provider(csrf_app, staff, "PE-1")
    browser = csrf_app.test_client()
    token = csrf_token(browser.get("/login").data)
    assert browser.post("/login", data={"email": staff.email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    fields = hidden_fields(browser.get(f"/providers/{pid}").data.decode())
    without = {k: v for k, v in fields.items() if k != "csrf_token"}
    assert browser.post(f"/providers/{pid}/archive", data={**without, "archive": "1"}).status_code == 400
    assert count(csrf_app, AuditEntry, field="archived") == 0
    assert browser.post(f"/providers/{pid}/archive", data={**fields, "archive": "1"}).status_code == 302
    assert count(csrf_app, AuditEntry, field="archived") == 1


def test_other_roles_cannot_archive(app, factory, client, staff, pool):
    login(client, factory.user("member"))
    assert client.post(f"/providers/{pool['PE-1']}/archive", data={"archive": "1", "version": "1"}).status_code == 403
    assert count(app, AuditEntry, field="archived") == 0


# ----------------------------------------------------------------------------- round setup and results


def round_form(**extra) -> dict:
    data = {"name": "Ronda 2026", "rule": "quota", "default_quota": "1", "draws": "0", "seed": "1",
            **{f"weight_{c}": "1" for c in CATEGORIES}, **{f"ko_{f}": "1" for f in FACTS}}
    data.update(extra)
    return data


@pytest.mark.parametrize("lang, typed, stored", [("es", "1,5", "1.5"), ("pt", "0,25", "0.25"), ("en", "1.5", "1.5"),
                                                  ("es", "2", "2")])
def test_weights_take_the_decimal_comma_of_the_language(app, staff_client, pool, lang, typed, stored):
    set_language(staff_client, lang)
    response = staff_client.post("/rounds/new", data=round_form(weight_legal=typed, min_digital=typed))
    assert response.status_code == 302, text(response)[:2000]
    with app.app_context():
        s = db.new_session()
        settings = s.scalar(select(SelectionRound)).settings
        s.close()
    assert settings["weights"]["legal"] == stored and settings["min_scores"]["digital"] == stored


def test_the_round_form_shows_weights_in_the_language(app, staff_client, pool):
    set_language(staff_client, "es")
    page = staff_client.get("/rounds/new").get_data(as_text=True)
    assert re.search(r'id="weight_legal" name="weight_legal" value="1"', page)


@pytest.mark.parametrize("lang", ["es", "en", "pt"])
def test_round_setup_errors_are_at_the_field_in_the_language(app, staff_client, pool, lang):
    set_language(staff_client, lang)
    response = staff_client.post("/rounds/new", data=round_form(weight_legal="-2", weight_digital="mucho", quota_PE="x",
                                                               letter_months="0", draws="9999999"))
    assert response.status_code == 422
    body = text(response)
    expected = {
        "weight_digital": tr(lang, "Write a number such as 12 or 0.5."),
        "quota_PE": tr(lang, "Write a whole number from 0 to %(limit)s.") % {"limit": "1000000"},
        "draws": tr(lang, "Write a whole number from 0 to %(limit)s.") % {"limit": "1000000"},
        "letter_months": tr(lang, "Write a whole number from %(low)s to %(high)s.") % {"low": 1, "high": 120},
    }
    for field, message in expected.items():
        assert re.search(rf'<p class="error" id="err-{field}"[^>]*>{re.escape(message)}</p>', body), (field, message)
        assert re.search(rf'id="{field}"[^>]*aria-describedby="err-{field}"', body), field
    assert 'value="mucho"' in body and 'value="x"' in body  # typed values stay
    if lang != "en":
        assert "must be a number" not in body and "must be a whole number" not in body
    # the weight's sign is checked once the numbers read
    response = staff_client.post("/rounds/new", data=round_form(weight_legal="-2"))
    assert re.search(r'id="err-weight_legal"[^>]*>' + re.escape(tr(lang, "A weight must not be negative.")), text(response))
    assert count(app, SelectionRound) == 0


def test_quotas_must_select_someone(app, staff_client, pool):
    response = staff_client.post("/rounds/new", data=round_form(default_quota="0", quota_PE="0"))
    assert response.status_code == 422
    body = text(response)
    assert re.search(r'<p class="error" id="err-quotas"[^>]*>At least one country needs a quota above 0', body)
    assert count(app, SelectionRound) == 0
    assert staff_client.post("/rounds/new", data=round_form(default_quota="0", quota_PE="1")).status_code == 302


def test_quotas_must_name_countries_the_round_covers(app, staff, pool):
    from rubric_app.services import selection as sel

    with app.app_context():
        s = db.new_session()
        try:
            for quotas, field in (({"XY": 2, "PE": 1}, "quotas.XY"), ({"BR": 1, "PE": 1}, "quotas.BR"), ({"pe": 0}, "quotas")):
                with pytest.raises(sel.SettingsInvalid) as caught:
                    sel.create_round(s, app.extensions["instruments"], s.merge(staff), "R", {"quotas": quotas, "default_quota": 0,
                                                                                              "draws": 0})
                s.rollback()
                assert field in [p["field"] for p in caught.value.problems], caught.value.problems
                assert all(p.get("msgid") for p in caught.value.problems)
                assert {d["field"] for d in caught.value.details} == {p["field"] for p in caught.value.problems}
        finally:
            s.close()
    assert count(app, SelectionRound) == 0


def test_result_columns_carry_category_titles_and_ineligible_rows_are_never_robust(app, staff, staff_client, pool):
    rid = new_round(app, staff, {"knockouts": list(FACTS), "default_quota": 1, "draws": 200, "seed": 3})
    for lang in ("en", "es", "pt"):
        set_language(staff_client, lang)
        page = text(staff_client.get(f"/rounds/{rid}"))
        for cat in inst_of(app).categories:
            assert re.search(r'<th scope="col" class="num cat">' + re.escape(cat.name(lang)) + "</th>", page)
        assert not re.search(r"<th[^>]*>(mark|lega|fina|incl|infr|mana|digi)</th>", page)
    set_language(staff_client, "en")
    body = staff_client.get(f"/rounds/{rid}").get_data(as_text=True)
    row = re.search(r'<tr id="p-PE-X".*?</tr>', body, re.S).group(0)
    assert "robust" not in row and "borderline" not in row
    with app.app_context():
        s = db.new_session()
        results = {r["code"]: r for r in s.get(SelectionRound, rid).results}
        s.close()
    assert results["PE-X"]["eligible"] is False and results["PE-X"]["flag"] is None


def test_the_rounds_audit_log_shows_words_not_ids(app, staff, staff_client, pool):
    rid = new_round(app, staff)
    fields = page_fields(staff_client, f"/rounds/{rid}")
    assert staff_client.post(f"/rounds/{rid}/override/PE-2", data={**fields, "selected": "1", "rationale": "Aliado clave"}).status_code == 302
    freeze(app, staff, rid)
    for lang in ("es", "pt", "en"):
        set_language(staff_client, lang)
        body = text(staff_client.get("/rounds/audit"))
        table = body[body.index("<tbody>"):body.index("</tbody>")]
        assert "round:" not in table and "provider:" not in table
        for raw in (">selection<", ">status<", ">frozen<", ">open<", ">selected<", ">not selected<"):
            if lang != "en":
                assert raw not in table, (lang, raw)
        assert tr(lang, "Round #%(id)s") % {"id": rid} in table and "PE-2" in table and "Aliado clave" in table
        assert tr(lang, "Selection of a provider") in table and tr(lang, "Round status") in table
