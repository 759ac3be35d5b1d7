"""CSRF protection with WTF_CSRF_ENABLED on, as in production."""
from __future__ import annotations

import pytest

from rubric_app.models import ApiToken, Assessment, Institution, User
from tests.conftest import PASSWORD, Factory

from .helpers import assessment_row, bearer, count, csrf_token, dimension_data, hidden_fields, page_fields, user_row

API = "/api/v1"


@pytest.fixture
def cfactory(csrf_app):
    return Factory(csrf_app)


@pytest.fixture
def cmember(cfactory):
    return cfactory.user("member")


@pytest.fixture
def browser(csrf_app):
    return csrf_app.test_client()


def sign_in(client, user) -> str:
    """Sign in through the real form (token included); returns a CSRF token for later posts."""
    token = csrf_token(client.get("/login").data)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return csrf_token(client.get("/account").data)


def test_login_without_or_with_a_forged_token_is_refused(browser, cmember):
    response = browser.post("/login", data={"email": cmember.email, "password": PASSWORD})
    assert response.status_code == 400
    browser.get("/login")
    response = browser.post("/login", data={"email": cmember.email, "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400
    assert browser.get("/account").status_code == 302  # not signed in


def test_login_with_the_page_token_works(browser, cmember):
    sign_in(browser, cmember)
    assert browser.get("/account").status_code == 200


def test_register_without_token_writes_nothing(csrf_app, browser):
    data = {"institution_name": "Centro X", "country": "PE", "city": "", "institution_type": "other", "sector": "public",
            "name": "", "email": "x@example.org", "password": "long-enough-1", "confirm": "long-enough-1"}
    assert browser.post("/register", data=data).status_code == 400
    assert count(csrf_app, Institution) == 0 and count(csrf_app, User) == 0


def test_language_without_token_changes_nothing(csrf_app, browser, cmember):
    sign_in(browser, cmember)
    assert browser.post("/language", data={"lang": "pt"}).status_code == 400
    assert user_row(csrf_app, cmember.email).locale is None
    token = csrf_token(browser.get("/").data)
    assert browser.post("/language", data={"lang": "pt", "csrf_token": token}).status_code == 302
    assert user_row(csrf_app, cmember.email).locale == "pt"


def test_logout_without_token_keeps_the_session(browser, cmember):
    token = sign_in(browser, cmember)
    assert browser.post("/logout").status_code == 400
    assert browser.get("/account").status_code == 200
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 302
    assert browser.get("/account").status_code == 302


def test_dimension_post_without_token_saves_nothing(csrf_app, browser, cmember, cfactory, rubric):
    aid = cfactory.assessment(cmember)
    sign_in(browser, cmember)
    dim = rubric.dimension("policy")
    page = browser.get(f"/assessments/{aid}/d/policy").data
    fields = {k: v for k, v in hidden_fields(page).items() if k != "csrf_token"}  # everything but the token
    assert browser.post(f"/assessments/{aid}/d/policy", data={**fields, **dimension_data(dim, "3")}).status_code == 400
    response = browser.post(f"/assessments/{aid}/d/policy", data={**fields, **dimension_data(dim, "3")},
                            headers={"X-Requested-With": "fetch"})
    assert response.status_code == 400 and response.get_json()["error"]["status"] == 400
    assert assessment_row(csrf_app, aid)["answers"] == {}
    token = csrf_token(page)
    assert browser.post(f"/assessments/{aid}/d/policy", data={**fields, **dimension_data(dim, "3", csrf_token=token)}).status_code == 302
    assert len(assessment_row(csrf_app, aid)["answers"]) == 3


def test_submit_without_token_keeps_the_draft(csrf_app, browser, cmember, cfactory):
    aid = cfactory.assessment(cmember, levels=3)
    sign_in(browser, cmember)
    fields = page_fields(browser, f"/assessments/{aid}/review")
    assert fields["csrf_token"] and fields["version"]
    assert browser.post(f"/assessments/{aid}/submit").status_code == 400
    assert browser.post(f"/assessments/{aid}/submit", data={"version": fields["version"]}).status_code == 400  # the version is no token
    assert assessment_row(csrf_app, aid)["status"] == "draft"
    assert browser.post(f"/assessments/{aid}/submit", data=fields).status_code == 302
    assert assessment_row(csrf_app, aid)["status"] == "submitted"


def test_start_and_plan_item_without_token_change_nothing(csrf_app, browser, cmember, cfactory):
    aid = cfactory.assessment(cmember, levels=3, submit=True)
    sign_in(browser, cmember)
    assert browser.post("/assessments/new", data={"instrument": "ifp-migrant-inclusion@1.0", "language": "es"}).status_code == 400
    assert count(csrf_app, Assessment) == 1
    data = {"plan_access_documents-responsible": "Ana", "plan_access_documents-status": "done"}
    assert browser.post(f"/assessments/{aid}/plan/access_documents", data=data).status_code == 400
    assert assessment_row(csrf_app, aid)["plan"] == {}


def test_token_create_and_revoke_without_token_change_nothing(csrf_app, browser, cmember, cfactory):
    cfactory.token(cmember)
    sign_in(browser, cmember)
    assert browser.post("/account/tokens", data={"name": "x"}).status_code == 400
    assert count(csrf_app, ApiToken) == 1
    assert browser.post("/account/tokens/1/revoke").status_code == 400
    assert count(csrf_app, ApiToken, revoked_at=None) == 1


def test_api_put_with_session_needs_the_csrf_header(csrf_app, browser, cmember, cfactory):
    aid = cfactory.assessment(cmember)
    token = sign_in(browser, cmember)
    body = [{"criterion": "access_documents", "level": 2}]
    response = browser.put(f"{API}/assessments/{aid}/answers", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["status"] == 400
    assert browser.post(f"{API}/assessments", json={"instrument": "ifp-migrant-inclusion"}).status_code == 400
    assert assessment_row(csrf_app, aid)["answers"] == {} and count(csrf_app, Assessment) == 1
    assert browser.get(f"{API}/assessments/{aid}").status_code == 200  # reading needs no token
    ok = browser.put(f"{API}/assessments/{aid}/answers", json=body, headers={"X-CSRFToken": token})
    assert ok.status_code == 200
    assert assessment_row(csrf_app, aid)["answers"]["access_documents"]["level"] == 2


def test_api_with_bearer_token_needs_no_csrf(csrf_app, cmember, cfactory):
    aid = cfactory.assessment(cmember)
    client = csrf_app.test_client()
    headers = bearer(cfactory.token(cmember))
    response = client.put(f"{API}/assessments/{aid}/answers", json=[{"criterion": "access_documents", "level": 2}], headers=headers)
    assert response.status_code == 200
    assert assessment_row(csrf_app, aid)["answers"]["access_documents"]["level"] == 2
    assert client.post(f"{API}/assessments", json={"instrument": "ifp-migrant-inclusion"}, headers=headers).status_code == 201


def test_bearer_token_does_not_bypass_csrf_on_html_forms(csrf_app, cmember, cfactory):
    aid = cfactory.assessment(cmember, levels=3)
    client = csrf_app.test_client()
    response = client.post(f"/assessments/{aid}/submit", headers=bearer(cfactory.token(cmember)))
    assert response.status_code == 400
    assert assessment_row(csrf_app, aid)["status"] == "draft"
