"""Paged API lists (limit, cursor, next link, Link header) and the selection API's list, rerun, freeze and overrides."""
from __future__ import annotations

import pytest

from rubric_app.web.paging import MAX_LIMIT, decode_cursor, encode_cursor

from .helpers import bearer
from .test_rounds import API, QUOTA_ROUND, add_provider, api, create_round, pool, staff  # noqa: F401 (fixtures)


def follow(client_get, first_url: str) -> tuple[list[dict], list[dict]]:
    """Every page from first_url on: (bodies, responses' Link headers)."""
    bodies, links = [], []
    url = first_url
    while url:
        response = client_get(url)
        assert response.status_code == 200, response.get_data(as_text=True)
        body = response.get_json()
        bodies.append(body)
        links.append(response.headers.get("Link"))
        url = body["next"]
        if url:
            assert response.headers["Link"] == f'<{url}>; rel="next"'
            url = url.split("/api/v1", 1)[1]
    return bodies, links


def test_cursor_round_trips_and_refuses_anything_else():
    for offset in (0, 1, 50, 9_999_999):
        assert decode_cursor(encode_cursor(offset)) == offset
    from rubric_app.services import Invalid

    for bad in ("", "x", "bzo", encode_cursor(1) + "A" * 40, "b246LTE", "b246MDE", "b246wrM", "٣", "o:5",
                encode_cursor(10_000_000)):
        with pytest.raises(Invalid):
            decode_cursor(bad)


@pytest.fixture
def many_providers(app, staff):  # noqa: F811
    codes = [f"AR-{i:03d}" for i in range(1, 8)] + [f"PE-{i:03d}" for i in range(1, 6)]
    for code in codes:
        add_provider(app, staff, code, code[:2])
    return codes


def test_providers_come_in_pages_that_cover_the_registry_once(api, many_providers):  # noqa: F811
    bodies, links = follow(api.get, "/providers?limit=5")
    assert [len(b["providers"]) for b in bodies] == [5, 5, 2]
    assert all(b["total"] == 12 and b["limit"] == 5 for b in bodies)
    assert [p["code"] for b in bodies for p in b["providers"]] == many_providers
    assert bodies[-1]["next"] is None and links[-1] is None


def test_paging_keeps_the_filters(api, many_providers):  # noqa: F811
    bodies, _ = follow(api.get, "/providers?country=PE&limit=2")
    assert [p["code"] for b in bodies for p in b["providers"]] == [c for c in many_providers if c.startswith("PE")]
    assert all("country=PE" in b["next"] for b in bodies[:-1])


def test_default_page_size_and_maximum(api, many_providers):  # noqa: F811
    body = api.get("/providers").get_json()
    assert body["limit"] == 50 and len(body["providers"]) == 12 and body["next"] is None
    assert api.get(f"/providers?limit={MAX_LIMIT}").status_code == 200


@pytest.mark.parametrize("query", ["limit=0", f"limit={MAX_LIMIT + 1}", "limit=-1", "limit=abc", "limit=1e3", "limit=³",
                                   "limit=99999999999999999999", "cursor=", "cursor=%00", "cursor=" + "A" * 500,
                                   "archived=maybe"])
def test_bad_paging_parameters_are_a_422_naming_the_parameter(api, many_providers, query):  # noqa: F811
    response = api.get(f"/providers?{query}")
    assert response.status_code == 422, response.get_data(as_text=True)
    field = query.split("=")[0]
    assert response.get_json()["error"]["details"][0]["field"] == field


def test_archived_providers_are_listed_only_when_asked(app, api, many_providers):  # noqa: F811
    from rubric_app.extensions import db
    from rubric_app.models import Provider
    from rubric_app.models import utcnow

    with app.app_context():
        s = db.new_session()
        provider = s.query(Provider).filter_by(code="AR-003").one()
        provider.archived_at = utcnow()
        s.commit()
        s.close()
    active = [p["code"] for b in follow(api.get, "/providers?limit=100")[0] for p in b["providers"]]
    archived = [p["code"] for b in follow(api.get, "/providers?archived=1")[0] for p in b["providers"]]
    both = follow(api.get, "/providers?archived=all")[0][0]
    assert "AR-003" not in active and archived == ["AR-003"] and both["total"] == 12


def test_assessments_come_in_pages(app, factory):
    reviewer = factory.user("reviewer")
    for _ in range(5):
        factory.assessment(factory.user("member"), levels=3, submit=True)
    client = app.test_client()
    headers = bearer(factory.token(reviewer))
    bodies, _ = follow(lambda url: client.get(API + url, headers=headers), "/assessments?limit=2")
    ids = [a["id"] for b in bodies for a in b["assessments"]]
    assert [len(b["assessments"]) for b in bodies] == [2, 2, 1] and len(set(ids)) == 5
    assert ids == sorted(ids, reverse=True)  # newest first
    assert all(isinstance(a["version"], int) for b in bodies for a in b["assessments"])


def test_a_round_is_a_summary_plus_paged_results(api, pool):  # noqa: F811
    created = create_round(api)
    assert created["total"] == 8 and created["counts"]["providers"] == 8
    assert created["counts"]["by_country"]["AR"]["selected"] == 2 and created["counts"]["by_country"]["PE"]["selected"] == 1
    assert created["counts"]["selected"] == 3 and created["counts"]["eligible"] == 5
    bodies, _ = follow(api.get, f"/selection-rounds/{created['id']}?limit=3")
    codes = [r["code"] for b in bodies for r in b["results"]]
    assert codes == ["AR-B", "AR-C", "AR-A", "AR-D", "PE-3", "PE-4", "PE-1", "PE-2"]
    assert all(b["version"] == created["version"] and b["counts"] == created["counts"] for b in bodies)
    assert all("contact_email" not in r for b in bodies for r in b["results"])


def test_rounds_are_listed_newest_first(api, pool):  # noqa: F811
    first = create_round(api)
    second = create_round(api, name="Ronda 2026 B")
    body = api.get("/selection-rounds?limit=1").get_json()
    assert [r["id"] for r in body["rounds"]] == [second["id"]] and body["total"] == 2 and body["next"]
    assert body["rounds"][0]["url"] == f"/api/v1/selection-rounds/{second['id']}"
    rest = api.get(body["next"].split("/api/v1", 1)[1]).get_json()
    assert [r["id"] for r in rest["rounds"]] == [first["id"]] and rest["next"] is None


def test_override_rerun_and_freeze_over_the_api(app, factory, staff, pool):  # noqa: F811
    client = app.test_client()
    headers = bearer(factory.token(staff))
    body = client.post(f"{API}/selection-rounds", json=QUOTA_ROUND, headers=headers).get_json()
    rid, version = body["id"], body["version"]
    url = f"{API}/selection-rounds/{rid}"

    # an override needs the version it is based on and a rationale
    no_precondition = client.put(f"{url}/overrides/PE-4", json={"selected": True, "rationale": "Cubre zona rural"}, headers=headers)
    assert no_precondition.status_code == 428
    no_reason = client.put(f"{url}/overrides/PE-4", json={"selected": True, "rationale": " "},
                           headers={**headers, "If-Match": f'"{version}"'})
    assert no_reason.status_code == 422
    bad = client.put(f"{url}/overrides/PE-4", json={"selected": "yes", "rationale": "x"}, headers={**headers, "If-Match": f'"{version}"'})
    assert bad.status_code == 422
    unknown = client.put(f"{url}/overrides/XX-9", json={"selected": True, "rationale": "x"}, headers={**headers, "If-Match": f'"{version}"'})
    assert unknown.status_code == 404
    done = client.put(f"{url}/overrides/PE-4", json={"selected": True, "rationale": "Cubre zona rural"},
                      headers={**headers, "If-Match": f'"{version}"'})
    assert done.status_code == 200, done.get_data(as_text=True)
    after = done.get_json()
    pe4 = next(r for r in after["results"] if r["code"] == "PE-4")
    assert pe4["selected"] is True and pe4["override"]["rationale"] == "Cubre zona rural"
    assert after["version"] > version and done.headers["ETag"] == f'"{after["version"]}"'
    stale = client.put(f"{url}/overrides/PE-3", json={"selected": False, "rationale": "x"}, headers={**headers, "If-Match": f'"{version}"'})
    assert stale.status_code == 412

    # rerun keeps the override; freeze with the current version; then nothing changes any more
    rerun = client.post(f"{url}/rerun", headers={**headers, "If-Match": f'"{after["version"]}"'})
    assert rerun.status_code == 200, rerun.get_data(as_text=True)
    current = rerun.get_json()["version"]
    assert client.post(f"{url}/freeze", headers=headers).status_code == 428
    assert client.post(f"{url}/freeze", headers={**headers, "If-Match": f'"{current - 1}"'}).status_code == 412
    frozen = client.post(f"{url}/freeze", json={"version": current}, headers=headers)
    assert frozen.status_code == 200 and frozen.get_json()["status"] == "frozen" and frozen.get_json()["frozen_at"]
    version = frozen.get_json()["version"]
    again = client.post(f"{url}/freeze", headers={**headers, "If-Match": f'"{version}"'})
    assert again.status_code == 409
    late = client.put(f"{url}/overrides/PE-3", json={"selected": False, "rationale": "x"}, headers={**headers, "If-Match": f'"{version}"'})
    assert late.status_code == 409
    check = client.post(f"{url}/rerun", headers={**headers, "If-Match": f'"{version}"'})
    assert check.status_code == 200 and check.get_json()["results"] == frozen.get_json()["results"]


def test_selection_api_refuses_other_roles(app, factory, pool):  # noqa: F811
    member = factory.user("member")
    client = app.test_client()
    headers = bearer(factory.token(member))
    for method, path in (("get", "/selection-rounds"), ("post", "/selection-rounds/1/rerun"), ("post", "/selection-rounds/1/freeze"),
                         ("put", "/selection-rounds/1/overrides/AR-A")):
        response = getattr(client, method)(API + path, headers=headers, json={"selected": True, "rationale": "x"})
        assert response.status_code == 403, (method, path)


def test_freeze_from_a_signed_in_browser_needs_the_csrf_token(csrf_app):
    from tests.conftest import Factory

    from .test_csrf import sign_in

    staff_user = Factory(csrf_app).user("staff")
    client = csrf_app.test_client()
    sign_in(client, staff_user)
    for method, path in (("post", "/selection-rounds/1/freeze"), ("post", "/selection-rounds/1/rerun"),
                         ("put", "/selection-rounds/1/overrides/AR-A")):
        response = getattr(client, method)(API + path, json={"version": 1, "selected": True, "rationale": "x"})
        assert response.status_code == 400 and response.get_json()["error"]["status"] == 400, (method, path)


def test_a_token_s_last_use_is_written_at_most_once_a_minute(app, factory, monkeypatch):
    from datetime import timedelta

    from rubric_app.extensions import db
    from rubric_app.models import ApiToken
    from rubric_app.services import accounts

    reviewer = factory.user("reviewer")
    headers = bearer(factory.token(reviewer))
    client = app.test_client()

    def last_used():
        with app.app_context():
            s = db.new_session()
            try:
                return s.query(ApiToken).one().last_used_at
            finally:
                s.close()

    assert client.get(f"{API}/assessments", headers=headers).status_code == 200
    first = last_used()
    assert first is not None
    assert client.get(f"{API}/assessments", headers=headers).status_code == 200
    assert last_used() == first  # within the minute: no write
    later = accounts.utcnow() + timedelta(minutes=2)
    monkeypatch.setattr(accounts, "utcnow", lambda: later)
    assert client.get(f"{API}/assessments", headers=headers).status_code == 200
    assert last_used().replace(tzinfo=None) == later.replace(tzinfo=None)


def test_a_round_over_the_api_chooses_its_countries_and_synthetic_providers(app, api, pool):  # noqa: F811
    body = create_round(api, quotas={"PE": 1}, countries=["PE"], include_synthetic=False)
    assert body["settings"]["countries"] == ["PE"] and body["settings"]["include_synthetic"] is False
    assert {r["country"] for r in body["results"]} == {"PE"} and set(body["counts"]["by_country"]) == {"PE"}
    assert set(body["settings"]["weights"]) == {"marketing", "legal", "finance", "inclusion", "infrastructure", "management", "digital"}
    refused = api.post("/selection-rounds", json={**QUOTA_ROUND, "countries": ["PE"]})  # a quota for AR, not covered
    assert refused.status_code == 422
    assert api.post("/selection-rounds", json={**QUOTA_ROUND, "include_synthetic": "yes"}).status_code == 422
