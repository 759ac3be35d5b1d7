"""SDE provider registry (instrument 2): access, create and edit, lists, profile, imports and exports, page and API."""
from __future__ import annotations

import csv
import io
import re

import pytest
from markupsafe import escape
from sqlalchemy import select

from rubric_app.extensions import db
from rubric_app.models import AuditEntry, PendingUpload, Provider, SelectionOverride, SelectionRound
from tests.conftest import login, make_app

from .helpers import bearer, count, hidden_fields, page_fields, set_language, text

API = "/api/v1"
PROVIDER_INSTRUMENT = "sde-provider-assessment"
FACTS = ("entrepreneurship_training", "commitment_letter", "facilitator_staff")
BASE = ("code", "name", "country", "city", "type", "contact_name", "contact_email", "contact_phone")


@pytest.fixture
def app(tmp_path, monkeypatch):
    """As tests/conftest.py's, with the instance folder (where checked uploads wait) under tmp_path."""
    monkeypatch.setenv("RUBRIC_INSTANCE_PATH", str(tmp_path / "instance"))
    application = make_app(tmp_path)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def inst(app):
    return app.extensions["instruments"].latest(PROVIDER_INSTRUMENT)


@pytest.fixture
def staff(factory):
    return factory.user("staff")


@pytest.fixture
def staff_client(client, staff):
    login(client, staff)
    set_language(client, "en")
    return client


@pytest.fixture
def api_client(app, factory, staff):
    return app.test_client(), bearer(factory.token(staff))


def item_scores(inst, default=2, **by_category):
    return {item.id: by_category.get(cat.id, default) for cat in inst.categories for item in cat.items}


def add_provider(app, user, code, country="PE", *, name=None, ptype="ngo", city="Lima", default=2, facts=None, **by_category):
    from rubric_app.services import providers as prov

    inst = app.extensions["instruments"].latest(PROVIDER_INSTRUMENT)
    with app.app_context():
        s = db.new_session()
        try:
            provider = prov.save_provider(s, s.merge(user), inst, {
                "code": code, "name": name or f"Proveedor {code}", "country": country, "city": city, "type": ptype,
                "contact_name": "", "contact_email": "", "contact_phone": "",
                "facts": facts if facts is not None else {f: True for f in FACTS},
                "item_scores": item_scores(inst, default, **by_category),
            })
            return provider.id
        finally:
            s.close()


def providers(app) -> dict:
    """code -> plain data of every provider."""
    with app.app_context():
        s = db.new_session()
        try:
            return {p.code: {"name": p.name, "country": p.country, "city": p.city, "type": p.type, "facts": p.facts,
                             "item_scores": p.item_scores, "synthetic": p.synthetic, "contact_email": p.contact_email,
                             "contact_phone": p.contact_phone, "updated_at": p.updated_at}
                    for p in s.scalars(select(Provider))}
        finally:
            s.close()


def form_data(inst, code="PE-001", name="Fundación Puentes", country="PE", ptype="ngo", score="2", **extra) -> dict:
    data = {"code": code, "name": name, "country": country, "city": "Lima", "type": ptype, "contact_name": "Rosa Quispe",
            "contact_email": "rosa@puentes.example", "contact_phone": "+51 1 555 0101",
            **{f"fact_{f}": "yes" for f in FACTS}, **{f"item_{item.id}": score for item in inst.items}}
    data.update(extra)
    return data


def csv_file(inst, rows: list[dict]) -> bytes:
    """A provider file in the import layout; unspecified facts 'yes', items '2'."""
    cols = list(BASE) + [f.id for f in inst.eligibility] + [i.id for i in inst.items]
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(cols)
    for row in rows:
        defaults = {"city": "", "type": "ngo", "contact_name": "", "contact_email": "", "contact_phone": "",
                    **{f.id: "yes" for f in inst.eligibility}, **{i.id: "2" for i in inst.items}}
        values = {**defaults, **row}
        writer.writerow([values.get(c, "") for c in cols])
    return buf.getvalue().encode("utf-8")


def two_providers(inst) -> bytes:
    return csv_file(inst, [
        {"code": "CO-010", "name": "Cámara de Comercio de Cúcuta", "country": "CO", "city": "Cúcuta", "type": "chamber"},
        {"code": "DO-020", "name": "Incubadora Social Caribe", "country": "DO", "city": "Santo Domingo", "type": "other",
         "commitment_letter": "no", "digital_payments": "", "marketing_branding": "4"},
    ])


def download(client, url, **kw):
    """(status, mimetype, body) of a GET, the response closed (file downloads hold an open file)."""
    with client.get(url, **kw) as response:
        return response.status_code, response.mimetype, response.get_data()


def edit_provider(client, provider_id, data, fields=None):
    """Save the provider's edit form as a browser does: the page's hidden fields (its version) with ``data``.
    ``fields`` are the hidden fields of a page opened earlier; by default the page is opened now."""
    if fields is None:
        fields = page_fields(client, f"/providers/{provider_id}/edit")
    assert fields["version"].isdigit()
    return client.post(f"/providers/{provider_id}/edit", data={**fields, **data})


def upload(client, data: bytes, filename="providers.csv", dry_run="1"):
    return client.post("/providers/import", data={"file": (io.BytesIO(data), filename), "dry_run": dry_run},
                       content_type="multipart/form-data")


# ----------------------------------------------------------------------------- access


@pytest.fixture
def world(app, staff):
    """One provider and one round that selects it (for the id-carrying URLs)."""
    from rubric_app.services import selection as sel

    pid = add_provider(app, staff, "PE-001", default=3)
    with app.app_context():
        s = db.new_session()
        rnd = sel.create_round(s, app.extensions["instruments"], s.merge(staff), "Ronda de acceso",
                               {"default_quota": 1, "draws": 0, "knockouts": list(FACTS)})
        rid = rnd.id
        s.close()
    return pid, rid, "PE-001"


def page_gets(pid, rid, code):
    return ["/providers", "/providers/new", f"/providers/{pid}", f"/providers/{pid}/edit", "/providers/import",
            "/providers/template.csv", "/providers/template.xlsx", "/providers/export.csv", "/providers/export.xlsx",
            "/rounds", "/rounds/new", f"/rounds/{rid}", f"/rounds/{rid}/report.pdf", f"/rounds/{rid}/letters/{code}.pdf",
            f"/rounds/{rid}/documents.zip"]


def page_posts(inst, pid, rid, code):
    return [
        ("/providers/new", form_data(inst, code="AR-999", country="AR")),
        (f"/providers/{pid}/edit", form_data(inst, code=code, name="Renamed")),
        ("/providers/import", {"file": (io.BytesIO(csv_file(inst, [{"code": "AR-998", "name": "X", "country": "AR"}])), "p.csv"),
                               "dry_run": "0"}),
        ("/rounds/new", {"name": "Forbidden round", "rule": "quota", "default_quota": "1", "draws": "0"}),
        (f"/rounds/{rid}/rerun", {}),
        (f"/rounds/{rid}/freeze", {}),
        (f"/rounds/{rid}/override/{code}", {"selected": "0", "rationale": "not allowed"}),
    ]


def api_calls(inst, rid):
    body = csv_file(inst, [{"code": "AR-997", "name": "X", "country": "AR"}])
    return [
        ("get", "/providers/template.csv", {}),
        ("get", "/providers", {}),
        ("get", f"/selection-rounds/{rid}", {}),
        ("post", "/providers/import?dry_run=0", {"data": body, "content_type": "text/csv"}),
        ("post", "/selection-rounds", {"json": {"name": "Forbidden", "default_quota": 1, "draws": 0}}),
    ]


def assert_untouched(app, pid, rid):
    data = providers(app)
    assert set(data) == {"PE-001"} and data["PE-001"]["name"] == "Proveedor PE-001"
    assert count(app, SelectionRound) == 1 and count(app, SelectionOverride) == 0
    assert count(app, AuditEntry) == 0
    with app.app_context():
        s = db.new_session()
        assert s.get(SelectionRound, rid).status == "open"
        s.close()


@pytest.mark.parametrize("role", ["member", "reviewer"])
def test_pages_refuse_members_and_reviewers(app, client, factory, inst, world, role):
    pid, rid, code = world
    login(client, factory.user(role))
    for url in page_gets(pid, rid, code):
        assert download(client, url)[0] == 403, url
    for url, data in page_posts(inst, pid, rid, code):
        response = client.post(url, data=data, content_type="multipart/form-data" if "file" in data else None)
        assert response.status_code == 403, url
    assert_untouched(app, pid, rid)


def test_anonymous_pages_redirect_to_login(app, client, inst, world):
    pid, rid, code = world
    for url in page_gets(pid, rid, code):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    for url, data in page_posts(inst, pid, rid, code):
        response = client.post(url, data=data, content_type="multipart/form-data" if "file" in data else None)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    assert_untouched(app, pid, rid)


def test_api_refuses_members_reviewers_and_anonymous(app, factory, inst, world):
    pid, rid, _code = world
    client = app.test_client()
    for method, path, kw in api_calls(inst, rid):
        response = getattr(client, method)(API + path, **kw)
        assert response.status_code == 401 and response.is_json, path
        assert response.get_json()["error"]["status"] == 401
    for role in ("member", "reviewer"):
        headers = bearer(factory.token(factory.user(role)))
        for method, path, kw in api_calls(inst, rid):
            response = getattr(client, method)(API + path, headers=headers, **kw)
            assert response.status_code == 403 and response.is_json, (role, path)
            assert response.get_json()["error"]["message"] == "Only project staff can do this."
    assert_untouched(app, pid, rid)


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_and_admin_get_every_page_and_endpoint(app, client, factory, inst, world, role):
    pid, rid, code = world
    user = factory.user(role)
    login(client, user)
    expected = {".pdf": "application/pdf", ".zip": "application/zip", ".csv": "text/csv",
                ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    letters = (f"/rounds/{rid}/letters/{code}.pdf", f"/rounds/{rid}/documents.zip")
    for url in letters:  # the round is open: its selection can still change, so no letters yet
        status, mimetype, body = download(client, url)
        assert status == 409 and mimetype == "text/html" and "rondas congeladas" in body.decode(), url
    with app.app_context():
        from rubric_app.models import SelectionRound
        from rubric_app.services import selection as sel

        s = db.new_session()
        sel.freeze(s, s.merge(user), s.get(SelectionRound, rid))
        s.close()
    for url in page_gets(pid, rid, code):
        status, mimetype, _body = download(client, url)
        assert status == 200, url
        suffix = next((s for s in expected if url.endswith(s)), None)
        assert mimetype == (expected[suffix] if suffix else "text/html"), url
    api = app.test_client()
    headers = bearer(factory.token(user))
    for path in ("/providers/template.csv", "/providers", f"/selection-rounds/{rid}"):
        with api.get(API + path, headers=headers) as response:
            assert response.status_code == 200, path


# ----------------------------------------------------------------------------- create and edit


def test_create_provider_via_form(app, staff_client, inst):
    data = form_data(inst, code="PE-014")
    del data["fact_facilitator_staff"]  # an unticked checkbox is not sent
    data[f"item_{inst.items[0].id}"] = "4"
    data[f"item_{inst.items[1].id}"] = ""  # not assessed
    response = staff_client.post("/providers/new", data=data)
    assert response.status_code == 302
    saved = providers(app)["PE-014"]
    with app.app_context():
        s = db.new_session()
        pid = s.scalar(select(Provider.id).where(Provider.code == "PE-014"))
        s.close()
    assert response.headers["Location"].endswith(f"/providers/{pid}")
    assert (saved["name"], saved["country"], saved["city"], saved["type"]) == ("Fundación Puentes", "PE", "Lima", "ngo")
    assert saved["contact_email"] == "rosa@puentes.example" and saved["synthetic"] is False
    assert saved["facts"] == {"entrepreneurship_training": True, "commitment_letter": True, "facilitator_staff": False}
    expected = {item.id: 2 for item in inst.items}
    expected[inst.items[0].id], expected[inst.items[1].id] = 4, None
    assert saved["item_scores"] == expected
    page = text(staff_client.get(response.headers["Location"]))
    assert "The provider was saved." in page and "Fundación Puentes" in page


@pytest.mark.parametrize("field, value, message", [
    ("code", "PE 014!", "Code: letters, digits"),
    ("code", "", "Code: letters, digits"),
    ("country", "XX", "Unknown country code."),
    ("name", "", "The name is required"),
    ("type", "cartel", "Unknown provider type."),  # shown at the field since errors are placed per field
    ("item_marketing_branding", "5", "Score must be between 0 and 4."),
    ("item_digital_payments", "-1", "Score must be between 0 and 4."),
    ("item_legal_formalisation", "dos", "Score must be between 0 and 4."),
])
def test_invalid_provider_form_writes_nothing(app, staff_client, inst, field, value, message):
    response = staff_client.post("/providers/new", data=form_data(inst, **{field: value}))
    assert response.status_code == 422
    page = text(response)
    assert re.findall(r'role="alert">(.*?)</p>', page) == ["The provider was not saved: check the fields marked."]
    marked = re.findall(r'<p class="error"[^>]*>(.*?)</p>', page)
    assert (marked == []) if message is None else (len(marked) == 1 and marked[0].startswith(message)), marked
    assert f'value="{form_data(inst)["contact_email"]}"' in page  # the typed values are kept
    assert count(app, Provider) == 0


def test_duplicate_code_is_refused(app, staff, staff_client, inst):
    add_provider(app, staff, "PE-014", name="Original")
    response = staff_client.post("/providers/new", data=form_data(inst, code="PE-014", name="Copia"))
    assert response.status_code == 409  # a clash with a stored record is a conflict
    assert "Another provider already has this code." in text(response)
    assert 'value="Copia"' in response.get_data(as_text=True)  # the typed values are kept
    assert count(app, Provider) == 1 and providers(app)["PE-014"]["name"] == "Original"
    # the same through editing another provider
    other = add_provider(app, staff, "PE-015", name="Otro")
    response = edit_provider(staff_client, other, form_data(inst, code="PE-014", name="Otro cambiado"))
    assert response.status_code == 409 and "Another provider already has this code." in text(response)
    assert set(providers(app)) == {"PE-014", "PE-015"} and providers(app)["PE-015"]["name"] == "Otro"


def test_edit_provider(app, staff, staff_client, inst):
    pid = add_provider(app, staff, "AR-003", country="AR", name="Asesores Progreso", default=1)
    page = text(staff_client.get(f"/providers/{pid}/edit"))
    assert 'value="AR-003"' in page and 'value="Asesores Progreso"' in page
    assert re.search(r'<option value="AR"\s+selected>', page)
    assert re.search(rf'name="item_{inst.items[0].id}">.*?<option value="1"\s+selected>', page, re.S)
    opened = hidden_fields(page)
    response = edit_provider(staff_client, pid, form_data(inst, code="AR-003", name="Asesores Progreso SRL", country="AR",
                                                          ptype="private_firm", score="3", fact_commitment_letter=""), opened)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/providers/{pid}")
    saved = providers(app)["AR-003"]
    assert saved["name"] == "Asesores Progreso SRL" and saved["type"] == "private_firm"
    assert set(saved["item_scores"].values()) == {3} and saved["facts"]["commitment_letter"] is False
    bad = edit_provider(staff_client, pid, form_data(inst, code="AR-003", country="ZZ", name="Cambio"))
    assert bad.status_code == 422 and providers(app)["AR-003"]["name"] == "Asesores Progreso SRL"
    # the page opened before the save is stale: nothing is overwritten, and both values are shown
    stale = edit_provider(staff_client, pid, form_data(inst, code="AR-003", country="AR", name="Asesores Viejos"), opened)
    assert stale.status_code == 409
    assert "Asesores Viejos" in text(stale) and "Asesores Progreso SRL" in text(stale)
    assert hidden_fields(stale.get_data(as_text=True))["version"] != opened["version"]  # saving again is based on theirs
    # a post without any version is refused the same way
    bare = staff_client.post(f"/providers/{pid}/edit", data=form_data(inst, code="AR-003", country="AR", name="Sin versión"))
    assert bare.status_code == 409
    assert providers(app)["AR-003"]["name"] == "Asesores Progreso SRL"
    assert download(staff_client, "/providers/999/edit")[0] == 404


# ----------------------------------------------------------------------------- list and profile


def listed_codes(page: str) -> list[str]:
    return re.findall(r'<a href="/providers/\d+">([^<]+)</a>', page)


def test_list_filters_and_search(app, staff, staff_client):
    add_provider(app, staff, "AR-001", "AR", name="Consultora Impulso", ptype="private_firm", city="Rosario")
    add_provider(app, staff, "AR-002", "AR", name="Universidad Tecnológica", ptype="university", city="Córdoba")
    add_provider(app, staff, "CO-001", "CO", name="Fundación Oportunidades", ptype="ngo", city="Cúcuta")
    add_provider(app, staff, "PE-001", "PE", name="Universidad del Pacífico Sur", ptype="university", city="Tumbes")
    page = text(staff_client.get("/providers"))
    assert listed_codes(page) == ["AR-001", "AR-002", "CO-001", "PE-001"] and "4 providers" in page
    assert listed_codes(text(staff_client.get("/providers?country=AR"))) == ["AR-001", "AR-002"]
    assert listed_codes(text(staff_client.get("/providers?country=ar"))) == ["AR-001", "AR-002"]
    assert listed_codes(text(staff_client.get("/providers?type=university"))) == ["AR-002", "PE-001"]
    assert listed_codes(text(staff_client.get("/providers?type=university&country=PE"))) == ["PE-001"]
    assert listed_codes(text(staff_client.get("/providers?q=UNIVERSIDAD"))) == ["AR-002", "PE-001"]
    assert listed_codes(text(staff_client.get("/providers?q=cúcuta"))) == ["CO-001"]  # city
    assert listed_codes(text(staff_client.get("/providers?q=co-0"))) == ["CO-001"]  # code
    empty = text(staff_client.get("/providers?q=nada&country=AR"))
    assert listed_codes(empty) == [] and "No provider matches." in empty
    with staff_client.get("/api/v1/providers?country=AR&type=university") as response:
        body = response.get_json()
    assert body["total"] == 1 and [p["code"] for p in body["providers"]] == ["AR-002"]
    assert body["providers"][0]["item_scores"]["marketing_branding"] == 2 and body["providers"][0]["synthetic"] is False


def test_list_pagination(app, staff_client, inst):
    from rubric_app.services.providers import seed_synthetic_providers

    with app.app_context():
        s = db.new_session()
        seed_synthetic_providers(s, inst, 55, 11)
        s.close()
    first = text(staff_client.get("/providers"))
    codes1 = listed_codes(first)
    assert len(codes1) == 50 and codes1 == sorted(codes1) and "55 providers" in first and "Page 1 of 2" in first
    assert "page=2" in first
    second = text(staff_client.get("/providers?page=2"))
    codes2 = listed_codes(second)
    assert len(codes2) == 5 and "Page 2 of 2" in second and not set(codes1) & set(codes2)
    assert set(codes1 + codes2) == set(providers(app))
    assert listed_codes(text(staff_client.get("/providers?page=0"))) == codes1  # clamped to the first page
    filtered = text(staff_client.get("/providers?country=PE"))
    assert "Page 1 of 2" not in filtered and all(c.startswith("SYN-PE-") for c in listed_codes(filtered))


def test_profile_shows_a_chart_and_the_country_median(app, staff, staff_client):
    # marketing scores in Peru: 25, 50, 100 -> median 50; the Argentine 0 does not count
    mine = add_provider(app, staff, "PE-001", name="Red de Mentores", default=1, marketing=1)
    add_provider(app, staff, "PE-002", default=2, marketing=2)
    add_provider(app, staff, "PE-003", default=4, marketing=4)
    add_provider(app, staff, "AR-001", "AR", default=0, marketing=0)
    response = staff_client.get(f"/providers/{mine}")
    assert response.status_code == 200
    page = text(response)
    assert "<svg" in page and "</svg>" in page and "Median of Peru" in page
    row = re.search(r"<td>Marketing capacity</td>\s*<td class=\"num\">([^<]+)</td>\s*<td class=\"num\">([^<]+)</td>", page)
    assert row and row.groups() == ("25.0", "50.0")
    assert "Median over 3 providers in the same country." in page
    assert download(staff_client, "/providers/999")[0] == 404


# ----------------------------------------------------------------------------- import on the page


def test_import_page_dry_run_then_import_now(app, tmp_path, staff_client, inst):
    response = upload(staff_client, two_providers(inst))
    assert response.status_code == 200
    page = text(response)
    assert "2 to create, 0 to update, 0 unchanged." in page
    assert "CO-010 · Cámara de Comercio de Cúcuta" in page and "Import now" in page
    assert count(app, Provider) == 0
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    assert count(app, PendingUpload, token=token) == 1  # kept in the database, for any app server

    response = staff_client.post("/providers/import", data={"token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/providers")
    assert "Import done: 2 created, 0 updated, 0 unchanged." in text(staff_client.get("/providers"))
    saved = providers(app)
    assert set(saved) == {"CO-010", "DO-020"}
    assert saved["DO-020"]["facts"] == {"entrepreneurship_training": True, "commitment_letter": False, "facilitator_staff": True}
    assert saved["DO-020"]["item_scores"]["marketing_branding"] == 4 and saved["DO-020"]["item_scores"]["digital_payments"] is None
    assert saved["CO-010"]["type"] == "chamber" and saved["CO-010"]["city"] == "Cúcuta"
    assert count(app, PendingUpload) == 0

    # the token is spent
    response = staff_client.post("/providers/import", data={"token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/providers/import")
    assert "no longer available" in text(staff_client.get("/providers/import"))
    assert count(app, Provider) == 2


def test_import_page_lists_problems_with_row_and_column(app, staff_client, inst):
    data = csv_file(inst, [
        {"code": "PE-100", "name": "Bien", "country": "PE"},
        {"code": "PE-101", "name": "Mal país", "country": "XX"},
        {"code": "PE-102", "name": "Mal puntaje", "country": "PE", "finance_seed_capital": "7"},
    ])
    response = upload(staff_client, data)
    assert response.status_code == 422
    page = text(response)
    assert "2 problems in providers.csv; nothing was imported." in page
    rows = [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td>(.*?)</td>", tr)]
            for tr in re.findall(r"<tr>(<td>.*?)</tr>", page, re.S)]
    assert ["3", "country", "XX"] == rows[0][:3] and "Unknown country" in rows[0][3]
    assert ["4", "finance_seed_capital", "7"] == rows[1][:3] and "whole number from 0 to 4" in rows[1][3]
    assert "Import now" not in page and count(app, Provider) == 0
    # a direct import of the same file writes nothing either
    assert upload(staff_client, data, dry_run="0").status_code == 422 and count(app, Provider) == 0
    # no file at all
    response = staff_client.post("/providers/import", data={"dry_run": "1"})
    assert response.status_code == 422 and "Choose a CSV or XLSX file." in text(response)


def test_importing_the_same_file_twice_changes_nothing(app, staff_client, inst):
    data = two_providers(inst)
    assert upload(staff_client, data, dry_run="0").status_code == 302
    before = providers(app)
    assert set(before) == {"CO-010", "DO-020"}

    again = text(upload(staff_client, data))
    assert "0 to create, 0 to update, 2 unchanged." in again and "Import now" not in again
    assert upload(staff_client, data, dry_run="0").status_code == 302
    assert "Import done: 0 created, 0 updated, 2 unchanged." in text(staff_client.get("/providers"))
    assert providers(app) == before  # updated_at included

    changed = data.replace("Incubadora Social Caribe".encode(), "Incubadora Social del Caribe".encode())
    page = text(upload(staff_client, changed))
    assert "0 to create, 1 to update, 1 unchanged." in page
    assert "<td>DO-020</td><td>name</td><td>Incubadora Social Caribe</td><td>Incubadora Social del Caribe</td>" in page
    assert providers(app) == before


# ----------------------------------------------------------------------------- templates and exports


def test_template_csv_has_one_column_per_item(app, api_client, staff_client, inst):
    client, headers = api_client
    with client.get(f"{API}/providers/template.csv", headers=headers) as response:
        assert response.status_code == 200 and response.mimetype == "text/csv"
        body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8-sig").splitlines()
    assert len(lines) == 1
    header = lines[0].split(",")
    assert header[:8] == list(BASE) and header[8:11] == list(FACTS)
    assert header[11:] == [i.id for i in inst.items] and len(header[11:]) == 29 and len(set(header)) == len(header)
    assert download(staff_client, "/providers/template.csv")[2] == body

    from openpyxl import load_workbook

    status, _mime, xlsx = download(staff_client, "/providers/template.xlsx")
    wb = load_workbook(io.BytesIO(xlsx), read_only=True)
    first = next(wb.worksheets[0].iter_rows(values_only=True))
    wb.close()
    assert status == 200 and list(first) == header
    assert download(staff_client, "/providers/template.pdf")[0] == 404


def test_export_reimports_with_no_changes(app, staff, staff_client, api_client, inst):
    add_provider(app, staff, "PE-001", name="=HYPERLINK(\"http://x\")", facts={"commitment_letter": True}, default=3, legal=None)
    add_provider(app, staff, "AR-001", "AR", name="Asociación \"Manos\", Unidas; Ñandú", city="-Rosario", default=0)
    with app.app_context():
        s = db.new_session()
        p = s.scalar(select(Provider).where(Provider.code == "AR-001"))
        p.contact_phone, p.contact_email = "+54 341 555", "info@manos.example"
        s.commit()
        s.close()
    before = providers(app)
    status, mimetype, data = download(staff_client, "/providers/export.csv")
    assert status == 200 and mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 3 and [r[0] for r in rows[1:]] == ["AR-001", "PE-001"]
    assert rows[2][1] == "'=HYPERLINK(\"http://x\")"  # spreadsheets must not run it

    client, headers = api_client
    checked = client.post(f"{API}/providers/import?dry_run=1", data=data, headers=headers, content_type="text/csv")
    assert checked.status_code == 200 and re.fullmatch(r"[0-9a-f]{20}", checked.get_json()["stamp"])
    # a file that changes nothing needs no If-Match
    response = client.post(f"{API}/providers/import?dry_run=0", data=data, headers=headers, content_type="text/csv")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"dry_run": False, "created": [], "updated": [], "unchanged": ["AR-001", "PE-001"],
                                   "stamp": checked.get_json()["stamp"]}

    status, _mime, xlsx = download(staff_client, "/providers/export.xlsx")
    response = client.post(f"{API}/providers/import?dry_run=0", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(xlsx), "providers.xlsx")})
    assert status == 200 and response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["unchanged"] == ["AR-001", "PE-001"] and response.get_json()["updated"] == []
    assert providers(app) == before


# ----------------------------------------------------------------------------- import through the API


def test_api_import_dry_run_then_apply(app, api_client, inst):
    client, headers = api_client
    data = two_providers(inst)
    response = client.post(f"{API}/providers/import?dry_run=1", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), "lote.csv")})
    assert response.status_code == 200
    stamp = response.get_json().pop("stamp")
    assert re.fullmatch(r"[0-9a-f]{20}", stamp)
    assert response.get_json() == {"dry_run": True, "created": ["CO-010", "DO-020"], "updated": [], "unchanged": [], "stamp": stamp}
    assert count(app, Provider) == 0
    response = client.post(f"{API}/providers/import", headers=headers, data=data, content_type="text/csv")  # dry run by default
    assert response.get_json()["dry_run"] is True and count(app, Provider) == 0

    # a file that only creates providers needs no If-Match
    response = client.post(f"{API}/providers/import?dry_run=0", headers=headers, data=data, content_type="text/csv; charset=utf-8")
    assert response.status_code == 200
    assert response.get_json() == {"dry_run": False, "created": ["CO-010", "DO-020"], "updated": [], "unchanged": [], "stamp": stamp}
    assert set(providers(app)) == {"CO-010", "DO-020"}

    # a file that updates existing providers is applied with the stamp of its dry run
    changed = data.replace(b"Santo Domingo", b"La Romana")
    unguarded = client.post(f"{API}/providers/import?dry_run=0", headers=headers, data=changed, content_type="text/csv")
    assert unguarded.status_code == 428 and unguarded.get_json()["error"]["status"] == 428
    assert providers(app)["DO-020"]["city"] == "Santo Domingo"
    checked = client.post(f"{API}/providers/import?dry_run=1", headers=headers, data=changed, content_type="text/csv")
    assert checked.get_json()["updated"] == [{"code": "DO-020", "changes": {"city": {"old": "Santo Domingo", "new": "La Romana"}}}]
    plan_stamp = checked.get_json()["stamp"]
    response = client.post(f"{API}/providers/import?dry_run=0", headers={**headers, "If-Match": f'"{plan_stamp}"'},
                           content_type="multipart/form-data", data={"file": (io.BytesIO(changed), "lote.csv")})
    assert response.status_code == 200
    assert response.get_json() == {"dry_run": False, "created": [], "unchanged": ["CO-010"], "stamp": plan_stamp,
                                   "updated": [{"code": "DO-020", "changes": {"city": {"old": "Santo Domingo", "new": "La Romana"}}}]}
    assert providers(app)["DO-020"]["city"] == "La Romana"
    # the same stamp is stale now that DO-020 changed: nothing is written
    again = data.replace(b"Santo Domingo", b"Santiago")
    stale = client.post(f"{API}/providers/import?dry_run=0", headers={**headers, "If-Match": f'"{plan_stamp}"'}, data=again,
                        content_type="text/csv")
    assert stale.status_code == 412 and stale.get_json()["error"]["status"] == 412
    assert providers(app)["DO-020"]["city"] == "La Romana"


def test_api_import_problems_are_422_json(app, api_client, inst):
    client, headers = api_client
    data = csv_file(inst, [
        {"code": "PE-1", "name": "Uno", "country": "PE", "type": "secta"},
        {"code": "PE-2", "name": "Dos", "country": "PE", "commitment_letter": "quizás", "digital_online_sales": "2.5"},
        {"code": "PE-1", "name": "Repetido", "country": "PE"},
    ])
    response = client.post(f"{API}/providers/import?dry_run=0", headers=headers, data=data, content_type="text/csv")
    assert response.status_code == 422 and response.is_json
    error = response.get_json()["error"]
    assert error["message"] == "The file has problems; nothing was imported."
    got = [(d["row"], d["column"], d["value"]) for d in error["details"]]
    assert got == [(2, "type", "secta"), (3, "commitment_letter", "quizás"), (3, "digital_online_sales", "2.5")]
    assert all(d["message"] for d in error["details"])
    assert count(app, Provider) == 0

    bad_header = "code,name,colour\r\nPE-1,Uno,rojo\r\n".encode()
    response = client.post(f"{API}/providers/import?dry_run=1", headers=headers, data=bad_header, content_type="text/csv")
    details = response.get_json()["error"]["details"]
    assert response.status_code == 422
    assert (1, "colour") in {(d["row"], d["column"]) for d in details}
    assert any(d["column"] == "country" and d["message"] == "Missing column." for d in details)


@pytest.mark.parametrize("query, kw", [
    ("?dry_run=x", {"content_type": "text/csv"}),
    ("?dry_run=true", {"content_type": "text/csv"}),
    ("?dry_run=0", {"content_type": "application/json"}),  # neither a file nor a CSV/XLSX body
])
def test_api_import_refuses_bad_requests(app, api_client, inst, query, kw):
    client, headers = api_client
    response = client.post(f"{API}/providers/import{query}", headers=headers, data=two_providers(inst), **kw)
    assert response.status_code == 422 and response.is_json
    assert response.get_json()["error"]["status"] == 422
    assert count(app, Provider) == 0


# ----------------------------------------------------------------------------- bugs found


def test_search_takes_underscore_and_percent_literally(app, staff, staff_client):
    add_provider(app, staff, "PE-001", name="Fundación Puentes")
    add_provider(app, staff, "PE_002", name="Red 100% Emprende")
    assert listed_codes(text(staff_client.get("/providers?q=E_0"))) == ["PE_002"]
    assert listed_codes(text(staff_client.get("/providers?q=0%25 E"))) == ["PE_002"]  # "0% E"
    assert listed_codes(text(staff_client.get("/providers?q=%25"))) == ["PE_002"]  # "%"


def test_export_round_trips_a_leading_apostrophe(app, staff, staff_client, api_client):
    add_provider(app, staff, "PE-001", name="'=Uno")
    add_provider(app, staff, "PE-002", name="'+51 Servicios", city="'-Sur")
    client, headers = api_client
    data = download(staff_client, "/providers/export.csv")[2]
    response = client.post(f"{API}/providers/import?dry_run=1", data=data, headers=headers, content_type="text/csv")
    assert response.status_code == 200
    assert response.get_json()["updated"] == [] and response.get_json()["unchanged"] == ["PE-001", "PE-002"]


def test_form_offers_each_item_its_own_meaning_of_the_scale(staff_client, inst):
    """Where the frequency scale does not fit (premises, childcare), the options read the item's anchors."""
    page = staff_client.get("/providers/new?lang=es").get_data(as_text=True)
    childcare = next(i for i in inst.items if i.id == "infrastructure_childcare")
    generic = next(i for i in inst.items if not i.anchors)
    assert f"0 · {escape(childcare.anchor(0, 'es'))}" in page
    assert f"4 · {escape(childcare.anchor(4, 'es'))}" in page
    select = page.split(f'id="item_{generic.id}"')[1].split("</select>")[0]
    assert f"2 · {escape(inst.scale[2].name('es'))}" in select  # the generic scale where no anchors are given
