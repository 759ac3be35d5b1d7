"""The review queue in pages (page and API) and the audit log in the API: paging, filters, scoping, refusals."""
from __future__ import annotations

import re

import pytest

from rubric_app.extensions import db
from rubric_app.models import Assessment
from rubric_app.web import review as review_view

from .helpers import bearer, text, tr
from .test_api_paging import follow
from .test_review import client_for


@pytest.fixture
def reviewer(factory):
    return factory.user("reviewer")


@pytest.fixture
def seven(app, factory, reviewer):
    """Seven submitted assessments (AR ×4, CO ×3), one of them validated, and one draft (PE)."""
    from rubric_app.services import review as rsvc

    ids = {}
    for i in range(7):
        country = "AR" if i < 4 else "CO"
        member = factory.user("member", institution=factory.institution(name=f"Instituto {country} número {i}", country=country))
        ids[i] = factory.assessment(member, levels=2 + i % 3, submit=True)
    factory.assessment(factory.user("member", institution=factory.institution(name="Borrador PE", country="PE")), levels=2)
    with app.app_context():
        s = db.new_session()
        a = s.get(Assessment, ids[6])
        user = s.merge(reviewer)
        rsvc.save_review(s, app.extensions["instruments"], user, a, [rsvc.ReviewEntry(r.criterion_id, r.level) for r in a.answers])
        rsvc.validate(s, app.extensions["instruments"], user, a)
        s.close()
    return ids


def page_ids(response) -> list[int]:
    assert response.status_code == 200
    return [int(x) for x in re.findall(r'href="/review/(\d+)"', text(response))]


# -- the page ----------------------------------------------------------------------------------------------------------

def test_the_queue_page_comes_in_pages_that_cover_it_once(app, reviewer, seven, monkeypatch):
    monkeypatch.setattr(review_view, "QUEUE_PAGE_SIZE", 3)
    client = client_for(app, reviewer)
    first = client.get("/review")
    pages = [page_ids(first), page_ids(client.get("/review?page=2")), page_ids(client.get("/review?page=3"))]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert sorted(i for p in pages for i in p) == sorted(seven.values())
    assert seven[6] == pages[-1][-1]  # to review first, the validated one last
    body = text(first)
    assert tr("es", "Page %(page)s of %(pages)s") % {"page": "1", "pages": "3"} in body
    assert 'href="/review?page=2" rel="next"' in body
    # past the last page: the last page
    assert page_ids(client.get("/review?page=99")) == pages[-1]


def test_the_queue_pager_keeps_the_filters(app, reviewer, seven, monkeypatch):
    monkeypatch.setattr(review_view, "QUEUE_PAGE_SIZE", 2)
    client = client_for(app, reviewer)
    body = text(client.get("/review?country=AR&q=instituto"))
    link = re.search(r'href="(/review\?[^"]*)" rel="next"', body).group(1).replace("&amp;", "&")
    assert "country=AR" in link and "q=instituto" in link
    second = page_ids(client.get(link))
    assert len(second) == 2 and set(second) <= {seven[i] for i in range(4)}
    # the count names every row of the filtered queue, not the page's, and which rows are shown
    count = re.search(r'<p class="muted" id="queue-count" role="status">(.*?)</p>', body, re.S).group(1)
    assert count.startswith("4 ") and "1" in count and "2" in count


@pytest.mark.parametrize("bad", ["0", "-1", "x", "³", "1" * 30])
def test_a_bad_page_number_is_a_clear_400(app, reviewer, seven, bad):
    client = client_for(app, reviewer)
    assert client.get(f"/review?page={bad}").status_code == 400


# -- the API -----------------------------------------------------------------------------------------------------------

def test_the_queue_api_pages_cover_it_once_with_the_filters(app, factory, reviewer, seven):
    client = app.test_client()
    headers = bearer(factory.token(reviewer))
    bodies, links = follow(lambda url: client.get("/api/v1" + url, headers=headers), "/review-queue?limit=3")
    assert [len(b["assessments"]) for b in bodies] == [3, 3, 1]
    assert sorted(a["id"] for b in bodies for a in b["assessments"]) == sorted(seven.values())
    assert all(b["total"] == 7 for b in bodies) and links[-1] is None
    assert bodies[-1]["assessments"][-1]["status"] == "validated"
    bodies, _ = follow(lambda url: client.get("/api/v1" + url, headers=headers), "/review-queue?country=co&limit=2")
    assert sorted(a["id"] for b in bodies for a in b["assessments"]) == [seven[4], seven[5], seven[6]]
    assert all("country=co" in b["next"] for b in bodies[:-1])
    only = client.get("/api/v1/review-queue?status=validated", headers=headers).get_json()
    assert [a["id"] for a in only["assessments"]] == [seven[6]] and only["total"] == 1
    none = client.get("/api/v1/review-queue?q=zzzz", headers=headers).get_json()
    assert none["assessments"] == [] and none["total"] == 0 and none["next"] is None


@pytest.mark.parametrize("query, status", [
    ("status=draft", 422), ("country=COL", 422), ("country=1", 422), ("q=" + "x" * 201, 422),
    ("round=0", 400), ("round=99999", 400), ("round=%C2%B3", 400), ("limit=0", 422), ("limit=201", 422), ("cursor=nope", 422),
])
def test_the_queue_api_refuses_bad_input_clearly(app, factory, reviewer, query, status):
    response = app.test_client().get(f"/api/v1/review-queue?{query}", headers=bearer(factory.token(reviewer)))
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["status"] == status


def test_the_queue_api_is_for_reviewers(app, factory, seven):
    client = app.test_client()
    assert client.get("/api/v1/review-queue").status_code == 401
    for role in ("member", "staff"):
        assert client.get("/api/v1/review-queue", headers=bearer(factory.token(factory.user(role)))).status_code == 403
    assert client.get("/api/v1/review-queue", headers=bearer(factory.token(factory.user("admin")))).status_code == 200


def test_the_audit_log_api_pages_what_each_role_may_read(app, factory, reviewer, seven):
    client = app.test_client()
    headers = bearer(factory.token(reviewer))
    whole = client.get("/api/v1/audit-log?limit=200", headers=headers).get_json()
    assert whole["total"] == len(whole["entries"]) > 3
    assert all(e["assessment"] is not None for e in whole["entries"])  # a reviewer reads the assessments' entries
    assert [e["at"] for e in whole["entries"]] == sorted((e["at"] for e in whole["entries"]), reverse=True)
    bodies, links = follow(lambda url: client.get("/api/v1" + url, headers=headers), "/audit-log?limit=2")
    assert [e["id"] for b in bodies for e in b["entries"]] == [e["id"] for e in whole["entries"]]
    one = client.get(f"/api/v1/audit-log?assessment={seven[6]}", headers=headers).get_json()
    assert one["total"] >= 1 and {e["assessment"] for e in one["entries"]} == {seven[6]}
    # staff read the selection rounds' entries only: none about assessments
    staff = client.get("/api/v1/audit-log", headers=bearer(factory.token(factory.user("staff")))).get_json()
    assert all(e["assessment"] is None for e in staff["entries"])


@pytest.mark.parametrize("query, status", [
    ("kind=everything", 422), ("assessment=0", 400), ("assessment=99999999999", 400), ("q=" + "x" * 201, 422),
    ("limit=abc", 422),
])
def test_the_audit_log_api_refuses_bad_input_clearly(app, factory, reviewer, query, status):
    response = app.test_client().get(f"/api/v1/audit-log?{query}", headers=bearer(factory.token(reviewer)))
    assert response.status_code == status, response.get_data(as_text=True)


def test_members_cannot_read_the_audit_log(app, factory, seven):
    client = app.test_client()
    assert client.get("/api/v1/audit-log").status_code == 401
    member = factory.user("member")
    assert client.get("/api/v1/audit-log?kind=validated", headers=bearer(factory.token(member))).status_code == 403


def test_both_lists_are_in_the_openapi_document(app):
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/review-queue", "/audit-log"):
        names = {p["name"] for p in paths[path]["get"]["parameters"]}
        assert {"limit", "cursor", "q"} <= names
