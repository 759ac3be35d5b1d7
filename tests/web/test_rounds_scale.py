"""Rounds at the registry's size: the round page and the providers list are paged; a round chooses the
countries it covers and whether synthetic providers take part; a checked import waits in the database
so any app server can apply it."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from rubric_app.extensions import db
from rubric_app.models import PendingUpload, Provider, SelectionRound
from rubric_app.services import Invalid
from rubric_app.services import selection as sel
from rubric_app.services.providers import seed_synthetic_providers
from tests.conftest import login

from .helpers import count, hidden_fields, set_language, text
from .test_providers import two_providers, upload
from .test_rounds import CATEGORIES, FACTS, add_provider, provider_instrument, round_post

ROW = re.compile(r'<tr id="p-([^"]+)"')


@pytest.fixture
def staff(factory):
    return factory.user("staff")


@pytest.fixture
def staff_client(client, staff):
    login(client, staff)
    set_language(client, "en")
    return client


def seed(app, n=209):
    with app.app_context():
        s = db.new_session()
        try:
            seed_synthetic_providers(s, provider_instrument(app), n, 2026)
        finally:
            s.close()


def make_round(app, staff, settings=None, name="Ronda"):
    """A round made through the service; its id."""
    with app.app_context():
        s = db.new_session()
        try:
            raw = {"knockouts": list(FACTS), "rule": "quota", "default_quota": 10, "draws": 50, "seed": 1, **(settings or {})}
            return sel.create_round(s, app.extensions["instruments"], s.merge(staff), name, raw).id
        finally:
            s.close()


def stored(app, round_id) -> tuple[dict, list[str]]:
    """(settings, codes of the providers it ran on) of a stored round."""
    with app.app_context():
        s = db.new_session()
        try:
            rnd = s.get(SelectionRound, round_id)
            return dict(rnd.settings), sorted(p["code"] for p in rnd.inputs)
        finally:
            s.close()


def refused(app, staff, settings) -> list[dict]:
    """The problems (field, msgid, params) of a round the service refuses; no round is stored."""
    before = count(app, SelectionRound)
    with pytest.raises(Invalid) as caught:
        make_round(app, staff, settings)
    assert count(app, SelectionRound) == before
    return caught.value.problems


# ----------------------------------------------------------------------------- the round page, paged


def test_round_page_lists_100_rows_a_page_country_by_country_with_full_country_counts(app, staff, staff_client):
    seed(app)
    rid = make_round(app, staff)
    with app.app_context():
        s = db.new_session()
        rows = sel.final_results(s.get(SelectionRound, rid))
        s.close()
    per_country: dict[str, list] = {}
    for row in rows:
        per_country.setdefault(row["country"], []).append(row)
    ranked = [r["code"] for c in sorted(per_country)
              for r in sorted(per_country[c], key=lambda r: (r["rank"] is None, r["rank"] or 0, r["code"]))]
    assert len(ranked) == 209

    pages = [text(staff_client.get(f"/rounds/{rid}" + (f"?page={n}" if n > 1 else ""))) for n in (1, 2, 3)]
    listed = [ROW.findall(page) for page in pages]
    assert [len(codes) for codes in listed] == [100, 100, 9]
    assert sum(listed, []) == ranked  # every provider once, in country then rank order
    assert "Page 1 of 3" in pages[0] and "Page 3 of 3" in pages[2]
    assert "1 to 100 of 209 providers shown" in pages[0] and "201 to 209 of 209 providers shown" in pages[2]
    assert f'href="/rounds/{rid}?page=2" rel="next"' in pages[0] and 'aria-current="page"' in pages[0]
    assert f'href="/rounds/{rid}" rel="prev"' in pages[1]  # page 1 has the plain address
    # a country split over two pages shows its whole count on both
    split = per_country[rows[99]["country"]] if rows else []
    heading = f"{len([r for r in split if r['selected']])} selected of {len(split)}"
    assert heading in pages[0] and heading in pages[1]
    # the summary counts every country, whatever the page
    for page in pages:
        summary = page[page.index('id="round-countries"'):page.index("</table>", page.index('id="round-countries"'))]
        assert all(f">{len(group)}</td>" in summary for group in per_country.values())
    # page numbers are bounded: past the end is the last page, 0 or less the first, not a number 400
    assert ROW.findall(text(staff_client.get(f"/rounds/{rid}?page=99999999"))) == listed[2]
    assert ROW.findall(text(staff_client.get(f"/rounds/{rid}?page=-3"))) == listed[0]
    assert staff_client.get(f"/rounds/{rid}?page=abc").status_code == 400


def test_round_page_filters_one_country_and_keeps_the_sort_in_its_links(app, staff, staff_client):
    seed(app)
    rid = make_round(app, staff)
    page = text(staff_client.get(f"/rounds/{rid}?country=pe&sort=code"))
    codes = ROW.findall(page)
    assert codes and all(c.startswith("SYN-PE-") for c in codes) and codes == sorted(codes)
    assert '<strong aria-current="page">Peru</strong>' in page and "Show every country" in page
    assert f'href="/rounds/{rid}?sort=code&country=AR"' in page  # another country, same order
    assert f'href="/rounds/{rid}?sort=rank&country=PE"' not in page and f'href="/rounds/{rid}?country=PE"' in page
    # an unknown country or sort falls back to every country in rank order
    assert len(ROW.findall(text(staff_client.get(f"/rounds/{rid}?country=XX&sort=nonsense")))) == 100


def test_an_override_on_a_later_page_comes_back_to_that_page(app, staff, staff_client):
    seed(app)
    rid = make_round(app, staff)
    last_page = ROW.findall(text(staff_client.get(f"/rounds/{rid}?page=3")))
    code = last_page[-1]
    response = round_post(staff_client, rid, f"override/{code}", selected="1", rationale="Visita de campo.")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/rounds/{rid}?page=3#p-{code}")
    # the override form carries the page's sort and country, and comes back to them
    page = text(staff_client.get(f"/rounds/{rid}?country=DO&sort=name"))
    code = ROW.findall(page)[0]
    assert f'action="/rounds/{rid}/override/{code}?sort=name&country=DO"' in page
    fields = hidden_fields(staff_client.get(f"/rounds/{rid}?country=DO&sort=name").data.decode())
    response = staff_client.post(f"/rounds/{rid}/override/{code}?sort=name&country=DO",
                                 data={**fields, "selected": "0", "rationale": "Renuncia."})
    assert response.headers["Location"].endswith(f"/rounds/{rid}?sort=name&country=DO#p-{code}")


def test_a_rationale_kept_after_a_refusal_opens_on_the_page_of_its_provider(app, staff, staff_client):
    seed(app)
    rid = make_round(app, staff)
    code = ROW.findall(text(staff_client.get(f"/rounds/{rid}?page=2")))[5]
    stale = {"selected": "1", "rationale": "Motivo largo y detallado.", "version": "999"}
    response = staff_client.post(f"/rounds/{rid}/override/{code}", data=stale)
    assert response.status_code == 302 and "page=2" in response.headers["Location"]
    page = staff_client.get(f"/rounds/{rid}").get_data(as_text=True)  # no page asked: the draft's page
    assert code in ROW.findall(page) and "Motivo largo y detallado." in page


def test_providers_list_has_numbered_bounded_pages(app, staff_client):
    seed(app, 120)
    first = text(staff_client.get("/providers"))
    assert "Page 1 of 3" in first and "1 to 50 shown" in first
    assert 'href="/providers?page=3" aria-label="Page 3"' in first and 'href="/providers?page=2" rel="next"' in first
    last = text(staff_client.get("/providers?page=500"))
    assert "Page 3 of 3" in last and "101 to 120 shown" in last and '<strong aria-current="page">3</strong>' in last
    filtered = text(staff_client.get("/providers?country=PE&page=2"))  # one page: no page links
    assert "Page 1 of" not in filtered and 'rel="next"' not in filtered
    set_language(staff_client, "es")
    assert "Página 1 de 3" in text(staff_client.get("/providers"))


# ----------------------------------------------------------------------------- countries and synthetic providers


def test_a_demo_round_takes_every_synthetic_provider_and_echoes_its_effective_settings(app, staff):
    seed(app, 40)
    rid = make_round(app, staff, {"weights": {"marketing": "2.5"}})
    settings, codes = stored(app, rid)
    assert len(codes) == 40 and settings["include_synthetic"] is True  # no real provider: the demo takes part
    assert settings["countries"] == ["AR", "CO", "DO", "PE"]
    assert settings["weights"] == {c: ("2.5" if c == "marketing" else "1") for c in CATEGORIES}


def test_with_real_providers_a_round_leaves_synthetic_ones_out_unless_told(app, staff):
    seed(app, 40)
    add_provider(app, staff, "PE-1", "PE")
    add_provider(app, staff, "AR-1", "AR")
    rid = make_round(app, staff)
    settings, codes = stored(app, rid)
    assert codes == ["AR-1", "PE-1"] and settings["include_synthetic"] is False and settings["countries"] == ["AR", "PE"]

    rid = make_round(app, staff, {"countries": ["pe"], "include_synthetic": True, "quotas": {"PE": 2}})
    settings, codes = stored(app, rid)
    assert settings["countries"] == ["PE"] and settings["include_synthetic"] is True
    assert "PE-1" in codes and all(c == "PE-1" or c.startswith("SYN-PE-") for c in codes) and len(codes) > 2

    # running again keeps the coverage: a new provider elsewhere does not join
    add_provider(app, staff, "CO-1", "CO")
    add_provider(app, staff, "PE-2", "PE")
    with app.app_context():
        s = db.new_session()
        rnd = s.get(SelectionRound, rid)
        sel.rerun(s, app.extensions["instruments"], s.merge(staff), rnd)
        codes = sorted(p["code"] for p in rnd.inputs)
        s.close()
    assert "PE-2" in codes and "CO-1" not in codes


def test_a_round_stored_before_these_settings_runs_again_on_every_active_provider(app, staff):
    seed(app, 12)
    add_provider(app, staff, "PE-1", "PE")
    rid = make_round(app, staff, {"include_synthetic": True})
    with app.app_context():
        s = db.new_session()
        rnd = s.get(SelectionRound, rid)
        rnd.settings = {k: v for k, v in rnd.settings.items() if k not in ("countries", "include_synthetic")}
        s.commit()
        add = Provider(code="CO-9", name="Nuevo", country="CO", type="ngo", facts={}, item_scores={})
        s.add(add)
        s.commit()
        sel.rerun(s, app.extensions["instruments"], s.merge(staff), rnd)
        codes = {p["code"] for p in rnd.inputs}
        s.close()
    assert len(codes) == 14 and {"PE-1", "CO-9"} <= codes


@pytest.mark.parametrize("settings, field, msgid", [
    ({"countries": ["XY"]}, "countries", "%(code)s: no active provider of this country takes part in this round (synthetic providers are left out)."),
    ({"countries": ["P1"]}, "countries", "Name countries by their ISO 3166 code."),
    ({"countries": "PE"}, "countries", "Name countries by their ISO 3166 code."),
    ({"countries": ["PE"], "quotas": {"AR": 1, "PE": 1}}, "quotas.AR", "%(code)s is not a country this round covers."),
    ({"countries": ["AR"]}, "countries", "%(code)s: no active provider of this country takes part in this round (synthetic providers are left out)."),
    ({"include_synthetic": "yes"}, "include_synthetic", "Say whether synthetic providers take part (true or false)."),
    ({"countries": ["PE"], "quotas": {"PE": 0}, "default_quota": 0}, "quotas",
     "At least one country needs a quota above 0, or the round selects nobody."),
])
def test_coverage_settings_are_checked_at_their_field(app, staff, settings, field, msgid):
    seed(app, 12)  # synthetic providers in AR, CO, DO, PE
    add_provider(app, staff, "PE-1", "PE")  # the only real one
    problems = refused(app, staff, settings)
    assert (field, msgid) in [(p["field"], p["msgid"]) for p in problems], problems


def test_the_setup_page_chooses_countries_with_the_picker_and_synthetic_providers(app, staff, staff_client):
    seed(app, 40)
    page = staff_client.get("/rounds/new").get_data(as_text=True)
    assert re.search(r'<select id="countries" name="countries" multiple', page) and "picker.js" in page
    assert re.search(r'name="include_synthetic" value="1" checked', page)  # only synthetic providers: on
    add_provider(app, staff, "PE-1", "PE")
    add_provider(app, staff, "PE-2", "PE", default=3)
    page = staff_client.get("/rounds/new").get_data(as_text=True)
    assert re.search(r'name="include_synthetic" value="1"(?! checked)', page)  # a real provider: off

    form = {"name": "Solo Perú", "rule": "quota", "default_quota": "1", "draws": "0", "seed": "1", "countries": ["PE"],
            **{f"weight_{c}": "1" for c in CATEGORIES}, **{f"ko_{f}": "1" for f in FACTS}}
    bad = staff_client.post("/rounds/new", data={**form, "countries": ["PE", "EC"]})
    assert bad.status_code == 422 and count(app, SelectionRound) == 0
    body = bad.get_data(as_text=True)
    assert re.search(r'<p class="error" id="countries-err">EC: no active provider', body)
    assert re.search(r'<option value="EC" selected>', body)  # the choice is kept
    assert 'aria-describedby="countries-hint countries-err"' in body

    response = staff_client.post("/rounds/new", data=form)
    assert response.status_code == 302
    rid = int(response.headers["Location"].rsplit("/", 1)[1])
    settings, codes = stored(app, rid)
    assert codes == ["PE-1", "PE-2"] and settings["countries"] == ["PE"] and settings["include_synthetic"] is False
    page = text(staff_client.get(f"/rounds/{rid}"))
    assert "Covers: Peru." in page and "Synthetic providers take no part." in page

    response = staff_client.post("/rounds/new", data={**form, "name": "Con demo", "include_synthetic": "1", "countries": []})
    settings, codes = stored(app, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert settings["include_synthetic"] is True and settings["countries"] == ["AR", "CO", "DO", "PE"] and len(codes) == 42


# ----------------------------------------------------------------------------- uploads across app servers


def _server(folder, shared, monkeypatch):
    from rubric_app import create_app

    monkeypatch.setenv("RUBRIC_INSTANCE_PATH", str(folder))  # each server its own instance folder
    return create_app({"TESTING": True, "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": False, "SERVER_NAME": None,
                       "MAIL_BACKEND": "memory", "DATABASE_AUTO_CREATE": False, **shared})


def test_an_import_checked_on_one_app_server_is_applied_on_another(tmp_path, app, factory, monkeypatch):
    staff, other_staff = factory.user("staff"), factory.user("staff")
    shared = {"DATABASE_URL": app.config["DATABASE_URL"], "REPORTS_DIR": app.config["REPORTS_DIR"]}
    first = _server(tmp_path / "a", shared, monkeypatch)
    second = _server(tmp_path / "b", shared, monkeypatch)
    inst = provider_instrument(app)
    one, two, stranger = first.test_client(), second.test_client(), second.test_client()
    login(one, staff)
    login(two, staff)
    login(stranger, other_staff)
    checked = upload(one, two_providers(inst))
    assert checked.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', checked.get_data(as_text=True)).group(1)
    assert not any((tmp_path / name / "imports").exists() for name in ("a", "b"))

    refused_ = stranger.post("/providers/import", data={"token": token})  # another person's token: not theirs
    assert refused_.status_code == 302 and count(app, Provider) == 0 and count(app, PendingUpload) == 1
    applied = two.post("/providers/import", data={"token": token})
    assert applied.status_code == 302 and applied.headers["Location"].endswith("/providers")
    with app.app_context():
        s = db.new_session()
        assert set(s.scalars(select(Provider.code))) == {"CO-010", "DO-020"}
        s.close()
    assert count(app, PendingUpload) == 0
    assert one.post("/providers/import", data={"token": token}).headers["Location"].endswith("/providers/import")  # spent
    for server in (first, second):
        with server.app_context():
            db.engine.dispose()


def test_a_round_nobody_takes_part_in_is_refused_and_a_form_without_the_choice_takes_the_default(app, staff, staff_client):
    seed(app, 12)  # synthetic providers only
    problems = refused(app, staff, {"include_synthetic": False})
    assert ("countries", "No active provider takes part in this round.") in [(p["field"], p["msgid"]) for p in problems]
    form = {"name": "Sin casilla", "rule": "quota", "default_quota": "1", "draws": "0", "seed": "1",
            **{f"weight_{c}": "1" for c in CATEGORIES}}
    response = staff_client.post("/rounds/new", data=form)  # a client that does not send include_synthetic
    assert response.status_code == 302
    settings, codes = stored(app, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert settings["include_synthetic"] is True and len(codes) == 12
    unticked = staff_client.post("/rounds/new", data={**form, "include_synthetic": "0"})  # the page, box not ticked
    assert unticked.status_code == 422 and "No active provider takes part in this round." in text(unticked)
