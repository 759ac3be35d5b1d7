"""Accounts an institution runs on its own: sessions, throttling, password rules, resets, invitations,
the institution's details; and the mail they send."""
from __future__ import annotations

import logging
import re
import statistics
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select, update

from rubric_app.extensions import db
from rubric_app.models import (
    AuditEntry,
    Institution,
    Invitation,
    PasswordReset,
    User,
    utcnow,
)
from rubric_app.services import Invalid, accounts
from tests.conftest import PASSWORD, Factory, login

from .helpers import bearer, count, csrf_token, text, user_row

NEW_PASSWORD = "a brand new passphrase ñ"


def outbox(app, to=None):
    return [m for m in app.extensions.get("mail_outbox", []) if to is None or m.to == to]


def link_in(message) -> str:
    match = re.search(r"https?://\S+", message.body)
    assert match, message.body
    return urlsplit(match.group(0)).path


def audit(app, subject):
    with app.app_context():
        s = db.new_session()
        rows = [(a.field, a.old, a.new, a.comment) for a in s.scalars(select(AuditEntry).where(AuditEntry.subject == subject)
                                                                          .order_by(AuditEntry.id))]
        s.close()
    return rows


def generation(app, email):
    return user_row(app, email).session_generation


# ----------------------------------------------------------------------------- sessions


def test_a_copied_cookie_is_refused_after_logout(app, member_client, member, factory):
    cookie = member_client.get_cookie("session").value
    token = factory.token(member)
    assert member_client.post("/logout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    page = thief.get("/account")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    api = thief.get("/api/v1/assessments")
    assert api.status_code == 401 and api.get_json()["error"]["status"] == 401
    # the API token is not a session: it still works until revoked
    assert app.test_client().get("/api/v1/assessments", headers=bearer(token)).status_code == 200


def test_sign_in_renews_the_session_and_keeps_the_language(app, member):
    client = app.test_client()
    client.post("/language", data={"lang": "pt"})
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
    before = client.get_cookie("session").value
    login(client, member)
    after = client.get_cookie("session").value
    assert after != before
    with client.session_transaction() as sess:
        assert "planted" not in sess and sess["lang"] == "pt"
        assert sess["auth_gen"] == user_row(app, member.email).session_generation


def test_end_sessions_is_what_role_changes_and_deactivation_use(app, member_client, member):
    with app.app_context():
        s = db.new_session()
        accounts.end_sessions(s, s.get(User, member.id))
        s.commit()
        s.close()
    assert member_client.get("/account").status_code == 302


# ----------------------------------------------------------------------------- throttling


def test_five_failed_sign_ins_lock_the_account_not_others(app, factory):
    victim, bystander = factory.user("member"), factory.user("member")
    client = app.test_client()
    for _ in range(5):
        assert client.post("/login?lang=en", data={"email": victim.email, "password": "wrong-password-x"}).status_code == 401
    locked = client.post("/login?lang=en", data={"email": victim.email.upper(), "password": PASSWORD})
    assert locked.status_code == 429
    assert "Too many attempts" in text(locked) and int(locked.headers["Retry-After"]) > 0
    assert app.test_client().get("/account").status_code == 302
    login(app.test_client(), bystander)  # another account from the same address still signs in


def test_successful_sign_ins_do_not_count_as_failures(app, member):
    for _ in range(8):
        client = app.test_client()
        login(client, member)


def test_twenty_failures_from_one_address_lock_the_address(app, factory):
    users = [factory.user("reviewer") for _ in range(5)]
    client = app.test_client()
    for n in range(20):
        assert client.post("/login", data={"email": users[n % 5].email if n < 16 else f"nobody{n}@example.org",
                                           "password": "wrong-password-x"}).status_code == 401
    other = factory.user("reviewer")
    assert client.post("/login", data={"email": other.email, "password": PASSWORD}).status_code == 429
    elsewhere = app.test_client()
    response = elsewhere.post("/login", data={"email": other.email, "password": PASSWORD},
                              environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
    assert response.status_code == 302


def test_429_is_json_for_scripts_and_localized_for_people(app, member):
    client = app.test_client()
    for _ in range(5):
        client.post("/login", data={"email": member.email, "password": "wrong-password-x"})
    response = client.post("/login", data={"email": member.email, "password": "x"}, headers={"X-Requested-With": "fetch"})
    assert response.status_code == 429 and response.get_json()["error"]["status"] == 429
    page = client.post("/login?lang=es", data={"email": member.email, "password": "x"})
    assert page.status_code == 429 and '<html lang="es">' in page.get_data(as_text=True)


def test_registration_forgotten_password_and_token_creation_are_throttled(app, member_client, member):
    anonymous = app.test_client()
    for n in range(5):
        assert anonymous.post("/forgot", data={"email": "someone@example.org"}).status_code == 200
    assert anonymous.post("/forgot", data={"email": "someone@example.org"}).status_code == 429
    assert anonymous.post("/forgot", data={"email": "another@example.org"}).status_code == 200
    data = {"country": "PE", "city": "", "institution_type": "other", "sector": "public", "name": "",
            "email": "repeat@example.org", "password": "long-enough-1", "confirm": "long-enough-1"}
    for n in range(5):
        assert anonymous.post("/register", data={**data, "institution_name": f"Centro {n}"}).status_code == 200
    assert anonymous.post("/register", data={**data, "institution_name": "Centro 9"}).status_code == 429
    for n in range(10):
        assert member_client.post("/account/tokens", data={"name": f"t{n}"}).status_code == 200
    assert member_client.post("/account/tokens", data={"name": "one too many"}).status_code == 429


def test_unknown_emails_cost_the_same_as_known_ones(app, monkeypatch):
    """A failed sign-in does the same work for a known and an unknown address: one check of the
    password against a hash made the same way (the same scrypt settings), so the answer takes as long.
    Counted, not timed: a timed comparison fails on a loaded machine (bench figures: 94 vs 95 ms)."""
    from werkzeug.security import check_password_hash, generate_password_hash

    monkeypatch.setattr(accounts, "generate_password_hash", generate_password_hash)
    app.config.update(RATELIMIT_LOGIN_FAILURES_ACCOUNT="1000 per minute", RATELIMIT_LOGIN_FAILURES_ADDRESS="1000 per minute",
                      RATELIMIT_LOGIN_ADDRESS="1000 per minute")
    factory = Factory(app)
    factory.user("reviewer", email="known@example.org")
    stored = user_row(app, "known@example.org").password_hash
    assert stored.startswith("scrypt")
    checks: list[str] = []

    def counted(pwhash, password):
        checks.append(pwhash)
        return check_password_hash(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", counted)
    client = app.test_client()

    def attempt(email):
        checks.clear()
        assert client.post("/login", data={"email": email, "password": "wrong-password-x"}).status_code == 401
        return list(checks)

    for n in range(3):
        known, unknown = attempt("known@example.org"), attempt(f"unknown{n}@example.org")
        assert len(known) == len(unknown) == 1
        assert known == [stored]
        # the same method and parameters ("scrypt:32768:8:1"), so the same cost
        assert unknown[0].split("$")[0] == stored.split("$")[0]


# ----------------------------------------------------------------------------- password rules


@pytest.mark.parametrize("password", ["password", "12345678", "demo-pass-2026", "DEMO-PASS-2026", "short", "x" * 11,
                                      "x" * 129, "123qweasdzxc", "QWERTY123456"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(Invalid):
        accounts.check_password(password)


@pytest.mark.parametrize("password", ["correct-horse-1", "twelve chars", "contraseña única", "密码密码密码密码密码密码", "x" * 128])
def test_long_uncommon_passwords_of_any_characters_are_accepted(password):
    accounts.check_password(password, email="ana@example.org", institution_name="CETPRO Lima Norte")


def test_passwords_may_not_contain_the_email_or_the_institution_name():
    with pytest.raises(Invalid):
        accounts.check_password("Rosa.Quispe-2026!", email="rosa.quispe@cetpro.example")
    with pytest.raises(Invalid):
        accounts.check_password("my quispe password", email="rosa.quispe@cetpro.example")
    with pytest.raises(Invalid):
        accounts.check_password("vamos-NORTE-2026", institution_name="CETPRO Lima Norte")
    accounts.check_password("ana y el sol de oro", email="ana@cetpro.example", institution_name="CETPRO de Sol")  # words < 4


def test_the_common_password_list_ships_with_ten_thousand_entries():
    assert len(accounts.common_passwords()) >= 10_000
    assert {"password", "12345678", "demo-pass-2026"} <= accounts.common_passwords()


def test_weak_password_refused_on_the_web_and_in_the_cli(app):
    client = app.test_client()
    data = {"institution_name": "Centro Z", "country": "PE", "city": "", "institution_type": "other", "sector": "public",
            "name": "", "email": "z@example.org", "password": "demo-pass-2026", "confirm": "demo-pass-2026"}
    response = client.post("/register?lang=en", data=data)
    assert response.status_code == 422 and "This password is too common" in text(response)
    assert 'id="password-err"' in response.get_data(as_text=True)
    assert count(app, User) == 0 and count(app, Institution) == 0
    runner = app.test_cli_runner()
    for weak in ("password", "12345678", "demo-pass-2026"):
        result = runner.invoke(args=["users", "create", "--email", "r@y.example", "--password", weak, "--role", "reviewer"])
        assert result.exit_code != 0 and "password" in result.output.lower(), result.output
    assert count(app, User) == 0


# ----------------------------------------------------------------------------- change password


def test_change_password_ends_other_sessions_and_keeps_this_one(app, member_client, member):
    other_device = app.test_client()
    login(other_device, member)
    wrong = member_client.post("/account/password?lang=en", data={"current": "not-it-at-all", "password": NEW_PASSWORD,
                                                                  "confirm": NEW_PASSWORD})
    assert wrong.status_code == 422 and "The current password is wrong." in text(wrong)
    weak = member_client.post("/account/password?lang=en", data={"current": PASSWORD, "password": "password1234",
                                                                 "confirm": "password1234"})
    assert weak.status_code == 422 and 'id="password-err"' in weak.get_data(as_text=True)
    response = member_client.post("/account/password", data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/account"
    assert member_client.get("/account").status_code == 200
    assert other_device.get("/account").status_code == 302
    login(app.test_client(), member, NEW_PASSWORD)
    assert user_row(app, member.email).password_changed_at is not None
    entries = audit(app, f"user:{member.id}")
    assert ("password", None, "changed", "") in entries
    assert not any(NEW_PASSWORD in str(e) or PASSWORD in str(e) for e in entries)


def test_change_password_needs_sign_in(client):
    response = client.get("/account/password")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.post("/account/password", data={}).status_code == 302


# ----------------------------------------------------------------------------- forgotten password


def test_forgotten_password_answers_the_same_and_mails_only_the_owner(app, member):
    client = app.test_client()
    known = client.post("/forgot", data={"email": member.email})
    unknown = client.post("/forgot", data={"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 200
    # The pages may differ only in the address typed and the CSRF token (its signature carries
    # the second it was made in, which can tick over between the two requests).
    def strip(response, email):
        page = text(response).replace(email, "E")
        return re.sub(r'name="csrf_token"[^>]*value="[^"]*"|value="[^"]*"[^>]*name="csrf_token"', "CSRF", page)

    assert strip(known, member.email) == strip(unknown, "nobody@example.org")
    assert [m.to for m in outbox(app)] == [member.email]
    assert client.post("/forgot", data={"email": "not an address"}).status_code == 422


def test_reset_link_is_single_use_ends_sessions_and_sets_the_password(app, member):
    signed_in = app.test_client()
    login(signed_in, member)
    client = app.test_client()
    client.post("/forgot", data={"email": member.email})
    link = link_in(outbox(app, member.email)[-1])
    with app.app_context():
        s = db.new_session()
        (row,) = s.scalars(select(PasswordReset)).all()
        assert link.rsplit("/", 1)[1] not in row.token_hash and len(row.token_hash) == 64  # only the hash is stored
        assert timedelta(minutes=59) < row.expires_at - row.created_at <= timedelta(hours=1)
        s.close()
    assert client.get(link).status_code == 200
    weak = client.post(link + "?lang=en", data={"password": "12345678", "confirm": "12345678"})
    assert weak.status_code == 422 and 'id="password-err"' in weak.get_data(as_text=True)
    response = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert signed_in.get("/account").status_code == 302
    assert client.get(link).status_code == 404
    assert client.post(link, data={"password": "another new passphrase", "confirm": "another new passphrase"}).status_code == 404
    login(app.test_client(), member, NEW_PASSWORD)
    assert ("password", None, "reset", "") in audit(app, f"user:{member.id}")


def test_reset_link_expires_after_an_hour(app, member):
    client = app.test_client()
    client.post("/forgot", data={"email": member.email})
    link = link_in(outbox(app, member.email)[-1])
    with app.app_context():
        s = db.new_session()
        s.execute(update(PasswordReset).values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
        s.close()
    assert client.get(link).status_code == 404
    assert client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 404
    assert client.get("/reset/not-a-token").status_code == 404
    assert client.get("/reset/" + "x" * 300).status_code == 404


def test_reset_opens_an_account_waiting_for_its_confirmation(app):
    client = app.test_client()
    client.post("/register", data={"institution_name": "Centro P", "country": "PE", "city": "", "institution_type": "other",
                                   "sector": "public", "name": "", "email": "p@example.org", "password": "long-enough-1",
                                   "confirm": "long-enough-1"})
    client.post("/forgot", data={"email": "p@example.org"})
    link = link_in(outbox(app, "p@example.org")[-1])
    assert client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert user_row(app, "p@example.org").active
    login(app.test_client(), "p@example.org", NEW_PASSWORD)


def test_deactivated_accounts_get_no_reset_link(app, member):
    with app.app_context():
        s = db.new_session()
        user = s.get(User, member.id)
        user.active = False
        accounts.end_sessions(s, user)
        s.commit()
        s.close()
    assert app.test_client().post("/forgot", data={"email": member.email}).status_code == 200
    assert outbox(app) == []


def test_cli_reset_link_prints_a_working_link(app, member):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "reset-link", "--email", member.email, "--base-url", "https://rubric.example.org"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("https://rubric.example.org/reset/")
    path = urlsplit(result.output.strip()).path
    assert app.test_client().post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 302
    assert runner.invoke(args=["users", "reset-link", "--email", "nobody@example.org"]).exit_code != 0


# ----------------------------------------------------------------------------- invitations


def test_invitation_flow(app, member_client, member):
    response = member_client.post("/account/invitations?lang=en", data={"email": "Colega@Example.org"})
    assert response.status_code == 302
    (message,) = outbox(app, "colega@example.org")
    link = link_in(message)
    page = text(member_client.get("/account?lang=en"))
    assert "colega@example.org" in page and "Pending invitations" in page
    newcomer = app.test_client()
    assert "colega@example.org" in text(newcomer.get(link))
    weak = newcomer.post(link, data={"name": "Luz", "password": "12345678", "confirm": "12345678"})
    assert weak.status_code == 422
    response = newcomer.post(link, data={"name": "Luz Colega", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    joined = user_row(app, "colega@example.org")
    assert (joined.role, joined.institution_id, joined.name, joined.active) == ("member", member.institution_id, "Luz Colega", True)
    assert newcomer.get("/account").status_code == 200
    assert app.test_client().get(link).status_code == 404  # single use
    assert "colega@example.org" not in text(member_client.get("/account"))
    fields = [e[0] for e in audit(app, f"institution:{member.institution_id}")]
    assert fields.count("invitation") == 2


def test_invitation_revoked_or_expired_is_refused(app, member_client, member, factory):
    member_client.post("/account/invitations", data={"email": "a@example.org"})
    member_client.post("/account/invitations", data={"email": "b@example.org"})
    link_a, link_b = link_in(outbox(app, "a@example.org")[-1]), link_in(outbox(app, "b@example.org")[-1])
    with app.app_context():
        s = db.new_session()
        inv_a = s.scalar(select(Invitation.id).where(Invitation.email == "a@example.org"))
        s.execute(update(Invitation).where(Invitation.email == "b@example.org").values(expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
        s.close()
    stranger = factory.user("member")
    other = app.test_client()
    login(other, stranger)
    assert other.post(f"/account/invitations/{inv_a}/revoke").status_code == 404  # another institution's
    assert member_client.post(f"/account/invitations/{inv_a}/revoke").status_code == 302
    assert member_client.post("/account/invitations/999999/revoke").status_code == 404
    for link in (link_a, link_b, "/invitation/forged"):
        assert app.test_client().get(link).status_code == 404
        assert app.test_client().post(link, data={"name": "X", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code == 404
    assert count(app, User, email="a@example.org") == 0


def test_invitation_to_an_address_with_an_account_is_a_clean_409(app, member_client, member, factory):
    factory.user("reviewer", email="has@example.org")
    member_client.post("/account/invitations", data={"email": "has@example.org"})
    link = link_in(outbox(app, "has@example.org")[-1])
    response = app.test_client().post(link, data={"name": "X", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 409
    assert user_row(app, "has@example.org").role == "reviewer"


def test_only_members_invite_and_bad_addresses_are_refused(app, member_client, factory):
    for role in ("reviewer", "staff", "admin"):
        client = app.test_client()
        login(client, factory.user(role))
        assert client.post("/account/invitations", data={"email": "x@example.org"}).status_code == 403, role
        assert client.post("/account/invitations/1/revoke").status_code == 403, role
    anonymous = app.test_client().post("/account/invitations", data={"email": "x@example.org"})
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    for bad in ({"email": "not-an-address"}, {"email": ""}, {"email": "x" * 250 + "@example.org"}, {}):
        assert member_client.post("/account/invitations", data=bad).status_code == 422, bad
    assert count(app, Invitation) == 0


# ----------------------------------------------------------------------------- the institution


def institution_form(client):
    page = client.get("/account/institution").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page) or re.search(r'name="version"[^>]*value="(\d+)"', page)
    return int(version.group(1))


def test_member_edits_the_institution_details_but_not_the_country(app, member_client, member):
    version = institution_form(member_client)
    response = member_client.post("/account/institution", data={"version": version, "name": "Centro  Renombrado", "city": "Cusco",
                                                                 "type": "ngo", "sector": "private", "country": "AR"})
    assert response.status_code == 302
    with app.app_context():
        s = db.new_session()
        inst = s.get(Institution, member.institution_id)
        assert (inst.name, inst.city, inst.type, inst.sector, inst.country, inst.version) == \
            ("Centro Renombrado", "Cusco", "ngo", "private", "PE", version + 1)
        s.close()
    entries = audit(app, f"institution:{member.institution_id}")
    # one entry per changed field, named as the administrators' edits name them
    assert {e[0] for e in entries} == {"name", "city", "type", "sector"}
    assert ("name", "Centro Renombrado") in {(e[0], e[2]) for e in entries}


def test_institution_edit_with_a_stale_version_is_a_409_showing_both_values(app, member_client, member, factory):
    version = institution_form(member_client)
    colleague = app.test_client()
    login(colleague, factory.user("member", institution=member.institution))
    assert colleague.post("/account/institution", data={"version": version, "name": "Nombre de la colega", "city": "Lima",
                                                        "type": "training_centre", "sector": "public"}).status_code == 302
    response = member_client.post("/account/institution?lang=en", data={"version": version, "name": "Mi nombre", "city": "Lima",
                                                                         "type": "training_centre", "sector": "public"})
    assert response.status_code == 409
    body = text(response)
    assert "Mi nombre" in body and "Nombre de la colega" in body and 'id="differences"' in body
    assert institution_form(member_client) == version + 1
    assert count(app, Institution, name="Mi nombre") == 0


def test_institution_edit_refuses_a_duplicate_name_and_bad_input(app, member_client, member, factory):
    factory.institution(name="Centro Ocupado", country="PE")
    factory.institution(name="Centro Libre en Chile", country="CL")
    version = institution_form(member_client)
    base = {"version": version, "city": "Lima", "type": "training_centre", "sector": "public"}
    dup = member_client.post("/account/institution?lang=en", data={**base, "name": " centro  OCUPADO "})
    assert dup.status_code == 409 and "already registered in this country" in text(dup)
    assert member_client.post("/account/institution", data={**base, "name": "Centro Libre en Chile"}).status_code == 302
    version += 1
    base["version"] = version
    for bad in ({"name": ""}, {"name": "x" * 201}, {"type": "castle"}, {"sector": "both"}, {"version": "abc"},
                {"version": ""}, {"version": str(2**40)}, {"city": "c" * 121}):
        response = member_client.post("/account/institution", data={**base, "name": "Otro", **bad})
        assert response.status_code == 422, bad
    assert count(app, Institution, name="Otro") == 0


def test_institution_page_is_for_members_only(app, factory):
    for role in ("reviewer", "staff", "admin"):
        client = app.test_client()
        login(client, factory.user(role))
        assert client.get("/account/institution").status_code == 403
        assert client.post("/account/institution", data={"version": 1, "name": "X", "type": "ngo", "sector": "public"}).status_code == 403
    assert app.test_client().get("/account/institution").status_code == 302


# ----------------------------------------------------------------------------- CSRF on every new form


@pytest.fixture
def cfactory(csrf_app):
    return Factory(csrf_app)


def test_every_new_form_refuses_a_post_without_its_csrf_token(csrf_app, cfactory):
    member = cfactory.user("member")
    browser = csrf_app.test_client()
    anonymous_posts = {"/forgot": {"email": member.email}, "/reset/whatever": {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
                       "/invitation/whatever": {"name": "X", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
                       "/register/confirm/whatever": {}}
    for url, data in anonymous_posts.items():
        assert browser.post(url, data=data).status_code == 400, url
    token = csrf_token(browser.get("/login").data)
    assert browser.post("/login", data={"email": member.email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    signed_in_posts = {"/account/password": {"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
                       "/account/invitations": {"email": "x@example.org"}, "/account/invitations/1/revoke": {},
                       "/account/institution": {"version": 1, "name": "Forged", "type": "ngo", "sector": "public"},
                       "/account/tokens": {"name": "forged"}, "/logout": {}}
    for url, data in signed_in_posts.items():
        assert browser.post(url, data=data).status_code == 400, url
    assert browser.get("/account").status_code == 200  # still signed in, nothing changed
    assert outbox(csrf_app) == [] and count(csrf_app, Invitation) == 0 and count(csrf_app, Institution, name="Forged") == 0
    # with the page's token the password change works
    token = csrf_token(browser.get("/account/password").data)
    response = browser.post("/account/password", data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
                                                        "csrf_token": token})
    assert response.status_code == 302


# ----------------------------------------------------------------------------- mail


def test_messages_are_written_in_the_recipients_language(app, member):
    with app.app_context():
        s = db.new_session()
        s.get(User, member.id).locale = "pt"
        s.commit()
        s.close()
    app.test_client().post("/forgot?lang=en", data={"email": member.email})
    (message,) = outbox(app, member.email)
    assert message.language == "pt"


def test_without_a_mail_server_the_message_goes_to_the_log(app, member, caplog):
    app.config["MAIL_BACKEND"] = None
    with caplog.at_level(logging.WARNING):
        app.test_client().post("/forgot", data={"email": member.email})
    assert outbox(app) == []
    assert any("/reset/" in record.getMessage() and member.email in record.getMessage() for record in caplog.records)


def test_with_a_mail_server_the_message_goes_by_smtp_with_starttls(app, member, monkeypatch):
    from rubric_app.services import mail

    sent = []

    class FakeSMTP:
        def __init__(self, host, port, timeout):
            sent.append(("connect", host, port))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def starttls(self):
            sent.append(("starttls",))

        def login(self, user, password):
            sent.append(("login", user))

        def send_message(self, message):
            sent.append(("send", message["To"], message["From"], message.get_content()))

    monkeypatch.setattr(mail.smtplib, "SMTP", FakeSMTP)
    app.config.update(MAIL_BACKEND=None, MAIL_SERVER="smtp.example.org", MAIL_PORT=2525, MAIL_USERNAME="rubric",
                      MAIL_PASSWORD="s3cret", MAIL_FROM="rubric@example.org")
    app.test_client().post("/forgot", data={"email": member.email})
    deadline = time.monotonic() + 30  # the message is sent by a thread: wait on it having been sent
    while not any(step[0] == "send" for step in sent) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sent[:3] == [("connect", "smtp.example.org", 2525), ("starttls",), ("login", "rubric")]
    assert sent[3][:3] == ("send", member.email, "rubric@example.org") and "/reset/" in sent[3][3]


def test_reads_skip_the_limiter_and_every_other_method_goes_through_it(app, member_client):
    wrapped = [hook for hook in app.before_request_funcs[None] if hasattr(hook, "wrapped")]
    assert len(wrapped) == 1
    from rubric_app.extensions import limiter
    assert limiter._check_request_limit not in app.before_request_funcs[None]  # only through the wrapper
    seen = []
    wrapped[0].wrapped = lambda: seen.append(True)
    member_client.get("/account")
    member_client.head("/account")
    member_client.options("/account")
    assert seen == []
    member_client.post("/account/tokens", data={"name": "counted"})
    assert seen == [True]
