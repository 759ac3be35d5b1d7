"""Selection rounds (instrument 2): the JSON API on hand-computed fixtures, overrides and freezing on the pages."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from rubric_app.extensions import db
from rubric_app.models import AuditEntry, SelectionOverride, SelectionRound
from tests.conftest import login

from .helpers import bearer, count, hidden_fields, page_fields, set_language, text

API = "/api/v1"
PROVIDER_INSTRUMENT = "sde-provider-assessment"
CATEGORIES = ("marketing", "legal", "finance", "inclusion", "infrastructure", "management", "digital")
FACTS = ("entrepreneurship_training", "commitment_letter", "facilitator_staff")

# Every item of a category gets the same score, so a category scores score / 4 * 100.
#   code    country  item scores                         category scores            total (equal weights)
#   AR-A    AR       marketing 4, legal 0, others 2      100, 0, 50 x5              350/7 = 50.00   (6 categories >= 50)
#   AR-B    AR       all 2                               50 x7                      50.00           (7 categories >= 50)
#   AR-C    AR       all 2                               50 x7                      50.00           (7 categories >= 50)
#   AR-D    AR       all 3, no commitment letter         75 x7                      75.00           knock-out
#   PE-1    PE       all 1                               25 x7                      25.00           digital 25 < minimum 40
#   PE-2    PE       all 3, digital not assessed         75 x6, digital none        450/7 = 64.29   missing scores
#   PE-3    PE       marketing 4, others 3               100, 75 x6                 550/7 = 78.57
#   PE-4    PE       all 2                               50 x7                      50.00
POOL = {
    "AR-A": ("AR", 2, {"marketing": 4, "legal": 0}, {}),
    "AR-B": ("AR", 2, {}, {}),
    "AR-C": ("AR", 2, {}, {}),
    "AR-D": ("AR", 3, {}, {"commitment_letter": False}),
    "PE-1": ("PE", 1, {}, {}),
    "PE-2": ("PE", 3, {"digital": None}, {}),
    "PE-3": ("PE", 3, {"marketing": 4}, {}),
    "PE-4": ("PE", 2, {}, {}),
}
QUOTA_ROUND = {
    "name": "Ronda 2026 A",
    "weights": {c: 1 for c in CATEGORIES},
    "knockouts": list(FACTS),
    "min_scores": {"digital": 40},
    "rule": "quota",
    "quotas": {"AR": 2, "PE": 1},
    "default_quota": 0,
    "draws": 1000,
    "seed": 7,
}


def provider_instrument(app):
    return app.extensions["instruments"].latest(PROVIDER_INSTRUMENT)


def item_scores(inst, default, by_category) -> dict:
    return {item.id: by_category.get(cat.id, default) for cat in inst.categories for item in cat.items}


def add_provider(app, user, code, country, default=2, by_category=None, facts=None, name=None):
    from rubric_app.services import providers as prov

    inst = provider_instrument(app)
    with app.app_context():
        s = db.new_session()
        try:
            provider = prov.save_provider(s, s.merge(user), inst, {
                "code": code, "name": name or f"Proveedor {code}", "country": country, "city": "Ciudad", "type": "ngo",
                "contact_name": "Ana", "contact_email": "ana@example.org", "contact_phone": "",
                "facts": {f: (facts or {}).get(f, True) for f in FACTS},
                "item_scores": item_scores(inst, default, by_category or {}),
            })
            return provider.id
        finally:
            s.close()


def round_row(app, round_id):
    with app.app_context():
        s = db.new_session()
        try:
            rnd = s.get(SelectionRound, round_id)
            return {"status": rnd.status, "inputs": rnd.inputs, "results": rnd.results, "run_at": rnd.run_at,
                    "overrides": [(o.provider_code, o.selected, o.rationale) for o in rnd.overrides]}
        finally:
            s.close()


@pytest.fixture
def staff(factory):
    return factory.user("staff")


@pytest.fixture
def api(app, factory, staff):
    """A client sending the staff member's bearer token under /api/v1."""
    headers = bearer(factory.token(staff))
    client = app.test_client()

    class Api:
        def get(self, path, **kw):
            return client.get(API + path, headers=headers, **kw)

        def post(self, path, **kw):
            return client.post(API + path, headers=headers, **kw)

    return Api()


@pytest.fixture
def pool(app, staff):
    return {code: add_provider(app, staff, code, country, default, cats, facts)
            for code, (country, default, cats, facts) in POOL.items()}


def create_round(api, **changes):
    response = api.post("/selection-rounds", json={**QUOTA_ROUND, **changes})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def download(client, url):
    """(status, mimetype, body) of a GET, the response closed (file downloads hold an open file)."""
    with client.get(url) as response:
        return response.status_code, response.mimetype, response.get_data()


def by_code(body) -> dict:
    return {r["code"]: r for r in body["results"]}


def cats(**scores) -> dict:
    out = {c: "50.00" for c in CATEGORIES}
    out.update(scores)
    return out


# ----------------------------------------------------------------------------- API: scores, eligibility, rank, selection


def test_quota_round_hand_computed(app, api, pool):
    body = create_round(api)
    assert body["status"] == "open" and body["name"] == "Ronda 2026 A" and body["run_at"]
    assert body["instrument"]["id"] == PROVIDER_INSTRUMENT and body["instrument"]["version"] == "1.1"
    assert body["settings"]["weights"] == {c: "1" for c in CATEGORIES}
    assert body["settings"]["min_scores"] == {"digital": "40"} and body["settings"]["seed"] == 7
    # order: country, then rank, then the ineligible by code
    assert [r["code"] for r in body["results"]] == ["AR-B", "AR-C", "AR-A", "AR-D", "PE-3", "PE-4", "PE-1", "PE-2"]
    r = by_code(body)

    assert r["AR-A"]["category_scores"] == cats(marketing="100.00", legal="0.00")
    assert r["AR-B"]["category_scores"] == r["AR-C"]["category_scores"] == cats()
    assert r["AR-D"]["category_scores"] == {c: "75.00" for c in CATEGORIES}
    assert r["PE-1"]["category_scores"] == {c: "25.00" for c in CATEGORIES}
    assert r["PE-2"]["category_scores"] == {**{c: "75.00" for c in CATEGORIES}, "digital": None}
    assert r["PE-3"]["category_scores"] == {**{c: "75.00" for c in CATEGORIES}, "marketing": "100.00"}
    assert {code: row["total"] for code, row in r.items()} == {
        "AR-A": "50.00", "AR-B": "50.00", "AR-C": "50.00", "AR-D": "75.00",
        "PE-1": "25.00", "PE-2": "64.29", "PE-3": "78.57", "PE-4": "50.00"}
    assert {code: row["categories_at_least_50"] for code, row in r.items()} == {
        "AR-A": 6, "AR-B": 7, "AR-C": 7, "AR-D": 7, "PE-1": 0, "PE-2": 6, "PE-3": 7, "PE-4": 7}

    # eligibility and the recorded reasons
    assert {code for code, row in r.items() if row["eligible"]} == {"AR-A", "AR-B", "AR-C", "PE-3", "PE-4"}
    assert r["AR-D"]["exclusions"] == [{"kind": "knockout", "subject": "commitment_letter", "value": None, "required": None}]
    assert r["PE-1"]["exclusions"] == [{"kind": "min_score", "subject": "digital", "value": "25.00", "required": "40"}]
    assert r["PE-2"]["exclusions"] == [{"kind": "missing_scores", "subject": "digital", "value": None, "required": None}]
    assert all(row["exclusions"] == [] for row in r.values() if row["eligible"])

    # equal totals (50.00): AR-B and AR-C have 7 categories >= 50, AR-A only 6 -> last; AR-B before AR-C by code
    assert {code: row["rank"] for code, row in r.items()} == {
        "AR-B": 1, "AR-C": 2, "AR-A": 3, "AR-D": None, "PE-3": 1, "PE-4": 2, "PE-1": None, "PE-2": None}
    # quota AR 2, PE 1
    assert {code for code, row in r.items() if row["selected"]} == {"AR-B", "AR-C", "PE-3"}
    assert all(row["selected"] == row["selected_by_rule"] and row["override"] is None for row in r.values())

    # sensitivity: 3-decimal frequencies and flags
    for row in r.values():
        assert Decimal(row["frequency"]).as_tuple().exponent == -3 and 0 <= Decimal(row["frequency"]) <= 1
        # an ineligible provider cannot be selected by any weights: no stability flag, counted neither way
        assert row["flag"] in (("robust", "borderline") if row["eligible"] else (None,))
    assert (r["AR-B"]["frequency"], r["AR-B"]["flag"]) == ("1.000", "robust")  # selected whatever the weights
    assert (r["PE-3"]["frequency"], r["PE-3"]["flag"]) == ("1.000", "robust")  # dominates PE-4 in every category
    assert (r["PE-4"]["frequency"], r["PE-4"]["flag"]) == ("0.000", "robust")
    assert r["AR-D"]["frequency"] == r["PE-1"]["frequency"] == r["PE-2"]["frequency"] == "0.000"
    # AR-A beats AR-B/AR-C exactly when w_marketing > w_legal: about half the draws, one of AR-A / AR-C each time
    assert r["AR-A"]["flag"] == r["AR-C"]["flag"] == "borderline"
    assert Decimal(r["AR-A"]["frequency"]) + Decimal(r["AR-C"]["frequency"]) == Decimal("1.000")
    assert Decimal("0.35") < Decimal(r["AR-A"]["frequency"]) < Decimal("0.65")
    # contact details stay out of the API answer; provider details are in
    assert "contact_email" not in r["AR-A"] and r["AR-A"]["name"] == "Proveedor AR-A"

    again = api.get(f"/selection-rounds/{body['id']}")
    assert again.status_code == 200 and again.get_json()["results"] == body["results"]
    assert api.get("/selection-rounds/999").status_code == 404


def test_weights_change_the_total_and_the_rank(api, pool):
    body = create_round(api, weights={"marketing": 3}, draws=0)  # others keep the default weight 1
    r = by_code(body)
    assert r["AR-A"]["total"] == "61.11"  # (3*100 + 0 + 5*50) / 9
    assert r["PE-3"]["total"] == "83.33"  # (3*100 + 6*75) / 9
    assert r["PE-2"]["total"] == "66.67"  # (3*75 + 4*75 + 0) / 9
    assert [r[c]["rank"] for c in ("AR-A", "AR-B", "AR-C")] == [1, 2, 3]
    assert {code for code, row in r.items() if row["selected"]} == {"AR-A", "AR-B", "PE-3"}
    assert all(row["frequency"] is None and row["flag"] is None for row in r.values())  # no draws


def test_threshold_rule(api, pool):
    body = create_round(api, rule="threshold", threshold=50, min_scores={}, quotas={}, draws=500, seed=3)
    r = by_code(body)
    assert body["settings"]["rule"] == "threshold" and body["settings"]["threshold"] == "50"
    # every eligible provider at or above 50.00 (AR-A's total is exactly 50); PE-1 is eligible without the minimum
    assert {code for code, row in r.items() if row["selected"]} == {"AR-A", "AR-B", "AR-C", "PE-3", "PE-4"}
    assert r["PE-1"]["eligible"] and not r["PE-1"]["selected"] and r["PE-1"]["rank"] == 3
    assert not r["AR-D"]["eligible"] and not r["AR-D"]["selected"]
    assert (r["AR-B"]["frequency"], r["AR-B"]["flag"]) == ("1.000", "robust")  # all 50: at the bar in every draw
    assert (r["PE-1"]["frequency"], r["PE-1"]["flag"]) == ("0.000", "robust")
    assert r["AR-A"]["flag"] == "borderline"


def test_same_seed_gives_identical_results(api, pool):
    first = create_round(api, name="Primera")
    second = create_round(api, name="Segunda")
    assert first["id"] != second["id"]
    assert first["results"] == second["results"]
    assert first["settings"] == second["settings"]


@pytest.mark.parametrize("changes, expected", [
    ({"weights": {"nope": 1}}, ["unknown category 'nope'"]),
    ({"weights": {"legal": -1}}, ["'legal' must not be negative"]),
    ({"rule": "lottery"}, ["unknown rule 'lottery'"]),
    ({"rule": "threshold", "threshold": None}, ["threshold rule needs a threshold"]),
    ({"weights": {"nope": 1, "legal": -1}, "rule": "lottery"},
     ["unknown category 'nope'", "'legal' must not be negative", "unknown rule 'lottery'"]),
    ({"min_scores": {"digital": 120}, "knockouts": ["unknown_fact"]}, ["between 0 and 100", "unknown eligibility fact 'unknown_fact'"]),
    ({"weights": {"legal": "heavy"}}, ["must be a number"]),
])
def test_invalid_settings_are_refused_with_every_problem(app, api, pool, changes, expected):
    response = api.post("/selection-rounds", json={**QUOTA_ROUND, **changes})
    assert response.status_code == 422 and response.is_json
    error = response.get_json()["error"]
    assert error["status"] == 422
    messages = [d["message"] for d in error["details"]]
    assert len(messages) == len(expected), messages
    for fragment in expected:
        assert any(fragment in m for m in messages), (fragment, messages)
    assert count(app, SelectionRound) == 0


def test_round_needs_a_name_and_a_json_body(app, api, pool):
    response = api.post("/selection-rounds", json={**QUOTA_ROUND, "name": "  "})
    assert response.status_code == 422 and response.get_json()["error"]["details"] == [{"field": "name"}]
    response = api.post("/selection-rounds", data="name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 422 and response.is_json
    assert count(app, SelectionRound) == 0


# ----------------------------------------------------------------------------- pages: overrides


def round_form(client, round_id) -> dict:
    """The hidden fields of the round's page (CSRF token, the round's version), as its buttons post them."""
    fields = page_fields(client, f"/rounds/{round_id}")
    assert fields["version"].isdigit()
    return fields


def round_post(client, round_id, action, **data):
    """Press a button of the round's page (``rerun``, ``freeze`` or ``override/<code>``) from the page as it is now."""
    return client.post(f"/rounds/{round_id}/{action}", data={**round_form(client, round_id), **data})


def edit_provider(client, provider_id, data):
    """Save the provider's edit form as a browser does: open it, then post with its version."""
    fields = page_fields(client, f"/providers/{provider_id}/edit")
    assert fields["version"].isdigit()
    return client.post(f"/providers/{provider_id}/edit", data={**fields, **data})


@pytest.fixture
def staff_client(client, staff):
    login(client, staff)
    set_language(client, "en")
    return client


def test_override_needs_a_rationale(app, api, pool, staff_client):
    rid = create_round(api)["id"]
    response = round_post(staff_client, rid, "override/PE-4", selected="1", rationale="   ")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/rounds/{rid}#p-PE-4")
    page = text(staff_client.get(f"/rounds/{rid}"))
    assert "A rationale is required for an override." in page
    assert count(app, SelectionOverride) == 0
    assert count(app, AuditEntry, field="selection") == 0
    assert download(staff_client, f"/rounds/{rid}/letters/PE-4.pdf")[0] == 409  # open round: no letters at all


def test_override_is_recorded_shown_audited_and_gets_a_letter(app, api, pool, staff, staff_client):
    rid = create_round(api)["id"]
    rationale = "Única oferta en Tumbes; visita de campo confirmó capacidad."
    response = round_post(staff_client, rid, "override/PE-4", selected="1", rationale=rationale)
    assert response.status_code == 302
    page = text(staff_client.get(f"/rounds/{rid}"))
    assert "The override was recorded." in page
    row = page[page.index('id="p-PE-4"'):]
    row = row[:row.index("</tr>")]
    assert "override" in row and f'title="{rationale}"' in row
    assert "/letters/" not in page and "Letter" not in row  # no letter links while the round is open
    assert "Commitment letters are issued only for frozen rounds" in page

    assert round_row(app, rid)["overrides"] == [("PE-4", True, rationale)]
    body = api.get(f"/selection-rounds/{rid}").get_json()
    r = by_code(body)
    assert r["PE-4"]["selected"] is True and r["PE-4"]["selected_by_rule"] is False
    assert r["PE-4"]["override"]["rationale"] == rationale and r["PE-4"]["override"]["selected"] is True

    with app.app_context():
        s = db.new_session()
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.subject == f"round:{rid} provider:PE-4")))
        s.close()
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.field, entry.old, entry.new, entry.comment, entry.user_id) == ("selection", None, "selected", rationale, staff.id)

    assert download(staff_client, f"/rounds/{rid}/letters/PE-4.pdf?lang=en")[0] == 409  # open round

    # deselecting a rule-selected provider, then following the rule again: each change audited
    assert round_post(staff_client, rid, "override/AR-C", selected="0", rationale="Renunció por escrito.").status_code == 302
    assert round_post(staff_client, rid, "override/AR-C", selected="", rationale="La renuncia fue retirada.").status_code == 302

    # frozen: letters for the final selection, by the rule or by a person
    assert round_post(staff_client, rid, "freeze").status_code == 302
    page = text(staff_client.get(f"/rounds/{rid}"))
    row = page[page.index('id="p-PE-4"'):]
    assert "Letter" in row[:row.index("</tr>")]
    status, mimetype, data = download(staff_client, f"/rounds/{rid}/letters/PE-4.pdf?lang=en")
    assert status == 200 and mimetype == "application/pdf" and data.startswith(b"%PDF")
    assert download(staff_client, f"/rounds/{rid}/letters/PE-3.pdf")[0] == 200  # selected by the rule
    assert download(staff_client, f"/rounds/{rid}/letters/AR-C.pdf")[0] == 200  # follows the rule again
    for code in ("PE-1", "AR-A", "NOPE"):  # not selected (ineligible, below the quota) or not in the round
        assert download(staff_client, f"/rounds/{rid}/letters/{code}.pdf")[0] == 404, code
    with app.app_context():
        s = db.new_session()
        trail = [(e.old, e.new) for e in s.scalars(select(AuditEntry).where(AuditEntry.subject == f"round:{rid} provider:AR-C")
                                                     .order_by(AuditEntry.id))]
        s.close()
    assert trail == [(None, "not selected"), ("not selected", None)]
    assert round_row(app, rid)["overrides"] == [("PE-4", True, rationale)]


def test_override_of_an_unknown_provider_is_404(app, api, pool, staff_client):
    rid = create_round(api)["id"]
    assert round_post(staff_client, rid, "override/XX-9", selected="1", rationale="x").status_code == 404
    assert count(app, SelectionOverride) == 0


def test_results_page_lists_countries_reasons_and_sorts(api, pool, staff_client):
    rid = create_round(api)["id"]
    page = text(staff_client.get(f"/rounds/{rid}"))
    assert "Ronda 2026 A" in page and "Argentina" in page and "Peru" in page
    assert "Not eligible:" in page
    assert "78.6" in page  # PE-3's total, one decimal
    by_code_page = text(staff_client.get(f"/rounds/{rid}?sort=code"))
    assert by_code_page.index('id="p-PE-1"') < by_code_page.index('id="p-PE-2"') < by_code_page.index('id="p-PE-3"')
    by_rank = text(staff_client.get(f"/rounds/{rid}?sort=rank"))
    assert by_rank.index('id="p-PE-3"') < by_rank.index('id="p-PE-4"') < by_rank.index('id="p-PE-1"')


def test_new_round_form_runs_a_round_and_refuses_bad_settings(app, pool, staff_client):
    form = {"name": "Ronda por formulario", "rule": "quota", "default_quota": "1", "draws": "0", "seed": "1",
            **{f"weight_{c}": "1" for c in CATEGORIES}, **{f"ko_{f}": "1" for f in FACTS}}
    response = staff_client.post("/rounds/new", data=form)
    assert response.status_code == 302
    rid = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    results = {r["code"]: r for r in round_row(app, rid)["results"]}
    assert {c for c, r in results.items() if r["selected_by_rule"]} == {"AR-B", "PE-3"}
    bad = staff_client.post("/rounds/new", data={**form, "weight_legal": "-2", "rule": "threshold", "threshold": ""})
    assert bad.status_code == 422
    page = text(bad)
    assert "must not be negative" in page and "needs a threshold" in page
    assert count(app, SelectionRound) == 1


# ----------------------------------------------------------------------------- freezing


def test_frozen_round_keeps_its_inputs_and_results(app, api, pool, staff_client):
    rid = create_round(api)["id"]
    before = round_row(app, rid)
    response = round_post(staff_client, rid, "freeze")
    assert response.status_code == 302
    frozen = round_row(app, rid)
    assert frozen["status"] == "frozen"
    with app.app_context():
        s = db.new_session()
        audit = s.scalar(select(AuditEntry).where(AuditEntry.subject == f"round:{rid}"))
        s.close()
    assert (audit.field, audit.old, audit.new) == ("status", "open", "frozen")

    # change the registry: PE-4 now scores 4 everywhere, AR-B loses a knock-out
    edit = {"code": "PE-4", "name": "Proveedor PE-4", "country": "PE", "city": "Ciudad", "type": "ngo",
            **{f"fact_{f}": "yes" for f in FACTS},
            **{f"item_{item.id}": "4" for item in provider_instrument(app).items}}
    assert edit_provider(staff_client, pool['PE-4'], edit).status_code == 302
    edit_b = {"code": "AR-B", "name": "Proveedor AR-B", "country": "AR", "city": "Ciudad", "type": "ngo",
              "fact_entrepreneurship_training": "yes", "fact_commitment_letter": "yes",
              **{f"item_{item.id}": "2" for item in provider_instrument(app).items}}
    assert edit_provider(staff_client, pool['AR-B'], edit_b).status_code == 302

    response = round_post(staff_client, rid, "rerun")
    assert response.status_code == 302
    assert "Re-running the frozen round gave the same results." in text(staff_client.get(response.headers["Location"]))
    after = round_row(app, rid)
    assert after["results"] == before["results"] and after["inputs"] == before["inputs"]
    assert after["run_at"] == before["run_at"] and after["status"] == "frozen"
    pe4 = next(p for p in after["inputs"] if p["code"] == "PE-4")
    assert set(pe4["item_scores"].values()) == {2}

    # an open round run on the same registry sees the changes
    fresh = by_code(create_round(api, name="Abierta"))
    assert fresh["PE-4"]["total"] == "100.00" and fresh["PE-4"]["selected"]
    assert fresh["AR-B"]["exclusions"] == [{"kind": "knockout", "subject": "facilitator_staff", "value": None, "required": None}]


def test_open_round_rerun_uses_the_current_registry(app, api, pool, staff_client):
    rid = create_round(api)["id"]
    edit = {"code": "PE-4", "name": "Proveedor PE-4", "country": "PE", "city": "Ciudad", "type": "ngo",
            **{f"fact_{f}": "yes" for f in FACTS}, **{f"item_{item.id}": "4" for item in provider_instrument(app).items}}
    assert edit_provider(staff_client, pool['PE-4'], edit).status_code == 302
    assert round_post(staff_client, rid, "rerun").status_code == 302
    r = {row["code"]: row for row in round_row(app, rid)["results"]}
    assert r["PE-4"]["total"] == "100.00" and r["PE-4"]["rank"] == 1 and r["PE-4"]["selected_by_rule"]
    assert not r["PE-3"]["selected_by_rule"]


def test_freezing_twice_is_refused(app, api, pool, staff_client):
    rid = create_round(api)["id"]
    opened = round_form(staff_client, rid)  # a second tab, opened before the round was frozen
    assert round_post(staff_client, rid, "freeze").status_code == 302
    # from the page as it is now: the round is already frozen
    again = round_post(staff_client, rid, "freeze")
    assert again.status_code == 302 and again.headers["Location"].endswith(f"/rounds/{rid}")
    assert "This round is already frozen." in text(staff_client.get(again.headers["Location"]))
    # from the page opened before: it is told the round changed meanwhile
    stale = staff_client.post(f"/rounds/{rid}/freeze", data=opened)
    assert stale.status_code == 302
    assert "Someone else changed this round after you opened the page." in text(staff_client.get(stale.headers["Location"]))
    assert count(app, AuditEntry, subject=f"round:{rid}") == 1
    assert round_row(app, rid)["status"] == "frozen"


def test_round_buttons_need_the_version_of_the_page(app, api, pool, staff_client):
    rid = create_round(api)["id"]
    opened = round_form(staff_client, rid)
    # without a version the button is refused like an expired form
    bare = staff_client.post(f"/rounds/{rid}/override/PE-4", data={"selected": "1", "rationale": "Sin versión."})
    assert bare.status_code == 302
    assert "The form expired or was sent from elsewhere." in text(staff_client.get(bare.headers["Location"]))
    assert count(app, SelectionOverride) == 0
    # an override recorded from another tab moves the version on: the older page cannot override over it
    assert round_post(staff_client, rid, "override/PE-4", selected="1", rationale="Cobertura en Tumbes.").status_code == 302
    stale = staff_client.post(f"/rounds/{rid}/override/PE-4", data={**opened, "selected": "0", "rationale": "Otra decisión."})
    assert stale.status_code == 302
    assert "Someone else changed this round after you opened the page." in text(staff_client.get(stale.headers["Location"]))
    assert round_row(app, rid)["overrides"] == [("PE-4", True, "Cobertura en Tumbes.")]


# ----------------------------------------------------------------------------- CSRF (as in production)


def test_round_forms_need_the_csrf_token(csrf_app):
    from tests.conftest import PASSWORD, Factory

    from .helpers import csrf_token

    factory = Factory(csrf_app)
    staff = factory.user("staff")
    for code, (country, default, by_category, facts) in list(POOL.items())[:4]:
        add_provider(csrf_app, staff, code, country, default, by_category, facts)
    browser = csrf_app.test_client()
    token = csrf_token(browser.get("/login").data)
    assert browser.post("/login", data={"email": staff.email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    with csrf_app.app_context():
        from rubric_app.services import selection as sel

        s = db.new_session()
        rid = sel.create_round(s, csrf_app.extensions["instruments"], s.merge(staff), "CSRF", {"default_quota": 1, "draws": 0}).id
        s.close()

    fields = {k: v for k, v in hidden_fields(browser.get(f"/rounds/{rid}").data.decode()).items() if k != "csrf_token"}
    assert fields["version"].isdigit()  # everything the page holds but the token
    assert browser.post(f"/rounds/{rid}/override/AR-C", data={**fields, "selected": "1", "rationale": "sin token"}).status_code == 400
    assert browser.post(f"/rounds/{rid}/freeze", data=fields).status_code == 400
    assert browser.post("/api/v1/selection-rounds", json={**QUOTA_ROUND}).status_code == 400  # session auth, no header
    assert round_row(csrf_app, rid)["overrides"] == [] and round_row(csrf_app, rid)["status"] == "open"
    assert count(csrf_app, SelectionRound) == 1

    page_token = csrf_token(browser.get(f"/rounds/{rid}").data)
    response = browser.post(f"/rounds/{rid}/override/AR-C",
                            data={**fields, "selected": "1", "rationale": "con token", "csrf_token": page_token})
    assert response.status_code == 302 and round_row(csrf_app, rid)["overrides"] == [("AR-C", True, "con token")]
    response = browser.post("/api/v1/selection-rounds", json={**QUOTA_ROUND, "quotas": {"AR": 2}}, headers={"X-CSRFToken": page_token})
    assert response.status_code == 201


# ----------------------------------------------------------------------------- bugs found


def test_min_score_reason_shows_a_value_below_the_minimum(app, api, staff, staff_client):
    inst = provider_instrument(app)
    add_provider(app, staff, "PE-7", "PE", 2, {"marketing": 2})
    with app.app_context():  # marketing items 2, 2, 2, 1 -> 7/16 * 100 = 43.75
        from rubric_app.models import Provider

        s = db.new_session()
        p = s.scalar(select(Provider).where(Provider.code == "PE-7"))
        p.item_scores = {**p.item_scores, inst.category("marketing").items[-1].id: 1}
        s.commit()
        s.close()
    body = create_round(api, min_scores={"marketing": "43.76"}, quotas={}, default_quota=1, draws=0)
    assert by_code(body)["PE-7"]["exclusions"] == [{"kind": "min_score", "subject": "marketing", "value": "43.75", "required": "43.76"}]
    page = text(staff_client.get(f"/rounds/{body['id']}"))
    reason = re.search(r"Not eligible: (.*?)</small>", page).group(1)
    assert "43.75" in reason and "43.76" in reason, reason


def test_rounds_list_counts_the_final_selection(api, pool, staff_client):
    rid = create_round(api)["id"]  # 3 selected by the rule
    assert round_post(staff_client, rid, "override/PE-4", selected="1", rationale="Cobertura en Tumbes.").status_code == 302
    page = text(staff_client.get("/rounds"))
    row = re.search(rf'<tr><td>{rid}</td>.*?</tr>', page, re.S).group(0)
    cells = re.findall(r"<td>(.*?)</td>", row, re.S)
    assert cells[-1] == "4", cells


@pytest.mark.parametrize("lang, one, many", [("es", "1 seleccionado de", "seleccionados de"),
                                             ("pt", "1 selecionado de", "selecionados de"),
                                             ("en", "1 selected of", "selected of")])
def test_country_headings_count_the_selected_in_the_right_grammatical_number(api, pool, staff_client, lang, one, many):
    """"1 seleccionado de 3", "2 seleccionados de 3": ngettext with the language's plural forms."""
    rid = create_round(api)["id"]
    set_language(staff_client, lang)
    headings = re.findall(r'<h2>[^<]*<small class="muted">([^<]*)</small></h2>', text(staff_client.get(f"/rounds/{rid}")))
    counts = {int(h.split()[0]): h for h in headings}
    assert 1 in counts and one in counts[1], headings  # PE: a quota of 1
    assert all(many in h for n, h in counts.items() if n != 1), headings
    if lang != "en":
        assert all(" ".join(h.split()[:2]) == f"{n} {one.split()[1]}" for n, h in counts.items() if n == 1)
