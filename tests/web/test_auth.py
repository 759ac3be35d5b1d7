"""Registration, sign-in/out, language switch, account page and API tokens."""
from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from rubric_app.models import ApiToken, Institution, User
from tests.conftest import PASSWORD, login

from .helpers import bearer, count, text, tr, user_row

REG = {
    "institution_name": "Centro de Formación Norte",
    "country": "PE",
    "city": "Lima",
    "institution_type": "training_centre",
    "sector": "public",
    "name": "Ana Quispe",
    "email": "ana@example.org",
    "password": "long-enough-1",
    "confirm": "long-enough-1",
}


def register(client, lang="en", **changes):
    return client.post(f"/register?lang={lang}", data={**REG, **changes})


# ----------------------------------------------------------------------------- pages


def test_landing_rules_health_check_and_security_headers(client):
    response = client.get("/?lang=en")
    assert response.status_code == 200
    assert 'href="/login"' in response.get_data(as_text=True)
    assert 'href="/register"' in response.get_data(as_text=True)
    assert client.get("/rules").status_code == 200
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


# ----------------------------------------------------------------------------- register


def test_register_page_offers_iso_countries_only(client):
    page = client.get("/register?lang=es").get_data(as_text=True)
    for code in ("PE", "CO", "AR", "DO", "CL", "EC", "ES", "PT"):
        assert f'value="{code}"' in page
    assert 'value="EU"' not in page and 'value="ZZ"' not in page


def last_link(app, to=None):
    """The link in the newest message of the in-memory outbox (to ``to`` when given)."""
    messages = [m for m in app.extensions.get("mail_outbox", []) if to is None or m.to == to]
    assert messages, "no message sent"
    match = re.search(r"https?://\S+", messages[-1].body)
    assert match, messages[-1].body
    return urlsplit(match.group(0)).path


def test_register_sends_a_confirmation_link_that_opens_the_account_once(app, client):
    response = register(client)
    assert response.status_code == 200
    assert "ana@example.org" in text(response) and "Check your e-mail" in text(response)
    assert count(app, Institution) == 1 and count(app, User) == 1
    user = user_row(app, "ana@example.org")
    assert user.role == "member" and user.institution_id is not None and user.locale == "en" and not user.active
    assert client.get("/account").status_code == 302  # not signed in before the confirmation
    assert client.post("/login", data={"email": "ana@example.org", "password": REG["password"]}).status_code == 401
    (message,) = app.extensions["mail_outbox"]
    assert message.to == "ana@example.org" and message.language == "en" and message.subject == "Confirm your e-mail address"
    link = last_link(app)
    assert client.get(link).status_code == 200  # a page with a button: a mail scanner opening the link uses nothing up
    assert not user_row(app, "ana@example.org").active
    response = client.post(link)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    with app.app_context():
        from rubric_app.extensions import db

        s = db.new_session()
        inst = s.get(Institution, user.institution_id)
        assert (inst.name, inst.country, inst.type, inst.sector) == ("Centro de Formación Norte", "PE", "training_centre", "public")
        s.close()
    home = client.get("/")
    assert home.status_code == 200 and "Centro de Formación Norte" in text(home)
    assert client.get("/account").status_code == 200
    assert user_row(app, "ana@example.org").active
    assert app.test_client().post(link).status_code == 404  # single use
    assert app.test_client().post(link[:-3] + "xyz").status_code == 404  # forged


def test_confirmation_link_expires(app, client, monkeypatch):
    register(client)
    link = last_link(app)
    from rubric_app.services import accounts

    monkeypatch.setattr(accounts.confirm_registration, "__kwdefaults__", {"max_age": -1})
    assert client.post(link).status_code == 404
    assert not user_row(app, "ana@example.org").active


def test_register_with_an_existing_email_looks_the_same_and_tells_the_owner(app, factory):
    factory.user("member", email="taken@example.org")
    before = (count(app, Institution), count(app, User))
    fresh = register(app.test_client(), institution_name="Otro centro", email="free@example.org")
    taken = register(app.test_client(), institution_name="Centro B", email="TAKEN@Example.org")
    taken_same_case = register(app.test_client(), institution_name="Centro C", email="taken@example.org")
    assert fresh.status_code == taken.status_code == 200
    normalise = lambda r: re.sub(r'value="[^"]+"', "", text(r).replace("free@example.org", "E").replace("taken@example.org", "E"))
    assert normalise(fresh) == normalise(taken_same_case)
    assert (count(app, Institution), count(app, User)) == (before[0] + 1, before[1] + 1)  # only the fresh one wrote
    assert count(app, Institution, name="Otro centro") == 1 and count(app, Institution, name="Centro B") == 0
    to_owner = [m for m in app.extensions["mail_outbox"] if m.to == "taken@example.org"]
    assert len(to_owner) == 2 and all(m.subject == "You already have an account" for m in to_owner)
    assert "/forgot" in to_owner[0].body


def test_register_duplicate_institution_in_same_country_is_refused(app, client, factory):
    factory.institution(name="Centro de Formación Norte", country="PE")
    response = register(client, institution_name="  centro de formación norte ", email="new@example.org")
    assert response.status_code == 422
    body = text(response)
    assert 'id="institution_name-err"' in body
    assert "An institution with this name is already registered in this country." in body
    assert count(app, Institution) == 1 and count(app, User) == 0


def test_register_same_institution_name_in_another_country_is_allowed(app, client, factory):
    factory.institution(name="Centro de Formación Norte", country="CO")
    response = register(client)
    assert response.status_code == 200
    assert count(app, Institution, name="Centro de Formación Norte") == 2


def test_register_duplicate_name_with_non_ascii_capital_is_a_clean_422(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert register(client, institution_name="Centro Ñandú", email="a@example.org").status_code == 200
    response = register(client, institution_name="Centro Ñandú", email="b@example.org")
    assert response.status_code == 422
    assert count(app, Institution) == 1 and count(app, User) == 1


def test_register_refuses_a_country_not_in_the_list(app, client):
    for country in ("XX", "EU", "", "pe", "PER"):
        response = register(client, country=country)
        assert response.status_code == 422, country
        assert 'id="country-err"' in response.get_data(as_text=True), country
    assert count(app, Institution) == 0 and count(app, User) == 0


def test_register_password_mismatch_or_too_short(app, client):
    response = register(client, confirm="something-else")
    assert response.status_code == 422
    assert 'id="confirm-err"' in response.get_data(as_text=True)
    assert "The passwords do not match." in text(response)
    short = register(client, password="short", confirm="short")
    assert short.status_code == 422 and 'id="password-err"' in short.get_data(as_text=True)
    assert count(app, Institution) == 0 and count(app, User) == 0


def test_register_and_login_pages_when_signed_in_go_home(member_client):
    for path in ("/register", "/login"):
        response = member_client.get(path)
        assert response.status_code == 302 and response.headers["Location"] == "/", path


# ----------------------------------------------------------------------------- login / logout


def test_login_success_follows_a_local_next(app, member):
    client = app.test_client()
    response = client.post("/login", data={"email": member.email.upper(), "password": PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/account").status_code == 200
    other = app.test_client()
    response = other.post("/login?next=/account", data={"email": member.email, "password": PASSWORD})
    assert response.headers["Location"] == "/account"


def test_login_wrong_credentials_401(app, client, factory):
    user = factory.user("member", email="member@example.org")
    for email, password in (("member@example.org", "wrong-password"), ("nobody@example.org", PASSWORD)):
        response = client.post("/login?lang=en", data={"email": email, "password": password})
        assert response.status_code == 401, email
        assert "Wrong e-mail or password." in text(response)
        assert client.get("/account").status_code == 302
    with app.app_context():
        from rubric_app.extensions import db

        s = db.new_session()
        s.get(User, user.id).active = False
        s.commit()
        s.close()
    assert client.post("/login", data={"email": user.email, "password": PASSWORD}).status_code == 401  # deactivated
    assert client.post("/login", data={"email": "", "password": ""}).status_code == 422


def test_login_refuses_open_redirect(app, member):
    for target in ("//evil.example", "https://evil.example/", "/\\evil.example", "\\\\evil.example", "javascript:alert(1)"):
        client = app.test_client()
        response = client.post("/login", query_string={"next": target}, data={"email": member.email, "password": PASSWORD})
        assert response.status_code == 302 and response.headers["Location"] == "/", target


def test_login_refuses_open_redirect_hidden_by_whitespace(app, member):
    for target in ("/\t/evil.example", "/\n/evil.example"):
        client = app.test_client()
        response = client.post("/login", query_string={"next": target}, data={"email": member.email, "password": PASSWORD})
        location = response.headers["Location"]
        browser_view = location.replace("\t", "").replace("\n", "").replace("\r", "")
        assert urlsplit(urljoin("http://localhost/", browser_view)).netloc == "localhost", (target, location)


def test_logout_is_post_only_and_signs_out(member_client):
    assert member_client.get("/logout").status_code == 405
    assert member_client.get("/account").status_code == 200  # still signed in
    response = member_client.post("/logout")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    after = member_client.get("/account")
    assert after.status_code == 302 and after.headers["Location"].startswith("/login")


# ----------------------------------------------------------------------------- language


def test_language_switch_is_stored_on_the_account_and_used(app, member_client, member):
    response = member_client.post("/language", data={"lang": "pt", "next": "/rules"})
    assert response.status_code == 302 and response.headers["Location"] == "/rules"
    assert user_row(app, member.email).locale == "pt"
    page = member_client.get("/").get_data(as_text=True)
    assert '<html lang="pt">' in page
    nav = tr("pt", "My assessments")
    assert nav != "My assessments" and nav in page
    # a fresh sign-in in another browser keeps the account's language
    other = app.test_client()
    login(other, member)
    assert '<html lang="pt">' in other.get("/").get_data(as_text=True)


def test_language_switch_for_anonymous_lives_in_the_session(client):
    assert client.post("/language", data={"lang": "en"}).status_code == 302
    page = client.get("/login").get_data(as_text=True)
    assert '<html lang="en">' in page and "<h1>Sign in</h1>" in page


def test_language_switch_refuses_unknown_language(app, member_client, member):
    for data in ({"lang": "xx"}, {"lang": ""}, {"lang": "EN"}, {}):
        assert member_client.post("/language", data=data).status_code == 400, data
    assert member_client.get("/language").status_code == 405
    assert user_row(app, member.email).locale is None


def test_language_switch_refuses_open_redirect(client):
    response = client.post("/language", data={"lang": "en", "next": "//evil.example"})
    assert response.headers["Location"] == "/"


# ----------------------------------------------------------------------------- account and tokens


def test_account_requires_sign_in(client):
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_account_lists_tokens(app, member_client, member, factory):
    token = factory.token(member)
    page = member_client.get("/account").get_data(as_text=True)
    assert token[:10] in page
    assert token not in page  # only the prefix is shown
    assert '/account/tokens/' in page and "/revoke" in page


def test_create_token_shows_it_once_on_the_page_never_in_the_cookie(app, member_client, member):
    response = member_client.post("/account/tokens", data={"name": "ERP sync"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert count(app, ApiToken, user_id=member.id, name="ERP sync") == 1
    match = re.search(r'<code id="new-token">([^<]+)</code>', response.get_data(as_text=True))
    assert match and match.group(1).startswith("rbk_")
    token = match.group(1)
    cookie = member_client.get_cookie("session")
    from flask.sessions import SecureCookieSessionInterface

    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert token not in repr(serializer.loads(cookie.value)) and "new_token" not in serializer.loads(cookie.value)
    assert member_client.get("/api/v1/assessments", headers=bearer(token)).status_code == 200
    second = member_client.get("/account").get_data(as_text=True)
    assert token not in second and 'id="new-token"' not in second


def test_create_token_with_a_too_long_name_is_refused(app, member_client, member):
    response = member_client.post("/account/tokens?lang=en", data={"name": "x" * 101})
    assert response.status_code == 302
    assert count(app, ApiToken, user_id=member.id) == 0
    assert "The token name is too long." in text(member_client.get("/account?lang=en"))


def test_revoke_own_token_then_the_api_refuses_it(app, client, member, factory):
    token = factory.token(member)
    api = app.test_client()
    assert api.get("/api/v1/assessments", headers=bearer(token)).status_code == 200
    login(client, member)
    with app.app_context():
        from sqlalchemy import select

        from rubric_app.extensions import db

        s = db.new_session()
        token_id = s.scalar(select(ApiToken.id).where(ApiToken.user_id == member.id))
        s.close()
    response = client.post(f"/account/tokens/{token_id}/revoke")
    assert response.status_code == 302
    refused = api.get("/api/v1/assessments", headers=bearer(token))
    assert refused.status_code == 401 and refused.get_json()["error"]["status"] == 401
    assert "Revoked" in text(client.get("/account?lang=en"))


def test_revoking_another_users_token_is_not_found(app, client, member, factory):
    other = factory.user("member")
    token = factory.token(other)
    with app.app_context():
        from sqlalchemy import select

        from rubric_app.extensions import db

        s = db.new_session()
        token_id = s.scalar(select(ApiToken.id).where(ApiToken.user_id == other.id))
        s.close()
    login(client, member)
    assert client.post(f"/account/tokens/{token_id}/revoke").status_code == 404
    assert client.post("/account/tokens/999999/revoke").status_code == 404
    assert count(app, ApiToken, id=token_id, revoked_at=None) == 1
    assert app.test_client().get("/api/v1/assessments", headers=bearer(token)).status_code == 200


# ----------------------------------------------------------------------------- home page by role


def test_home_page_of_a_member_lists_own_assessments_only(member_client, member, factory):
    mine = factory.assessment(member, levels=3, submit=True)
    theirs = factory.assessment(factory.user("member"), levels=3, submit=True)
    page = member_client.get("/").get_data(as_text=True)
    assert f"/assessments/{mine}/results" in page
    assert f"/assessments/{theirs}/" not in page
    assert 'href="/assessments/new"' in page


def test_home_page_of_a_reviewer_lists_submitted_assessments_only(client, factory):
    submitted = factory.assessment(factory.user("member"), levels=3, submit=True)
    draft = factory.assessment(factory.user("member"), levels=3)
    login(client, factory.user("reviewer"))
    page = client.get("/").get_data(as_text=True)
    assert f"/assessments/{submitted}/results" in page
    assert f"/assessments/{draft}" not in page
