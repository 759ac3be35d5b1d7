"""Two people edit at once: versions in pages and in the API, conflicts shown, nothing overwritten silently."""
from __future__ import annotations

import re

import pytest

from rubric_app.models import Answer, Assessment, PlanEdit, Provider, SelectionOverride

from ..conftest import login
from .helpers import assessment_row, bearer, count, parse_form, text, tr

URL = "/api/v1/assessments"


def fields(response) -> dict:
    """The values a browser would send back from a page's forms, left as shown."""
    return parse_form(response.get_data(as_text=True))


@pytest.fixture
def api_member(factory):
    user = factory.user()
    return user, bearer(factory.token(user))


# --------------------------------------------------------------------------- API: ETag, If-Match, partial updates


def test_get_sends_an_etag_and_honours_if_none_match(client, factory, api_member):
    user, auth = api_member
    aid = factory.assessment(user, levels=3)
    first = client.get(f"{URL}/{aid}", headers=auth)
    assert first.status_code == 200 and first.headers["ETag"] == f'"{first.json["version"]}"'
    assert all(a["version"] == 1 for a in first.json["answers"])
    again = client.get(f"{URL}/{aid}", headers={**auth, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"]


def test_partial_put_keeps_the_fields_not_sent(client, factory, api_member, rubric):
    user, auth = api_member
    aid = factory.assessment(user, levels=2)
    cid = rubric.criteria[0].id
    etag = client.get(f"{URL}/{aid}", headers=auth).headers["ETag"]
    response = client.put(f"{URL}/{aid}/answers", json=[{"criterion": cid, "level": 4}], headers={**auth, "If-Match": etag})
    assert response.status_code == 200 and response.headers["ETag"] != etag
    row = assessment_row(client.application, aid)["answers"][cid]
    assert (row["level"], row["evidence"]) == (4, f"evidence {cid}")  # the evidence was kept
    # a target never chosen follows the level
    answer = next(a for a in response.json["answers"] if a["criterion"] == cid)
    assert (answer["target"], answer["target_is_default"], answer["version"]) == (5, True, 2)


def test_writing_an_existing_answer_needs_a_precondition(client, factory, api_member, rubric):
    user, auth = api_member
    aid = factory.assessment(user, levels={rubric.criteria[0].id: 2})
    first, second = rubric.criteria[0].id, rubric.criteria[1].id
    refused = client.put(f"{URL}/{aid}/answers", json=[{"criterion": first, "level": 3}], headers=auth)
    assert refused.status_code == 428 and refused.json["error"]["details"] == [{"criterion": first, "field": "version"}]
    # a criterion not answered yet can be created without one
    assert client.put(f"{URL}/{aid}/answers", json=[{"criterion": second, "level": 3}], headers=auth).status_code == 200
    # the answer's version, or the assessment's version in the body, are documented equivalents
    assert client.put(f"{URL}/{aid}/answers", json=[{"criterion": first, "level": 3, "version": 1}], headers=auth).status_code == 200
    version = client.get(f"{URL}/{aid}", headers=auth).json["version"]
    body = {"answers": [{"criterion": first, "evidence": "Acta"}], "version": version}
    assert client.put(f"{URL}/{aid}/answers", json=body, headers=auth).status_code == 200
    assert assessment_row(client.application, aid)["answers"][first]["evidence"] == "Acta"


def test_stale_writes_get_412_with_the_current_values_and_change_nothing(client, factory, api_member, rubric):
    user, auth = api_member
    aid = factory.assessment(user, levels=2)
    cid = rubric.criteria[0].id
    etag = client.get(f"{URL}/{aid}", headers=auth).headers["ETag"]
    assert client.put(f"{URL}/{aid}/answers", json=[{"criterion": cid, "evidence": "nueva"}], headers={**auth, "If-Match": etag}).status_code == 200
    stale = client.put(f"{URL}/{aid}/answers", json=[{"criterion": cid, "level": 5}], headers={**auth, "If-Match": etag})
    assert stale.status_code == 412
    assert stale.json["error"]["details"][0]["field"] == "version"
    per_answer = client.put(f"{URL}/{aid}/answers", json=[{"criterion": cid, "level": 5, "version": 1}], headers=auth)
    assert per_answer.status_code == 412
    (detail,) = per_answer.json["error"]["details"]
    assert (detail["seen"], detail["current"], detail["stored"]["evidence"]) == (1, 2, "nueva")
    assert assessment_row(client.application, aid)["answers"][cid]["level"] == 2


@pytest.mark.parametrize("header", ["*", 'W/"1"', "1", '"x"', '"99999999999"', '"1", "2"'])
def test_unusable_if_match_is_refused(client, factory, api_member, rubric, header):
    user, auth = api_member
    aid = factory.assessment(user, levels=2)
    response = client.put(f"{URL}/{aid}/answers", json=[{"criterion": rubric.criteria[0].id, "level": 3}],
                          headers={**auth, "If-Match": header})
    assert response.status_code == 412
    assert assessment_row(client.application, aid)["answers"][rubric.criteria[0].id]["level"] == 2


def test_duplicate_criterion_unknown_field_and_bad_versions_are_422(client, factory, api_member, rubric):
    user, auth = api_member
    aid = factory.assessment(user)
    cid = rubric.criteria[0].id
    for body in ([{"criterion": cid, "level": 2}, {"criterion": cid, "level": 3}],
                 [{"criterion": cid, "level": 2, "colour": "red"}],
                 [{"criterion": cid, "level": 2, "version": -1}],
                 [{"criterion": cid, "level": 2, "version": 2**63}],
                 [{"criterion": cid, "level": "³"}],
                 {"answers": [{"criterion": cid, "level": 2}], "version": "1"}):
        response = client.put(f"{URL}/{aid}/answers", json=body, headers=auth)
        assert response.status_code == 422, body
    assert assessment_row(client.application, aid)["answers"] == {}


def test_target_follows_the_level_until_chosen(client, factory, api_member, rubric):
    user, auth = api_member
    aid = factory.assessment(user)
    cid = rubric.criteria[0].id
    put = lambda body: client.put(f"{URL}/{aid}/answers", json=body, headers=auth)  # noqa: E731
    assert put([{"criterion": cid, "level": 2, "version": 0}]).status_code == 200
    raised = put([{"criterion": cid, "level": 4, "version": 1}])
    assert raised.status_code == 200
    answer = next(a for a in raised.json["answers"] if a["criterion"] == cid)
    assert (answer["target"], answer["target_is_default"]) == (5, True)
    chosen = put([{"criterion": cid, "target": 4, "version": 2}])
    assert next(a for a in chosen.json["answers"] if a["criterion"] == cid)["target_is_default"] is False
    # a chosen target does not follow: a level above it is refused at that criterion
    refused = put([{"criterion": cid, "level": 5, "version": 3}])
    assert refused.status_code == 422 and refused.json["error"]["details"][0]["field"] == "target"
    back = put([{"criterion": cid, "level": 5, "target": None, "version": 3}])
    assert back.status_code == 200 and assessment_row(client.application, aid)["answers"][cid]["target"] is None


def test_api_submit_needs_the_version_it_submits(client, factory, api_member):
    user, auth = api_member
    aid = factory.assessment(user, levels=3)
    assert client.post(f"{URL}/{aid}/submit", headers=auth).status_code == 428
    version = client.get(f"{URL}/{aid}", headers=auth).json["version"]
    assert client.post(f"{URL}/{aid}/submit", headers={**auth, "If-Match": f'"{version - 1}"'}).status_code == 412
    done = client.post(f"{URL}/{aid}/submit", json={"version": version}, headers=auth)
    assert done.status_code == 200 and done.json["status"] == "submitted" and done.json["version"] == version + 1
    # an answer after the submission is refused, never applied
    late = client.put(f"{URL}/{aid}/answers", json={"answers": [{"criterion": "policy_target_population", "level": 1}],
                                                    "version": version + 1}, headers=auth)
    assert late.status_code == 409


def test_deep_json_is_a_400_not_a_500(client, factory, api_member):
    user, auth = api_member
    aid = factory.assessment(user)
    body = "[" * 50_000 + "]" * 50_000
    response = client.put(f"{URL}/{aid}/answers", data=body, content_type="application/json", headers=auth)
    assert response.status_code == 422


# --------------------------------------------------------------------------- pages: two browsers


@pytest.fixture
def two_members(app, factory):
    first = factory.user()
    second = factory.user(institution=first.institution)
    a, b = app.test_client(), app.test_client()
    login(a, first)
    login(b, second)
    return first, a, b


def test_dimension_page_from_before_another_save_merges_and_shows_conflicts(app, factory, two_members, rubric):
    user, a, b = two_members
    dim = rubric.dimensions[1]
    c1, c2, c3 = (c.id for c in dim.criteria)
    aid = factory.assessment(user, levels={c1: 2, c2: 2, c3: 2})
    url = f"/assessments/{aid}/d/{dim.id}"
    page_a, page_b = fields(a.get(url)), fields(b.get(url))
    assert a.post(url, data={**page_a, f"evidence_{c1}": "Actas A", f"crit_{c3}": "4", "go": "save"}).status_code == 302
    # B's page still shows the old answers: its change to c2 lands, A's changes stay
    assert b.post(url, data={**page_b, f"crit_{c2}": "5", "go": "save"}).status_code == 302
    answers = assessment_row(app, aid)["answers"]
    assert (answers[c1]["evidence"], answers[c2]["level"], answers[c3]["level"]) == ("Actas A", 5, 4)
    # both change c1's evidence: B is shown both values, nothing of theirs is lost
    response = b.post(url, data={**page_b, f"crit_{c2}": "5", f"evidence_{c1}": "Actas B", "go": "save"})
    assert response.status_code == 409
    page = text(response)
    assert "Actas A" in page and "Actas B" in page
    assert assessment_row(app, aid)["answers"][c1]["evidence"] == "Actas A"
    # saving the re-shown page keeps B's (the person decided)
    again = fields(response)
    assert again[f"evidence_{c1}"] == "Actas B"
    assert b.post(url, data={**again, "go": "save"}).status_code == 302
    assert assessment_row(app, aid)["answers"][c1]["evidence"] == "Actas B"


def test_autosave_of_a_stale_page_never_blanks_answers(app, factory, two_members, rubric):
    user, a, b = two_members
    dim = rubric.dimensions[0]
    aid = factory.assessment(user)
    url = f"/assessments/{aid}/d/{dim.id}"
    stale = fields(b.get(url))  # opened before anything was answered
    for crit in dim.criteria:
        assert a.post(url, data={**fields(a.get(url)), f"crit_{crit.id}": "3", "go": "save"}).status_code == 302
    first = dim.criteria[0].id
    response = b.post(url, data={**stale, f"evidence_{first}": "Reglamento", "go": "save"}, headers={"X-Requested-With": "fetch"})
    assert response.status_code == 200 and response.json["saved"] is True
    answers = assessment_row(app, aid)["answers"]
    assert all(answers[c.id]["level"] == 3 for c in dim.criteria)
    assert answers[first]["evidence"] == "Reglamento"
    # the answer tells the page what is stored now, so it can show the other person's levels
    assert response.json["criteria"][first]["values"]["choice"] == 3


def test_one_invalid_criterion_does_not_block_the_others(app, factory, two_members, rubric):
    user, a, _b = two_members
    dim = rubric.dimensions[0]
    c1, c2, c3 = (c.id for c in dim.criteria)
    aid = factory.assessment(user)
    url = f"/assessments/{aid}/d/{dim.id}"
    data = {**fields(a.get(url)), f"crit_{c1}": "na", f"crit_{c2}": "4", f"crit_{c3}": "2", "go": "save"}
    response = a.post(url, data=data, headers={"X-Requested-With": "fetch"})
    assert response.status_code == 422 and response.json["saved"] is False
    assert response.json["criteria"][c1]["error"] and not response.json["criteria"][c2]["error"]
    answers = assessment_row(app, aid)["answers"]
    assert c1 not in answers and (answers[c2]["level"], answers[c3]["level"]) == (4, 2)


def test_raising_a_level_after_autosave_moves_the_default_target(app, factory, two_members, rubric):
    user, a, _b = two_members
    dim = rubric.dimensions[0]
    c1 = dim.criteria[0].id
    aid = factory.assessment(user)
    url = f"/assessments/{aid}/d/{dim.id}"
    autosave = {"X-Requested-With": "fetch"}
    first = a.post(url, data={**fields(a.get(url)), f"crit_{c1}": "2"}, headers=autosave)
    assert first.status_code == 200
    state = first.json["criteria"][c1]
    second = a.post(url, data={**fields(a.get(url)), f"crit_{c1}": "4", f"ver_{c1}": state["version"], f"base_{c1}": state["base"]},
                    headers=autosave)
    assert second.status_code == 200, second.json
    assert assessment_row(app, aid)["answers"][c1]["target"] is None


def test_submit_from_a_stale_review_page_is_refused_and_explained(app, factory, two_members, rubric):
    user, a, b = two_members
    aid = factory.assessment(user, levels=3)
    review = fields(b.get(f"/assessments/{aid}/review"))
    dim = rubric.dimensions[0]
    url = f"/assessments/{aid}/d/{dim.id}"
    assert a.post(url, data={**fields(a.get(url)), f"crit_{dim.criteria[0].id}": "1", "go": "save"}).status_code == 302
    response = b.post(f"/assessments/{aid}/submit", data=review, follow_redirects=True)
    assert "Alguien más cambió las respuestas" in text(response) or "Someone else changed the answers" in text(response)
    assert assessment_row(app, aid)["status"] == "draft"
    fresh = fields(b.get(f"/assessments/{aid}/review"))
    assert b.post(f"/assessments/{aid}/submit", data=fresh).status_code == 302
    assert assessment_row(app, aid)["status"] == "submitted"
    # without a version the submit is refused, like an expired form
    other = factory.assessment(user, levels=3)
    b.post(f"/assessments/{other}/submit", data={})
    assert assessment_row(app, other)["status"] == "draft"


def test_plan_item_edited_in_two_sessions(app, factory, two_members):
    user, a, b = two_members
    aid = factory.assessment(user, levels=3, submit=True)
    page_a, page_b = fields(a.get(f"/assessments/{aid}/results")), fields(b.get(f"/assessments/{aid}/results"))
    cid = next(k for k in page_a if k.startswith("plan_") and k.endswith("-version"))[len("plan_"):-len("-version")]
    prefix = f"plan_{cid}-"
    url = f"/assessments/{aid}/plan/{cid}"
    mine = {k: v for k, v in page_a.items() if k.startswith(prefix)}
    assert a.post(url, data={**mine, prefix + "responsible": "Dirección académica", prefix + "status": "in_progress"}).status_code == 302
    theirs = {k: v for k, v in page_b.items() if k.startswith(prefix)}
    response = b.post(url, data={**theirs, prefix + "responsible": "Bienestar", prefix + "note": "Con la SPE"})
    assert response.status_code == 409
    page = text(response)
    assert "Dirección académica" in page and "Bienestar" in page
    assert assessment_row(app, aid)["plan"][cid]["responsible"] == "Dirección académica"
    # the re-shown form carries the current version: saving it is a decision, and lands
    again = {k: v for k, v in fields(response).items() if k.startswith(prefix)}
    assert again[prefix + "responsible"] == "Bienestar"
    assert b.post(url, data=again).status_code == 302
    plan = assessment_row(app, aid)["plan"][cid]
    assert (plan["responsible"], plan["note"]) == ("Bienestar", "Con la SPE")
    assert count(app, PlanEdit, assessment_id=aid) == 1


def test_two_reviewers_saving_the_same_review(app, factory):
    member = factory.user()
    aid = factory.assessment(member, levels=3, submit=True)
    r1, r2 = factory.user("reviewer"), factory.user("reviewer")
    c1, c2 = app.test_client(), app.test_client()
    login(c1, r1)
    login(c2, r2)
    p1, p2 = fields(c1.get(f"/review/{aid}")), fields(c2.get(f"/review/{aid}"))
    cid = next(k for k in p1 if k.startswith("level_"))[len("level_"):]
    assert c1.post(f"/review/{aid}", data={**p1, f"level_{cid}": "2", f"comment_{cid}": "Sin actas", "action": "save"}).status_code == 302
    stale = c2.post(f"/review/{aid}", data={**p2, f"level_{cid}": "4", f"comment_{cid}": "Hay convenio", "action": "save"})
    assert stale.status_code == 409
    assert "Sin actas" in text(stale)
    with app.app_context():
        from rubric_app.extensions import db

        s = db.new_session()
        row = s.query(Answer).filter_by(assessment_id=aid, criterion_id=cid).one()
        assert (row.validated_level, row.review_comment) == (2, "Sin actas")
        s.close()
    # once validated by one reviewer, the other's return is refused with a message, not applied
    fresh = fields(c1.get(f"/review/{aid}"))
    assert c1.post(f"/review/{aid}", data={**fresh, "action": "validate"}).status_code == 302
    late = c2.post(f"/review/{aid}", data={**fresh, "action": "return", "return_comment": "Revisar"}, follow_redirects=True)
    assert late.status_code == 200
    assert assessment_row(app, aid)["status"] == "validated"


@pytest.fixture
def staff_clients(app, factory):
    s1, s2 = factory.user("staff"), factory.user("staff")
    c1, c2 = app.test_client(), app.test_client()
    login(c1, s1)
    login(c2, s2)
    return c1, c2


def test_provider_edited_in_two_sessions(app, staff_clients):
    c1, c2 = staff_clients
    assert c1.post("/providers/new", data={"code": "PE-900", "name": "Cámara de Comercio", "country": "PE", "type": "chamber",
                                           "version": "0"}).status_code == 302
    with app.app_context():
        from rubric_app.extensions import db

        s = db.new_session()
        pid = s.query(Provider).filter_by(code="PE-900").one().id
        s.close()
    p1, p2 = fields(c1.get(f"/providers/{pid}/edit")), fields(c2.get(f"/providers/{pid}/edit"))
    assert c1.post(f"/providers/{pid}/edit", data={**p1, "city": "Arequipa"}).status_code == 302
    stale = c2.post(f"/providers/{pid}/edit", data={**p2, "city": "Cusco"})
    assert stale.status_code == 409
    page = text(stale)
    assert "Arequipa" in page and "Cusco" in page
    assert count(app, Provider, city="Arequipa") == 1
    again = fields(stale)
    assert c2.post(f"/providers/{pid}/edit", data=again).status_code == 302
    assert count(app, Provider, city="Cusco") == 1


def test_override_racing_a_freeze_is_refused(app, staff_clients):
    from rubric_app.services import providers as prov_svc

    c1, c2 = staff_clients
    with app.app_context():
        from rubric_app.extensions import db

        s = db.new_session()
        prov_svc.seed_synthetic_providers(s, prov_svc.provider_instrument(app.extensions["instruments"]), 12, 7)
        s.commit()
        s.close()
    created = c1.post("/rounds/new", data={"name": "Ronda 1", "rule": "quota", "default_quota": "2", "draws": "0", "seed": "1",
                                           **{f"weight_{c}": "1" for c in ("marketing", "legal", "finance", "inclusion",
                                                                           "infrastructure", "management", "digital")}})
    assert created.status_code == 302
    round_url = created.headers["Location"]
    page1, page2 = fields(c1.get(round_url)), fields(c2.get(round_url))
    rid = int(round_url.rstrip("/").split("/")[-1])
    code = next(m for m in re.findall(r'/override/([^"]+)"', c2.get(round_url).get_data(as_text=True)))
    assert c1.post(f"/rounds/{rid}/freeze", data={"csrf_token": "", "version": page1["version"]}).status_code == 302
    late = c2.post(f"/rounds/{rid}/override/{code}", data={"version": page2["version"], "selected": "1", "rationale": "Aliado clave"},
                   follow_redirects=True)
    assert late.status_code == 200
    assert count(app, SelectionOverride, round_id=rid) == 0
    # without a version the change is refused as well
    c2.post(f"/rounds/{rid}/rerun", data={})
    assert count(app, SelectionOverride, round_id=rid) == 0


def test_import_apply_after_the_registry_changed_is_checked_again(app, staff_clients, client, factory):
    c1, _c2 = staff_clients
    csv_head = "code,name,country,city,type,contact_name,contact_email,contact_phone"
    assert c1.post("/providers/new", data={"code": "PE-901", "name": "Centro A", "country": "PE", "type": "ngo",
                                           "version": "0"}).status_code == 302
    template = c1.get("/providers/template.csv").get_data(as_text=True).lstrip("\ufeff").splitlines()[0]
    assert template.startswith(csv_head)
    extra = template.count(",") - csv_head.count(",")
    data = (template + "\n" + "PE-901,Centro A,PE,Tacna,ngo,,," + "," * extra + "\n").encode()
    import io

    dry = c1.post("/providers/import", data={"file": (io.BytesIO(data), "p.csv"), "dry_run": "1"}, content_type="multipart/form-data")
    assert dry.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', dry.get_data(as_text=True)).group(1)
    with app.app_context():
        from rubric_app.extensions import db

        s = db.new_session()
        p = s.query(Provider).filter_by(code="PE-901").one()
        p.city = "Moquegua"  # someone edits the provider between the check and the import
        s.commit()
        s.close()
    applied = c1.post("/providers/import", data={"token": token})
    assert applied.status_code == 409
    assert count(app, Provider, city="Moquegua") == 1
    # the page shows the new check; importing it now is a decision, and applies
    assert c1.post("/providers/import", data={"token": token}).status_code == 302
    assert count(app, Provider, city="Tacna") == 1
    # the API: applying an update needs the dry run's stamp
    staff = factory.user("staff")
    auth = bearer(factory.token(staff))
    body = data.replace(b"Tacna", b"Ilo")
    assert client.post("/api/v1/providers/import?dry_run=0", data=body, content_type="text/csv", headers=auth).status_code == 428
    stamp = client.post("/api/v1/providers/import?dry_run=1", data=body, content_type="text/csv", headers=auth).json["stamp"]
    ok = client.post("/api/v1/providers/import?dry_run=0", data=body, content_type="text/csv", headers={**auth, "If-Match": f'"{stamp}"'})
    assert ok.status_code == 200 and count(app, Provider, city="Ilo") == 1
    stale = client.post("/api/v1/providers/import?dry_run=0", data=data, content_type="text/csv", headers={**auth, "If-Match": f'"{stamp}"'})
    assert stale.status_code == 412 and count(app, Provider, city="Ilo") == 1


def test_a_unique_key_race_is_a_409_not_a_500(app, factory):
    """Two sessions that both add the first plan edit of the same item: the database's unique key
    decides, and the loser gets a conflict (the error page itself must not fail)."""
    from rubric_app.extensions import db
    from rubric_app.services import Conflict, commit_or_conflict

    member = factory.user()
    aid = factory.assessment(member, levels=3)
    with app.app_context():
        s1, s2 = db.new_session(), db.new_session()
        s1.add(PlanEdit(assessment_id=aid, criterion_id="policy_target_population"))
        s2.add(PlanEdit(assessment_id=aid, criterion_id="policy_target_population"))
        commit_or_conflict(s1)
        with pytest.raises(Conflict):
            commit_or_conflict(s2)
        assert s2.query(Assessment).count() == 1  # the session is usable again after the rollback
        s1.close()
        s2.close()


def test_an_unexpected_database_error_still_gets_its_error_page(app, factory):
    """A failed flush leaves the request's session needing a rollback; the 500 page must not fail in turn."""
    from rubric_app.extensions import db

    member = factory.user()
    aid = factory.assessment(member, levels=3)

    def broken():
        for _ in range(2):
            db.session.add(PlanEdit(assessment_id=aid, criterion_id="policy_target_population"))
        db.session.flush()  # IntegrityError: the unique key (assessment, criterion)

    app.add_url_rule("/test-broken", view_func=broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    login(client, member)
    response = client.get("/test-broken")
    assert response.status_code == 500
    assert tr("es", "Something went wrong") in text(response)  # the app's own page, in the interface language
    assert client.get("/").status_code == 200
