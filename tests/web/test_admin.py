"""Administration pages: users and roles, deactivation, institutions (admins only)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from rubric_app.extensions import db
from rubric_app.models import AuditEntry, Institution, User
from tests.conftest import PASSWORD, Factory, login

from .helpers import csrf_token, hidden_fields, parse_form, text, tr

HUGE = 2**63


def row(app, model, id_):
    with app.app_context():
        s = db.new_session()
        try:
            return s.get(model, id_)
        finally:
            s.close()


def audit(app, subject):
    with app.app_context():
        s = db.new_session()
        try:
            return [(e.field, e.old, e.new, e.user_id) for e in s.scalars(select(AuditEntry).where(AuditEntry.subject == subject)
                                                                            .order_by(AuditEntry.id))]
        finally:
            s.close()


@pytest.fixture
def admin(factory):
    return factory.user("admin", email="admin@example.org")


@pytest.fixture
def admin_client(client, admin):
    login(client, admin)
    return client


def role_data(client, user_id, **changes):
    """The role form as the user page shows it, with ``changes``."""
    fields = parse_form(client.get(f"/admin/users/{user_id}").data, "role-form")
    fields.update(changes)
    return fields


def version_of(client, user_id, form_id="deactivate-form"):
    return parse_form(client.get(f"/admin/users/{user_id}").data, form_id)["version"]


# --------------------------------------------------------------------------- access


def _routes(user_id, institution_id):
    return [("GET", "/admin/", None), ("GET", "/admin/users", None), ("GET", "/admin/institutions", None),
            ("GET", f"/admin/users/{user_id}", None), ("GET", f"/admin/institutions/{institution_id}", None),
            ("POST", f"/admin/users/{user_id}/role", {"version": "1", "role": "reviewer"}),
            ("POST", f"/admin/users/{user_id}/deactivate", {"version": "1"}),
            ("POST", f"/admin/users/{user_id}/reactivate", {"version": "1"}),
            ("POST", f"/admin/institutions/{institution_id}",
             {"version": "1", "name": "X", "city": "", "country": "PE", "type": "other", "sector": "public"})]


@pytest.mark.parametrize("role", ["member", "reviewer", "staff"])
def test_other_roles_get_403_everywhere_and_change_nothing(app, client, factory, role):
    target = factory.user("member")
    login(client, factory.user(role))
    for method, url, data in _routes(target.id, target.institution_id):
        response = client.open(url, method=method, data=data)
        assert response.status_code == 403, (method, url, response.status_code)
    assert row(app, User, target.id).version == 1 and row(app, User, target.id).role == "member"
    assert audit(app, f"user:{target.id}") == []


def test_anonymous_is_sent_to_sign_in(client, factory):
    target = factory.user("member")
    for method, url, data in _routes(target.id, target.institution_id):
        response = client.open(url, method=method, data=data)
        assert response.status_code == 302 and "/login" in response.headers["Location"], (method, url)


def test_admin_reaches_every_page(admin_client, factory):
    target = factory.user("member")
    assert admin_client.get("/admin/").status_code == 302
    for url in ("/admin/users", "/admin/institutions", f"/admin/users/{target.id}", f"/admin/institutions/{target.institution_id}"):
        assert admin_client.get(url).status_code == 200, url


def test_nav_link_only_for_admins(client, factory, admin):
    login(client, factory.user("staff"))
    assert "/admin/users" not in client.get("/account").get_data(as_text=True)
    client.post("/logout")
    login(client, admin)
    assert "/admin/users" in client.get("/account").get_data(as_text=True)


@pytest.mark.parametrize("bad_id", [HUGE, 2**31, 0, 999999])
def test_unknown_and_huge_ids_are_404(admin_client, bad_id):
    for method, url, data in _routes(bad_id, bad_id):
        response = admin_client.open(url, method=method, data=data)
        if url == "/admin/" or url in ("/admin/users", "/admin/institutions"):
            continue
        assert response.status_code == 404, (method, url, response.status_code)


def test_get_never_changes_state(app, admin_client, factory):
    target = factory.user("member")
    assert admin_client.get(f"/admin/users/{target.id}/deactivate").status_code == 405
    assert admin_client.get(f"/admin/users/{target.id}/role?role=admin&version=1").status_code == 405
    assert row(app, User, target.id).active and row(app, User, target.id).role == "member"


# --------------------------------------------------------------------------- lists


def test_user_search_by_email_name_and_institution_and_filters(app, admin_client, factory):
    inst = factory.institution(name="Centro Andino de Formación", country="PE")
    factory.user("member", institution=inst, email="ana@andino.example")
    factory.user("reviewer", email="rita@cinterfor.example")
    staff = factory.user("staff", email="sam@lazos.example")
    with app.app_context():
        s = db.new_session()
        u = s.get(User, staff.id)
        u.name, u.active = "Samuel Quispe", False
        s.commit()
        s.close()
    page = lambda q: text(admin_client.get("/admin/users?" + q))
    assert "ana@andino.example" in page("q=ANDINO") and "rita@" not in page("q=ANDINO")
    assert "sam@lazos.example" in page("q=quispe")
    assert "rita@cinterfor.example" in page("role=reviewer") and "ana@" not in page("role=reviewer")
    assert "sam@lazos.example" in page("active=0") and "ana@" not in page("active=0")
    assert "sam@lazos.example" not in page("active=1")
    assert tr("es", "No user matches.") in page("q=%25_%5C")  # LIKE wildcards are literal: nobody matches


@pytest.mark.parametrize("query", ["page=-3", "page=abc", f"page={10**40}", "role=root", "active=maybe", "q=" + "x" * 5000,
                                   "page=0&role=&active="])
def test_bad_list_parameters_are_ignored_not_500(admin_client, query):
    assert admin_client.get("/admin/users?" + query).status_code == 200
    assert admin_client.get("/admin/institutions?" + query.replace("role", "country")).status_code == 200


def test_user_list_pages_of_50_and_the_page_number_is_bounded(app, admin_client, factory):
    for n in range(60):
        factory.user("reviewer", email=f"r{n:03d}@paging.example")
    first = text(admin_client.get("/admin/users?q=paging"))
    assert first.count("@paging.example</a>") == 50
    second = text(admin_client.get("/admin/users?q=paging&page=2"))
    assert second.count("@paging.example</a>") == 10 and "r059@paging.example" in second
    beyond = text(admin_client.get(f"/admin/users?q=paging&page={2**40}"))
    assert beyond.count("@paging.example</a>") == 10  # the last page
    assert "page=2" in first and "q=paging" in first  # the next link keeps the search


def test_institution_list_search_country_and_paging(admin_client, factory):
    factory.institution(name="Servicio Nacional Demo", country="CO", city="Cúcuta")
    factory.institution(name="Instituto del Sur", country="AR", city="Rosario")
    for n in range(55):
        factory.institution(name=f"Centro Paginado {n:02d}", country="DO")
    assert "Instituto del Sur" in text(admin_client.get("/admin/institutions?q=sur"))
    assert "Servicio Nacional Demo" in text(admin_client.get("/admin/institutions?q=cúcuta"))
    colombia = text(admin_client.get("/admin/institutions?country=CO"))
    assert "Servicio Nacional Demo" in colombia and "Instituto del Sur" not in colombia
    assert text(admin_client.get("/admin/institutions?country=DO")).count("Centro Paginado") == 50
    assert text(admin_client.get("/admin/institutions?country=DO&page=2")).count("Centro Paginado") == 5


# --------------------------------------------------------------------------- role changes


def test_promote_a_member_ends_their_sessions_and_is_audited(app, admin_client, admin, factory):
    member = factory.user("member")
    before = row(app, User, member.id)
    response = admin_client.post(f"/admin/users/{member.id}/role", data=role_data(admin_client, member.id, role="reviewer", institution=""))
    assert response.status_code == 302
    after = row(app, User, member.id)
    assert after.role == "reviewer" and after.institution_id is None
    assert after.session_generation == before.session_generation + 1 and after.version == before.version + 1
    assert audit(app, f"user:{member.id}") == [("role", "member", "reviewer", admin.id),
                                               ("institution", str(member.institution_id), None, admin.id)]
    history = text(admin_client.get(f"/admin/users/{member.id}"))
    assert "admin@example.org" in history and "reviewer" in history


def test_a_non_member_given_an_institution_keeps_none(app, admin_client, factory):
    inst = factory.institution()
    staff = factory.user("staff")
    admin_client.post(f"/admin/users/{staff.id}/role", data=role_data(admin_client, staff.id, role="reviewer", institution=str(inst.id)))
    assert row(app, User, staff.id).institution_id is None


def test_making_someone_a_member_needs_an_institution(app, admin_client, factory):
    staff = factory.user("staff")
    response = admin_client.post(f"/admin/users/{staff.id}/role", data=role_data(admin_client, staff.id, role="member", institution=""))
    assert response.status_code == 422
    assert "institution" in text(response).lower() or "institución" in text(response).lower()
    for bad in ("abc", str(HUGE), "999999", "-1"):
        response = admin_client.post(f"/admin/users/{staff.id}/role", data=role_data(admin_client, staff.id, role="member", institution=bad))
        assert response.status_code == 422, bad
    assert row(app, User, staff.id).role == "staff" and row(app, User, staff.id).version == 1
    inst = factory.institution(name="Centro Elegido")
    response = admin_client.post(f"/admin/users/{staff.id}/role", data=role_data(admin_client, staff.id, role="member", institution=str(inst.id)))
    assert response.status_code == 302
    assert (row(app, User, staff.id).role, row(app, User, staff.id).institution_id) == ("member", inst.id)


def test_moving_a_member_to_another_institution(app, admin_client, admin, factory):
    member = factory.user("member")
    other = factory.institution(name="Otra Institución")
    response = admin_client.post(f"/admin/users/{member.id}/role", data=role_data(admin_client, member.id, institution=str(other.id)))
    assert response.status_code == 302
    assert row(app, User, member.id).institution_id == other.id
    assert audit(app, f"user:{member.id}") == [("institution", str(member.institution_id), str(other.id), admin.id)]
    assert row(app, User, member.id).session_generation == 1


def test_saving_the_same_role_changes_nothing(app, admin_client, factory):
    reviewer = factory.user("reviewer")
    assert admin_client.post(f"/admin/users/{reviewer.id}/role", data=role_data(admin_client, reviewer.id)).status_code == 302
    assert row(app, User, reviewer.id).version == 1 and audit(app, f"user:{reviewer.id}") == []


@pytest.mark.parametrize("changes", [{"role": "root"}, {"version": ""}, {"version": "x"}, {"version": str(HUGE)}, {"version": "-1"}])
def test_bad_role_input_is_422(app, admin_client, factory, changes):
    reviewer = factory.user("reviewer")
    response = admin_client.post(f"/admin/users/{reviewer.id}/role", data=role_data(admin_client, reviewer.id, **changes))
    assert response.status_code == 422
    assert row(app, User, reviewer.id).role == "reviewer" and row(app, User, reviewer.id).version == 1


def test_an_admin_cannot_demote_or_deactivate_themself(app, admin_client, admin, factory):
    factory.user("admin")  # not the last admin: the refusal is about oneself
    response = admin_client.post(f"/admin/users/{admin.id}/role", data=role_data(admin_client, admin.id, role="reviewer"))
    assert response.status_code == 422
    assert "own account" in text(response) or "propia" in text(response)
    response = admin_client.post(f"/admin/users/{admin.id}/deactivate", data={"version": version_of(admin_client, admin.id)})
    assert response.status_code == 422
    stored = row(app, User, admin.id)
    assert stored.role == "admin" and stored.active and stored.version == 1 and stored.session_generation == 0
    assert audit(app, f"user:{admin.id}") == []


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(app, admin_client, admin):
    response = admin_client.post(f"/admin/users/{admin.id}/role", data=role_data(admin_client, admin.id, role="staff"))
    assert response.status_code == 409
    assert "última" in text(response) or "last active" in text(response)
    response = admin_client.post(f"/admin/users/{admin.id}/deactivate", data={"version": version_of(admin_client, admin.id)})
    assert response.status_code == 409
    stored = row(app, User, admin.id)
    assert stored.role == "admin" and stored.active and stored.version == 1


def test_two_admins_demoting_each_other_leave_one(app, factory):
    """Each one's page said there were two admins; the second write, checked under the lock, finds
    its author no longer an admin."""
    from rubric_app.services import Forbidden
    from rubric_app.services import admin as svc

    first, second = factory.user("admin"), factory.user("admin")
    with app.app_context():
        s1, s2 = db.new_session(), db.new_session()
        actor1, actor2 = s1.get(User, first.id), s2.get(User, second.id)  # both loaded as admins
        svc.change_role(s1, actor1, second.id, role="staff", institution_id=None, expected_version=1)
        with pytest.raises(Forbidden):
            svc.set_active(s2, actor2, first.id, active=False, expected_version=1)
        s1.close(), s2.close()
    assert row(app, User, first.id).role == "admin" and row(app, User, first.id).active
    assert row(app, User, second.id).role == "staff"


def test_two_admins_demoting_each_other_at_the_same_moment(app, factory):
    """Threads on their own sessions (PostgreSQL row locks, SQLite's write lock): never zero admins, never a 500."""
    import threading

    from rubric_app.services import ServiceError
    from rubric_app.services import admin as svc

    for _round in range(3):
        first, second = factory.user("admin"), factory.user("admin")
        barrier = threading.Barrier(2)
        outcomes: list = []

        def demote(actor_id, target_id, barrier=barrier, outcomes=outcomes):
            with app.app_context():
                s = db.new_session()
                try:
                    actor = s.get(User, actor_id)
                    s.rollback()
                    barrier.wait(timeout=10)
                    svc.change_role(s, actor, target_id, role="reviewer", institution_id=None, expected_version=1)
                    outcomes.append("ok")
                except ServiceError as exc:
                    outcomes.append(exc.status)
                except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                    outcomes.append(repr(exc))
                finally:
                    s.close()

        threads = [threading.Thread(target=demote, args=(first.id, second.id)), threading.Thread(target=demote, args=(second.id, first.id))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(map(str, outcomes)) == ["403", "ok"], outcomes
        with app.app_context():
            s = db.new_session()
            assert svc.active_admin_count(s) >= 1
            s.close()
        # leave the two for the next round as non-admins
        with app.app_context():
            s = db.new_session()
            for uid in (first.id, second.id):
                s.get(User, uid).role = "staff"
            s.commit()
            s.close()


# --------------------------------------------------------------------------- deactivation


def test_deactivate_and_reactivate(app, admin_client, admin, factory):
    member = factory.user("member")
    response = admin_client.post(f"/admin/users/{member.id}/deactivate", data={"version": version_of(admin_client, member.id)})
    assert response.status_code == 302
    stored = row(app, User, member.id)
    assert not stored.active and stored.session_generation == 1 and stored.version == 2
    other = app.test_client()
    assert other.post("/login", data={"email": member.email, "password": PASSWORD}).status_code != 302
    response = admin_client.post(f"/admin/users/{member.id}/reactivate", data={"version": version_of(admin_client, member.id, "reactivate-form")})
    assert response.status_code == 302
    assert row(app, User, member.id).active and row(app, User, member.id).version == 3
    assert audit(app, f"user:{member.id}") == [("active", "yes", "no", admin.id), ("active", "no", "yes", admin.id)]
    login(other, member)


def test_deactivation_signs_the_person_out(app, admin_client, factory):
    member = factory.user("member")
    theirs = app.test_client()
    login(theirs, member)
    assert theirs.get("/account").status_code == 200
    admin_client.post(f"/admin/users/{member.id}/deactivate", data={"version": version_of(admin_client, member.id)})
    assert theirs.get("/account").status_code == 302


# --------------------------------------------------------------------------- stale versions


def test_stale_role_change_is_409_with_both_values_and_saving_again_decides(app, admin_client, factory):
    member = factory.user("member")
    data = role_data(admin_client, member.id, role="staff", institution="")
    other_admin = factory.user("admin")
    with app.app_context():
        from rubric_app.services import admin as svc

        s = db.new_session()
        svc.change_role(s, s.get(User, other_admin.id), member.id, role="reviewer", institution_id=None, expected_version=1)
        s.close()
    response = admin_client.post(f"/admin/users/{member.id}/role", data=data)
    assert response.status_code == 409
    assert 'class="conflict"' in response.get_data(as_text=True)
    assert row(app, User, member.id).role == "reviewer"
    again = parse_form(response.data, "role-form")
    assert again["version"] == "2" and again["role"] == "staff"  # the form keeps mine, at the stored version
    assert admin_client.post(f"/admin/users/{member.id}/role", data=again).status_code == 302
    assert row(app, User, member.id).role == "staff"


def test_stale_deactivation_is_409(app, admin_client, factory):
    member = factory.user("member")
    version = version_of(admin_client, member.id)
    other_admin = factory.user("admin")
    with app.app_context():
        from rubric_app.services import admin as svc

        s = db.new_session()
        inst = factory.institution(name="Nueva Casa")
        svc.change_role(s, s.get(User, other_admin.id), member.id, role="member", institution_id=inst.id, expected_version=1)
        s.close()
    response = admin_client.post(f"/admin/users/{member.id}/deactivate", data={"version": version})
    assert response.status_code == 409 and row(app, User, member.id).active
    fresh = parse_form(response.data, "deactivate-form")
    assert admin_client.post(f"/admin/users/{member.id}/deactivate", data=fresh).status_code == 302
    assert not row(app, User, member.id).active


# --------------------------------------------------------------------------- institutions


def institution_data(client, institution_id, **changes):
    fields = parse_form(client.get(f"/admin/institutions/{institution_id}").data, "institution-form")
    fields.update(changes)
    return fields


def test_edit_an_institution_is_audited(app, admin_client, admin, factory):
    inst = factory.institution(name="Centro Viejo", country="PE", city="Lima")
    long_name = "Centro de Formación Profesional para la Inclusión de Personas Migrantes y Refugiadas del Norte"
    response = admin_client.post(f"/admin/institutions/{inst.id}",
                                 data=institution_data(admin_client, inst.id, name=long_name, city="Tumbes", country="CO", sector="private"))
    assert response.status_code == 302
    stored = row(app, Institution, inst.id)
    assert (stored.name, stored.city, stored.country, stored.sector, stored.version) == (long_name, "Tumbes", "CO", "private", 2)
    assert stored.name_key == long_name.casefold()
    entries = audit(app, f"institution:{inst.id}")
    assert [e[0] for e in entries] == ["name", "city", "country", "sector"]
    assert entries[0][1] == "Centro Viejo" and entries[0][2].endswith("…") and len(entries[0][2]) == 64
    assert all(e[3] == admin.id for e in entries)


def test_duplicate_institution_name_in_the_same_country_is_refused(app, admin_client, factory):
    factory.institution(name="Centro Único", country="PE")
    inst = factory.institution(name="Otro Centro", country="PE")
    response = admin_client.post(f"/admin/institutions/{inst.id}", data=institution_data(admin_client, inst.id, name="  centro   ÚNICO "))
    assert response.status_code == 409
    assert "ya" in text(response) or "already" in text(response)
    assert row(app, Institution, inst.id).name == "Otro Centro"
    # the same name in another country is fine
    response = admin_client.post(f"/admin/institutions/{inst.id}", data=institution_data(admin_client, inst.id, name="Centro Único", country="AR"))
    assert response.status_code == 302


@pytest.mark.parametrize("changes", [{"name": ""}, {"name": "x" * 201}, {"country": "XX"}, {"country": "EU"}, {"type": "castle"},
                                     {"sector": "mixed"}, {"city": "y" * 121}, {"version": ""}, {"version": str(HUGE)}])
def test_bad_institution_input_is_422(app, admin_client, factory, changes):
    inst = factory.institution(name="Centro Firme")
    response = admin_client.post(f"/admin/institutions/{inst.id}", data=institution_data(admin_client, inst.id, **changes))
    assert response.status_code == 422
    stored = row(app, Institution, inst.id)
    assert stored.name == "Centro Firme" and stored.version == 1


def test_stale_institution_edit_is_409_and_saving_again_decides(app, admin_client, factory):
    inst = factory.institution(name="Centro Compartido", city="Lima")
    mine = institution_data(admin_client, inst.id, city="Arequipa")
    theirs = institution_data(admin_client, inst.id, city="Cusco")
    assert admin_client.post(f"/admin/institutions/{inst.id}", data=theirs).status_code == 302
    response = admin_client.post(f"/admin/institutions/{inst.id}", data=mine)
    assert response.status_code == 409
    page = text(response)
    assert "Arequipa" in page and "Cusco" in page
    assert row(app, Institution, inst.id).city == "Cusco"
    again = parse_form(response.data, "institution-form")
    assert again["city"] == "Arequipa" and again["version"] == "2"
    assert admin_client.post(f"/admin/institutions/{inst.id}", data=again).status_code == 302
    assert row(app, Institution, inst.id).city == "Arequipa"


def test_pages_escape_what_people_typed(app, admin_client, factory):
    inst = factory.institution(name="<script>alert(1)</script>")
    factory.user("member", institution=inst, email="x@example.org")
    for url in ("/admin/users", "/admin/institutions", f"/admin/institutions/{inst.id}"):
        body = admin_client.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in body and "&lt;script&gt;" in body, url


def test_pages_in_english_and_portuguese(admin_client, factory):
    factory.user("member")
    for lang, word in (("en", "Users"), ("es", "Usuarios"), ("pt", "Usuários")):
        body = text(admin_client.get(f"/admin/users?lang={lang}"))
        assert f'lang="{lang}"' in body


# --------------------------------------------------------------------------- CSRF


@pytest.fixture
def cfactory(csrf_app):
    return Factory(csrf_app)


def test_every_admin_post_needs_the_csrf_token(csrf_app, cfactory):
    admin = cfactory.user("admin")
    member = cfactory.user("member")
    browser = csrf_app.test_client()
    token = csrf_token(browser.get("/login").data)
    assert browser.post("/login", data={"email": admin.email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    for method, url, data in _routes(member.id, member.institution_id):
        if method != "POST":
            continue
        assert browser.post(url, data=data).status_code == 400, url
        assert browser.post(url, data={**data, "csrf_token": "forged"}).status_code == 400, url
    assert row(csrf_app, User, member.id).version == 1 and row(csrf_app, Institution, member.institution_id).version == 1
    # with the page's token the change goes through
    page = browser.get(f"/admin/users/{member.id}").data
    fields = parse_form(page, "deactivate-form")
    assert "csrf_token" in fields and browser.post(f"/admin/users/{member.id}/deactivate", data=fields).status_code == 302
    assert not row(csrf_app, User, member.id).active
    assert hidden_fields(browser.get(f"/admin/institutions/{member.institution_id}").data).get("csrf_token")


def test_role_change_and_deactivation_revoke_api_tokens(app, factory):
    """A token issued for what a user was stops working when an admin changes the role or deactivates."""
    from tests.conftest import login as sign_in

    admin = factory.user("admin")
    reviewer = factory.user("reviewer")
    token = factory.token(reviewer)
    api = app.test_client()
    assert api.get("/api/v1/assessments", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    client = app.test_client()
    sign_in(client, admin)
    page = client.get(f"/admin/users/{reviewer.id}").get_data(as_text=True)
    import re

    version = re.search(r'name="version"[^>]*value="(\d+)"', page) or re.search(r'value="(\d+)"[^>]*name="version"', page)
    response = client.post(f"/admin/users/{reviewer.id}/role", data={"version": version.group(1), "role": "staff"})
    assert response.status_code in (302, 303), response.status_code
    assert api.get("/api/v1/assessments", headers={"Authorization": f"Bearer {token}"}).status_code == 401
