"""ASVS L2 hardening: headers, proxy trust, bounded input, audit scoping by role, file modes (docs/deploy-security.md)."""
from __future__ import annotations

import io
import os
import re
import stat
import threading
import time
import urllib.request

import pytest
from flask import Flask

from rubric_app.extensions import db
from rubric_app.models import AuditEntry, Provider, SelectionRound
from tests.conftest import ON_POSTGRES, login, make_app

from .helpers import bearer, count, form_fields, set_language, text
from .test_providers import csv_file, two_providers, upload
from .test_rounds import QUOTA_ROUND

CSP_DIRECTIVES = ("default-src 'self'", "base-uri 'none'", "object-src 'none'", "form-action 'self'", "frame-ancestors 'none'",
                  "img-src 'self' data:", "style-src 'self' 'unsafe-inline'")
BIG_IDS = ("2147483648", "9223372036854775808", "99999999999999999999999999", "٣", "0")


def signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


@pytest.fixture
def new_app(tmp_path):
    """Apps with settings of their own (each in a folder of its own), disposed of afterwards."""
    made = []

    def make(name: str, **config):
        folder = tmp_path / name
        folder.mkdir()
        made.append(make_app(folder, **config))
        return made[-1]

    yield make
    for application in made:
        with application.app_context():
            db.engine.dispose()


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


# ----------------------------------------------------------------------------- headers


def test_public_pages_carry_the_policy_and_may_be_cached(client):
    for url in ("/", "/rules"):
        response = client.get(url)
        assert response.status_code == 200
        csp = response.headers["Content-Security-Policy"]
        assert all(d in csp for d in CSP_DIRECTIVES), csp
        assert response.headers["X-Frame-Options"] == "DENY" and response.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" not in response.headers.get("Cache-Control", "")
        assert "Strict-Transport-Security" not in response.headers  # not configured, and plain HTTP
    with client.get("/static/style.css") as response:
        assert response.status_code == 200 and "no-store" not in response.headers.get("Cache-Control", "")


def test_private_answers_are_never_stored(app, client, factory):
    member = factory.user("member")
    aid = factory.assessment(member, levels=3)
    assert client.get("/login").headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/openapi.json").headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/assessments").headers["Cache-Control"] == "no-store"  # a 401 too
    login(client, member)
    for url in ("/", "/rules", f"/assessments/{aid}/results", f"/assessments/{aid}/d/policy"):
        response = client.get(url)
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", url
    with client.get("/static/style.css") as response:
        assert "no-store" not in response.headers.get("Cache-Control", "")
    api = app.test_client()
    headers = bearer(factory.token(member))
    assert api.get(f"/api/v1/assessments/{aid}", headers=headers).headers["Cache-Control"] == "no-store"
    with client.get(f"/assessments/{aid}/report.pdf") as response:
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.headers["Cache-Control"] == "no-store"


def test_exports_are_never_stored(app, factory):
    staff, reviewer = signed_in(app, factory.user("staff")), signed_in(app, factory.user("reviewer"))
    for client, url in ((staff, "/providers/export.csv"), (staff, "/providers/template.xlsx"), (staff, "/rounds/audit.csv"),
                        (reviewer, "/review/audit.csv"), (reviewer, "/compare/export.csv"), (reviewer, "/compare/export.json")):
        with client.get(url) as response:
            assert response.status_code in (200, 422), url
            assert response.headers["Cache-Control"] == "no-store", url


def test_hsts_only_on_https_and_only_when_set(new_app):
    app = new_app("hsts", HSTS_SECONDS=31536000)
    client = app.test_client()
    assert client.get("/", base_url="https://rubric.example").headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/", base_url="http://rubric.example").headers
    plain = new_app("plain").test_client()
    assert "Strict-Transport-Security" not in plain.get("/", base_url="https://rubric.example").headers


def test_forwarded_headers_are_trusted_only_with_proxy_hops(new_app):
    from werkzeug.middleware.proxy_fix import ProxyFix

    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "rubric.example"}
    direct = new_app("direct", HSTS_SECONDS=600)
    assert not isinstance(direct.wsgi_app, ProxyFix)
    assert "Strict-Transport-Security" not in direct.test_client().get("/", headers=forwarded).headers
    proxied = new_app("proxied", HSTS_SECONDS=600, PROXY_FIX_HOPS=1)
    assert isinstance(proxied.wsgi_app, ProxyFix)
    assert (proxied.wsgi_app.x_for, proxied.wsgi_app.x_proto, proxied.wsgi_app.x_host, proxied.wsgi_app.x_prefix) == (1, 1, 1, 1)
    assert proxied.test_client().get("/", headers=forwarded).headers["Strict-Transport-Security"] == "max-age=600"


def test_secure_cookies_when_configured(new_app):
    app = new_app("secure", SESSION_COOKIE_SECURE=True)
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    from tests.conftest import Factory

    user = Factory(app).user("member")
    client = app.test_client()
    response = client.post("/login", data={"email": user.email, "password": "correct-horse-1", "remember": "y"},
                           base_url="https://rubric.example")
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all("Secure" in c for c in cookies), cookies
    assert new_app("default").config["REMEMBER_COOKIE_SECURE"] is False


def test_deployment_settings_from_the_environment(monkeypatch):
    from rubric_app import (
        _check_deployment_settings,
        _deployment_settings_from_environment,
    )

    app = Flask("t")
    app.config.update(PREFERRED_URL_SCHEME="http", PROXY_FIX_HOPS=0, SESSION_COOKIE_SECURE=False, HSTS_SECONDS=0)
    for name, value in {"PREFERRED_URL_SCHEME": "https", "PROXY_FIX_HOPS": "2", "SESSION_COOKIE_SECURE": "true", "HSTS_SECONDS": "300"}.items():
        monkeypatch.setenv(name, value)
    _deployment_settings_from_environment(app)
    _check_deployment_settings(app)
    assert (app.config["PREFERRED_URL_SCHEME"], app.config["PROXY_FIX_HOPS"], app.config["SESSION_COOKIE_SECURE"],
            app.config["HSTS_SECONDS"], app.config["REMEMBER_COOKIE_SECURE"]) == ("https", 2, True, 300, True)
    monkeypatch.setenv("HSTS_SECONDS", "1e9")
    with pytest.raises(RuntimeError, match="HSTS_SECONDS"):
        _deployment_settings_from_environment(app)


def test_development_server_hides_its_version(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/healthz", timeout=10) as response:
            banner = response.headers.get_all("Server")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert banner == ["rubric"]


# ----------------------------------------------------------------------------- ids and numbers


def test_ids_beyond_the_database_range_are_404(app, factory):
    clients = {"member": signed_in(app, factory.user("member")), "reviewer": signed_in(app, factory.user("reviewer")),
               "staff": signed_in(app, factory.user("staff"))}
    headers = bearer(factory.token(factory.user("staff")))
    for big in BIG_IDS:
        for role, url in (("member", f"/assessments/{big}/results"), ("member", f"/assessments/{big}/d/policy"),
                          ("reviewer", f"/review/{big}"), ("staff", f"/providers/{big}"), ("staff", f"/rounds/{big}"),
                          ("staff", f"/rounds/{big}/report.pdf")):
            assert clients[role].get(url).status_code == 404, url
        assert clients["staff"].post(f"/rounds/{big}/freeze").status_code == 404
        for url in (f"/api/v1/assessments/{big}", f"/api/v1/selection-rounds/{big}"):
            response = app.test_client().get(url, headers=headers)
            assert response.status_code == 404 and response.is_json, url


@pytest.mark.parametrize("url", ["/providers?page=99999999999999999999", "/providers?page=³", "/providers?page=1e3",
                                 "/review?round=99999999999999999999", "/review?round=٣",
                                 "/review/audit?assessment=9223372036854775808", "/review/audit.csv?assessment=²"])
def test_numbers_in_queries_are_bounded(app, factory, url):
    client = signed_in(app, factory.user("staff" if url.startswith("/providers") else "reviewer"))
    response = client.get(url)
    assert response.status_code == 400
    name = re.search(r"\?(\w+)=", url).group(1)
    assert name in text(response)


def test_comparison_round_must_be_a_bounded_ascii_number(app, factory):
    client = signed_in(app, factory.user("reviewer"))
    for value in ("99999999999999999999", "³", "٣"):
        response = client.get(f"/api/v1/comparison?round={value}")
        assert response.status_code == 422 and response.get_json()["error"]["details"][0]["field"] == "round"
        assert client.get(f"/compare?round={value}").status_code == 422
        with client.get(f"/compare/export.csv?round={value}") as response:
            assert response.status_code == 422
    assert client.get("/api/v1/comparison?round=2").status_code == 200


@pytest.fixture
def staff_api(app, factory):
    headers = bearer(factory.token(factory.user("staff")))
    client = app.test_client()
    return lambda body: client.post("/api/v1/selection-rounds", json=body, headers=headers)


@pytest.mark.parametrize("changes, field", [
    ({"weights": {"legal": "1e1000000"}}, "weights.legal"),
    ({"weights": {"legal": "1" * 40}}, "weights.legal"),
    ({"weights": {"legal": 1e300}}, "weights.legal"),
    ({"weights": {"legal": "Infinity"}}, "weights.legal"),
    ({"min_scores": {"digital": "4e-1000000"}}, "min_scores.digital"),
    ({"rule": "threshold", "threshold": "9" * 5000}, "threshold"),
    ({"quotas": {"AR": "1" * 40}}, "quotas.AR"),
    ({"quotas": {"AR": "٣"}}, "quotas.AR"),
    ({"default_quota": "³"}, "default_quota"),
    ({"draws": "9" * 5000}, "draws"),
    ({"seed": "1" * 20}, "seed"),
])
def test_round_settings_refuse_huge_or_odd_numbers(app, staff_api, changes, field):
    started = time.monotonic()
    response = staff_api({**QUOTA_ROUND, **changes})
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert field in [d["field"] for d in response.get_json()["error"]["details"]]
    assert count(app, SelectionRound) == 0
    assert time.monotonic() - started < 30  # it used to take 20-48 s; the status is what matters


def test_round_form_refuses_a_huge_exponent(app, factory):
    client = signed_in(app, factory.user("staff"))
    set_language(client, "en")
    response = client.post("/rounds/new", data={"name": "Ronda", "rule": "quota", "weight_legal": "1e1000000", "default_quota": "1",
                                                 "draws": "0", "seed": "1"})
    assert response.status_code == 422 and "weights.legal" in text(response)
    assert count(app, SelectionRound) == 0


def test_unicode_digits_are_no_level(app, factory):
    member = factory.user("member")
    aid = factory.assessment(member)
    client = signed_in(app, member)
    fields = form_fields(client, f"/assessments/{aid}/d/policy")
    crit = next(k for k in fields if k.startswith("ver_"))[4:]
    for odd in ("³", "٣"):
        for name in (f"crit_{crit}", f"target_{crit}", f"ver_{crit}"):
            response = client.post(f"/assessments/{aid}/d/policy", data={**fields, f"crit_{crit}": "3", name: odd})
            assert response.status_code < 500, (name, response.status_code)
        response = client.post(f"/assessments/{aid}/d/policy", data={**fields, f"crit_{crit}": odd})
        assert response.status_code == 422
    headers = bearer(factory.token(member))
    response = app.test_client().put(f"/api/v1/assessments/{aid}/answers", json=[{"criterion": crit, "level": "³"}], headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["details"][0]["field"] == "level"
    response = app.test_client().put(f"/api/v1/assessments/{aid}/answers", json=[{"criterion": crit, "level": 3}],
                                     headers={**headers, "If-Match": '"٣"'})
    assert response.status_code == 412


def test_unicode_digits_are_no_validated_level(app, factory):
    member = factory.user("member")
    aid = factory.assessment(member, levels=3, submit=True)
    client = signed_in(app, factory.user("reviewer"))
    page = client.get(f"/review/{aid}").get_data(as_text=True)
    version = re.search(r'name="version"[^>]*value="(\d+)"', page).group(1)
    levels = {f"level_{cid}": "3" for cid in re.findall(r'name="level_([\w-]+)"', page)}
    first = next(iter(levels))
    response = client.post(f"/review/{aid}", data={**levels, first: "³", "version": version, "action": "save"})
    assert response.status_code == 422


def test_provider_scores_in_other_digits_are_refused(app, factory):
    client = signed_in(app, factory.user("staff"))
    inst = app.extensions["instruments"].latest("sde-provider-assessment")
    data = {"code": "AR-777", "name": "Proveedor", "country": "AR", "city": "", "type": "ngo", "contact_name": "",
            "contact_email": "", "contact_phone": "", **{f"item_{i.id}": "2" for i in inst.items}}
    data[f"item_{inst.items[0].id}"] = "³"
    assert client.post("/providers/new", data=data).status_code == 422
    assert count(app, Provider) == 0


# ----------------------------------------------------------------------------- JSON and text


@pytest.mark.parametrize("depth", [33, 1_000, 50_000])
def test_deeply_nested_json_is_refused(app, factory, depth):
    member = factory.user("member")
    aid = factory.assessment(member)
    headers = bearer(factory.token(member))
    body = "[" * depth + "]" * depth
    client = app.test_client()
    response = client.put(f"/api/v1/assessments/{aid}/answers", data=body, content_type="application/json", headers=headers)
    assert response.status_code == 422 and "nested" in response.get_json()["error"]["message"]
    staff_headers = bearer(factory.token(factory.user("staff")))
    response = client.post("/api/v1/selection-rounds", data='{"name": "x", "weights": ' + body + "}",
                           content_type="application/json", headers=staff_headers)
    assert response.status_code == 422 and response.get_json()["error"]["details"][0]["field"] == "body"


def test_json_within_the_depth_limit_still_works(app, factory):
    member = factory.user("member")
    aid = factory.assessment(member)
    headers = bearer(factory.token(member))
    crit = app.extensions["instruments"].latest("ifp-migrant-inclusion").dimensions[0].criteria[0].id
    response = app.test_client().put(f"/api/v1/assessments/{aid}/answers", json={"answers": [{"criterion": crit, "level": 2}],
                                                                                  "version": 1}, headers=headers)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("value", ["a\x00b", "\x00"])
def test_nul_bytes_are_refused_everywhere(app, factory, value):
    staff = factory.user("staff")
    client = signed_in(app, staff)
    response = client.get("/providers", query_string={"q": value})
    assert response.status_code == 422 and "q" in text(response)
    response = app.test_client().post("/login", data={"email": value, "password": "x"})
    assert response.status_code == 422 and "email" in text(response)
    response = client.post("/rounds/new", data={"name": value, "rule": "quota", "draws": "0"})
    assert response.status_code == 422 and count(app, SelectionRound) == 0
    headers = bearer(factory.token(staff))
    response = app.test_client().post("/api/v1/selection-rounds", json={**QUOTA_ROUND, "name": value}, headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["details"][0]["field"] == "name"
    response = app.test_client().get("/api/v1/instruments/ifp%00/1.0", headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["details"][0]["field"] == "instrument_id"
    response = app.test_client().get("/api/v1/providers", query_string={"country": value}, headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["details"][0]["field"] == "country"


def test_lone_surrogates_are_refused_in_json(app, factory):
    member = factory.user("member")
    aid = factory.assessment(member)
    headers = bearer(factory.token(member))
    crit = app.extensions["instruments"].latest("ifp-migrant-inclusion").dimensions[0].criteria[0].id
    for body in ('[{"criterion": "' + crit + '", "level": 2, "evidence": "ok \\ud800 no"}]',
                 '[{"criterion": "' + crit + '", "level": 2, "\\udfff": 1}]'):
        response = app.test_client().put(f"/api/v1/assessments/{aid}/answers", data=body, content_type="application/json",
                                         headers=headers)
        assert response.status_code == 422, body
        assert response.get_json()["error"]["details"][0]["field"].startswith("[0].")
    staff_headers = bearer(factory.token(factory.user("staff")))
    response = app.test_client().post("/api/v1/selection-rounds", data='{"name": "\\ud83d"}', content_type="application/json",
                                      headers=staff_headers)
    assert response.status_code == 422 and response.get_json()["error"]["details"][0]["field"] == "name"


def test_undecodable_bytes_in_forms_and_queries_are_no_500(app, factory):
    client = signed_in(app, factory.user("staff"))
    assert client.get("/providers?q=%ED%A0%80").status_code == 200  # kept percent-encoded, harmless
    response = client.post("/providers/new", data=b"code=%ED%A0%80&name=%ED%A0%80", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 422


# ----------------------------------------------------------------------------- audit log by role


@pytest.fixture
def audit_world(app, factory):
    member = factory.user("member")
    aid = factory.assessment(member, levels=3, submit=True)
    staff = factory.user("staff")
    with app.app_context():
        s = db.new_session()
        s.add(AuditEntry(user_id=member.id, assessment_id=aid, field="status", old="draft", new="submitted", comment="assessment-entry"))
        s.add(AuditEntry(user_id=staff.id, subject="round:1 provider:AR-1", field="selection", old=None, new="selected",
                         comment="secret-rationale"))
        s.add(AuditEntry(user_id=staff.id, subject="round:1", field="status", old="open", new="frozen", comment="freeze-entry"))
        s.commit()
        s.close()
    return aid


def test_reviewers_never_see_selection_entries(app, factory, audit_world):
    reviewer = signed_in(app, factory.user("reviewer"))
    for url in ("/review/audit", "/review/audit.csv", f"/review/audit?assessment={audit_world}"):
        with reviewer.get(url) as response:
            body = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "secret-rationale" not in body and "freeze-entry" not in body and "round:" not in body, url
    assert "assessment-entry" in text(reviewer.get("/review/audit"))
    assert reviewer.get("/rounds/audit").status_code == 403 and reviewer.get("/rounds/audit.csv").status_code == 403


def test_staff_see_selection_entries_only_and_admins_see_everything(app, factory, audit_world):
    staff = signed_in(app, factory.user("staff"))
    for url in ("/rounds/audit", "/rounds/audit.csv"):
        with staff.get(url) as response:
            body = response.get_data(as_text=True)
        assert response.status_code == 200 and "secret-rationale" in body and "freeze-entry" in body
        assert "assessment-entry" not in body
    admin = signed_in(app, factory.user("admin"))
    for url in ("/review/audit", "/review/audit.csv"):
        with admin.get(url) as response:
            body = response.get_data(as_text=True)
        assert "secret-rationale" in body and "assessment-entry" in body, url
    with admin.get("/rounds/audit.csv") as response:
        body = response.get_data(as_text=True)
    assert "secret-rationale" in body and "assessment-entry" not in body


def test_audit_service_scopes_by_role(app, factory, audit_world):
    from rubric_app.services import Forbidden
    from rubric_app.services.review import audit_entries

    users = {role: factory.user(role) for role in ("reviewer", "staff", "admin", "member")}
    with app.app_context():
        s = db.new_session()
        seen = {role: {e.comment for e, _email, _inst in audit_entries(s, s.merge(u)) if e.comment} for role, u in users.items() if role != "member"}
        with pytest.raises(Forbidden):
            audit_entries(s, s.merge(users["member"]))
        s.close()
    assert seen["reviewer"] == {"assessment-entry"}
    assert seen["staff"] == {"secret-rationale", "freeze-entry"}
    assert seen["admin"] >= {"assessment-entry", "secret-rationale", "freeze-entry"}


# ----------------------------------------------------------------------------- files at rest


@pytest.mark.skipif(ON_POSTGRES, reason="the SQLite file's modes")
def test_sqlite_files_are_private(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    old = instance / "rubric.db"
    monkeypatch.setenv("RUBRIC_INSTANCE_PATH", str(instance))
    app = make_app(tmp_path, DATABASE_URL=f"sqlite:///{old}")
    from tests.conftest import Factory

    Factory(app).user("member")  # a write: SQLite makes its -wal and -shm files
    assert mode(instance) == 0o700
    for name in ("rubric.db", "rubric.db-wal", "rubric.db-shm"):
        assert (instance / name).exists() and mode(instance / name) == 0o600, name
    with app.app_context():
        db.engine.dispose()
    os.chmod(old, 0o644)
    os.chmod(instance, 0o755)
    again = make_app(tmp_path, DATABASE_URL=f"sqlite:///{old}")  # files from before are tightened at start
    assert mode(old) == 0o600 and mode(instance) == 0o700
    with again.app_context():
        db.engine.dispose()


def test_instance_config_is_private(tmp_path):
    from rubric_app import ensure_instance_config

    folder = tmp_path / "inst"
    path = ensure_instance_config(str(folder))
    assert mode(path) == 0o600 and mode(folder) == 0o700


@pytest.fixture
def import_app(tmp_path, monkeypatch):
    monkeypatch.setenv("RUBRIC_INSTANCE_PATH", str(tmp_path / "instance"))
    application = make_app(tmp_path)
    yield application
    with application.app_context():
        db.engine.dispose()


def _pending(app) -> list[tuple[str, int, str]]:
    from rubric_app.models import PendingUpload

    with app.app_context():
        s = db.new_session()
        try:
            return [(u.token, u.user_id, u.filename) for u in s.query(PendingUpload).order_by(PendingUpload.id)]
        finally:
            s.close()


def test_uploads_are_private_and_removed_once_applied(tmp_path, import_app):
    from tests.conftest import Factory

    factory = Factory(import_app)
    staff = factory.user("staff")
    client = signed_in(import_app, staff)
    inst = import_app.extensions["instruments"].latest("sde-provider-assessment")
    first = text(upload(client, two_providers(inst)))
    first_token = re.search(r'name="token" value="([^"]+)"', first).group(1)
    page = text(upload(client, csv_file(inst, [{"code": "AR-500", "name": "Uno", "country": "AR"}])))
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    assert _pending(import_app) == [(token, staff.id, "providers.csv")]  # a new check replaces the last one
    assert first_token != token and not (tmp_path / "instance" / "imports").exists()  # nothing in a server's folder
    other = signed_in(import_app, factory.user("staff"))  # another person cannot apply it
    assert other.post("/providers/import", data={"token": token}).status_code == 302
    assert count(import_app, Provider) == 0 and len(_pending(import_app)) == 1
    assert client.post("/providers/import", data={"token": token}).status_code == 302
    assert _pending(import_app) == []
    assert count(import_app, Provider) == 1


def test_unapplied_uploads_are_removed_after_an_hour(tmp_path, import_app):
    from datetime import timedelta

    from rubric_app.models import PendingUpload, utcnow
    from tests.conftest import Factory

    client = signed_in(import_app, Factory(import_app).user("staff"))
    inst = import_app.extensions["instruments"].latest("sde-provider-assessment")
    token = re.search(r'name="token" value="([^"]+)"', text(upload(client, two_providers(inst)))).group(1)
    with import_app.app_context():
        s = db.new_session()
        kept = s.query(PendingUpload).filter_by(token=token).one()
        assert timedelta(minutes=59) < kept.expires_at.replace(tzinfo=None) - kept.created_at.replace(tzinfo=None) <= timedelta(hours=1)
        kept.expires_at = utcnow() - timedelta(seconds=1)
        s.commit()
        s.close()
    assert client.get("/providers/import").status_code == 200
    assert _pending(import_app) == []
    response = client.post("/providers/import", data={"token": token})
    assert response.status_code == 302 and count(import_app, Provider) == 0


def test_upload_files_with_nul_in_the_name_are_refused(import_app):
    from tests.conftest import Factory

    client = signed_in(import_app, Factory(import_app).user("staff"))
    response = client.post("/providers/import", data={"file": (io.BytesIO(b"code\n"), "a\x00.csv"), "dry_run": "1"},
                           content_type="multipart/form-data")
    assert response.status_code in (400, 422)
