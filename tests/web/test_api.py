"""JSON API v1: OpenAPI document, auth, instruments, assessments, answers, submit, report."""
from __future__ import annotations

import re

import pytest

from rubric_app.models import Assessment
from tests.conftest import login

from .helpers import INSTRUMENT, assessment_row, bearer, count

API = "/api/v1"


@pytest.fixture
def token(factory, member):
    return factory.token(member)


@pytest.fixture
def api(app, token):
    """A client sending the member's bearer token on every request."""

    class Api:
        def __init__(self, client, headers):
            self.client, self.headers = client, headers

        def __getattr__(self, method):
            def call(path, **kw):
                headers = {**self.headers, **kw.pop("headers", {})}
                return getattr(self.client, method)(API + path, headers=headers, **kw)

            return call

    return Api(app.test_client(), bearer(token))


def etag_of(api, assessment_id) -> str:
    """The assessment's ETag as a client reads it before writing (GET), checked against the body's version."""
    response = api.get(f"/assessments/{assessment_id}")
    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{response.get_json()["version"]}"'
    return response.headers["ETag"]


def all_answers(rubric, level=3, **overrides):
    return [{"criterion": c.id, "level": overrides.get(c.id, level)} for c in rubric.criteria]


# ----------------------------------------------------------------------------- OpenAPI and auth


def test_openapi_document_lists_every_api_route(app, client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1") and doc["info"]["title"] and doc["info"]["version"]
    assert doc["servers"] == [{"url": API}]
    assert "bearer" in doc["components"]["securitySchemes"]
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/") or rule.endpoint == "api.openapi":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule[len(API):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    assert routes and routes <= documented, routes - documented
    for path in ("/instruments", "/instruments/{instrument_id}/{version}", "/assessments", "/assessments/{assessment_id}",
                 "/assessments/{assessment_id}/answers", "/assessments/{assessment_id}/submit", "/assessments/{assessment_id}/report.pdf"):
        assert path in doc["paths"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["responses"], (path, method)
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    assert "{" + param["name"] + "}" in path
    refs = set(re.findall(r'"#/components/schemas/([A-Za-z]+)"', response.get_data(as_text=True)))
    assert refs <= set(doc["components"]["schemas"])


def test_unauthenticated_calls_get_401_json(app, client, member, factory):
    aid = factory.assessment(member, levels=3)
    for method, path in (("get", "/instruments"), ("get", f"/instruments/{INSTRUMENT}/1.0"), ("get", "/assessments"),
                         ("post", "/assessments"), ("get", f"/assessments/{aid}"), ("put", f"/assessments/{aid}/answers"),
                         ("post", f"/assessments/{aid}/submit"), ("get", f"/assessments/{aid}/report.pdf")):
        response = getattr(client, method)(API + path, json=[{"criterion": "access_documents", "level": 1}])
        assert response.status_code == 401 and response.is_json, (method, path)
        assert response.get_json()["error"]["status"] == 401
    assert client.get(f"{API}/openapi.json").status_code == 200  # the description is public
    assert assessment_row(app, aid)["status"] == "draft" and count(app, Assessment) == 1


def test_bad_or_revoked_tokens_are_refused(app, member, token):
    client = app.test_client()
    assert client.get(f"{API}/assessments", headers=bearer("rbk_not-a-token")).status_code == 401
    assert client.get(f"{API}/assessments", headers={"Authorization": token}).status_code == 401
    assert client.get(f"{API}/assessments", headers=bearer(token)).status_code == 200
    with app.app_context():
        from sqlalchemy import select

        from rubric_app.extensions import db
        from rubric_app.models import ApiToken
        from rubric_app.services import accounts

        s = db.new_session()
        accounts.revoke_token(s, s.merge(member), s.scalar(select(ApiToken.id)))
        s.close()
    response = client.get(f"{API}/assessments", headers=bearer(token))
    assert response.status_code == 401 and response.get_json()["error"]["status"] == 401


def test_session_auth_works_for_get(client, member, factory):
    aid = factory.assessment(member, levels=3)
    login(client, member)
    response = client.get(f"{API}/assessments/{aid}")
    assert response.status_code == 200 and response.get_json()["id"] == aid
    assert [a["id"] for a in client.get(f"{API}/assessments").get_json()["assessments"]] == [aid]


def test_unknown_api_path_is_json_404(api):
    response = api.get("/nothing-here")
    assert response.status_code == 404 and response.get_json()["error"]["status"] == 404


# ----------------------------------------------------------------------------- instruments


def test_list_instruments(api, rubric, registry):
    instruments = api.get("/instruments").get_json()["instruments"]
    assert sorted((i["id"], i["version"]) for i in instruments) == sorted(inst.key for inst in registry.all())
    assert sorted(i["version"] for i in instruments if i["id"] == INSTRUMENT) == ["1.0", "1.1"]
    entry = next(i for i in instruments if (i["id"], i["version"]) == rubric.key)  # the latest, 1.1
    assert entry["version"] == "1.1" and entry["kind"] == "rubric"
    assert entry["hash"] == rubric.hash and set(entry["languages"]) >= {"es", "en", "pt"}
    assert entry["url"] == f"{API}/instruments/{INSTRUMENT}/1.1"
    assert entry["title"] == rubric.title.as_dict()


def _other_kinds(registry):
    from rubric_app.domain.instruments import Rubric

    others = [inst for inst in registry.all() if not isinstance(inst, Rubric)]
    if not others:
        pytest.skip("only rubric instruments are loaded")
    return others


def test_listed_kind_matches_the_definition(api, registry):
    import yaml

    others = _other_kinds(registry)
    listed = {(i["id"], i["version"]): i["kind"] for i in api.get("/instruments").get_json()["instruments"]}
    for inst in others:
        with open(inst.source, encoding="utf-8") as fh:
            assert listed[inst.key] == yaml.safe_load(fh)["kind"], inst.key


def test_every_listed_instrument_url_answers(app, api, registry):
    _other_kinds(registry)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    for entry in api.get("/instruments").get_json()["instruments"]:
        response = api.get(entry["url"][len(API):] + "?lang=en")
        assert response.status_code == 200, (entry["url"], response.status_code)
        assert (response.get_json()["id"], response.get_json()["version"]) == (entry["id"], entry["version"])


def test_instrument_in_one_language(api, rubric):
    doc = api.get(f"/instruments/{INSTRUMENT}/{rubric.version}?lang=en").get_json()
    assert doc["language"] == "en" and doc["title"] == rubric.title("en")
    assert [d["id"] for d in doc["dimensions"]] == ["policy", "access", "relevance", "recognition", "people", "articulation"]
    first = doc["dimensions"][0]["criteria"][0]
    assert first["id"] == rubric.criteria[0].id and first["title"] == rubric.criteria[0].title("en")
    assert set(first["descriptors"]) == {"1", "2", "3", "4", "5"}
    assert all(isinstance(v, str) for v in first["descriptors"].values())
    assert set(first["actions"]) == {"2", "3", "4", "5"} and all(isinstance(a, str) for v in first["actions"].values() for a in v)
    assert [lvl["name"] for lvl in doc["levels"]] == ["Initial", "Emerging", "Established", "Consolidated", "Transformative"]
    assert sum(len(d["criteria"]) for d in doc["dimensions"]) == 18


def test_instrument_in_all_languages(api, rubric):
    doc = api.get(f"/instruments/{INSTRUMENT}/{rubric.version}").get_json()
    assert doc["language"] is None
    assert doc["title"] == rubric.title.as_dict() and set(doc["title"]) == {"es", "en", "pt"}
    descriptor = doc["dimensions"][0]["criteria"][0]["descriptors"]["1"]
    assert isinstance(descriptor, dict) and set(descriptor) == {"es", "en", "pt"}
    assert doc["levels"][0]["name"] == {"es": "Inicial", "en": "Initial", "pt": "Inicial"}


def test_instrument_refusals(api):
    assert api.get(f"/instruments/{INSTRUMENT}/9.9").status_code == 404
    assert api.get("/instruments/unknown/1.0").status_code == 404
    response = api.get(f"/instruments/{INSTRUMENT}/1.0?lang=xx")
    assert response.status_code == 422 and response.get_json()["error"]["details"] == [{"field": "lang"}]


# ----------------------------------------------------------------------------- create


def test_member_creates_an_assessment(app, api, member):
    response = api.post("/assessments", json={"instrument": INSTRUMENT, "version": "1.0", "language": "en"})
    assert response.status_code == 201
    body = response.get_json()
    assert response.headers["Location"].endswith(f"{API}/assessments/{body['id']}")
    assert (body["status"], body["round"], body["language"], body["answers"], body["plan"]) == ("draft", 1, "en", [], [])
    assert body["instrument"]["id"] == INSTRUMENT and body["instrument"]["version"] == "1.0" and len(body["instrument"]["hash"]) == 64
    assert assessment_row(app, body["id"])["institution_id"] == member.institution_id
    assert api.get(f"/assessments/{body['id']}").status_code == 200


def test_create_without_version_takes_the_latest_and_from_previous_copies(app, api, member, factory):
    factory.assessment(member, levels=2, submit=True)
    response = api.post("/assessments", json={"instrument": INSTRUMENT, "from_previous": True})
    body = response.get_json()
    assert response.status_code == 201 and body["round"] == 2 and body["language"] == "es"
    assert len(body["answers"]) == 18 and {a["level"] for a in body["answers"]} == {2}


def test_only_members_create_assessments(app, factory):
    for role in ("reviewer", "staff", "admin"):
        headers = bearer(factory.token(factory.user(role)))
        response = app.test_client().post(f"{API}/assessments", json={"instrument": INSTRUMENT}, headers=headers)
        assert response.status_code == 403 and response.get_json()["error"]["status"] == 403, role
    assert count(app, Assessment) == 0


def test_create_refuses_bad_input(app, api):
    for kwargs in (
        {"json": {"instrument": "no-such-rubric"}},
        {"json": {"instrument": INSTRUMENT, "version": "9.9"}},
        {"json": {"instrument": INSTRUMENT, "version": 1.0}},
        {"json": {"instrument": INSTRUMENT, "language": "fr"}},
        {"json": {"version": "1.0"}},
        {"json": [INSTRUMENT]},
        {"data": "instrument=ifp-migrant-inclusion", "content_type": "application/x-www-form-urlencoded"},
        {"data": "{not json", "content_type": "application/json"},
    ):
        response = api.post("/assessments", **kwargs)
        assert response.status_code == 422 and response.get_json()["error"]["status"] == 422, kwargs
    assert count(app, Assessment) == 0


# ----------------------------------------------------------------------------- answers


def test_put_answers_upserts_only_the_listed_criteria(app, api, member, factory):
    aid = factory.assessment(member, levels={"policy_target_population": 2, "policy_equal_treatment": 3})
    tag = etag_of(api, aid)
    response = api.put(f"/assessments/{aid}/answers", headers={"If-Match": tag}, json={"answers": [
        {"criterion": "policy_equal_treatment", "level": 4, "target": 5, "evidence": "Plan 2025"},
        {"criterion": "access_retention", "not_applicable": True, "na_reason": "Sin oferta presencial"},
    ]})
    assert response.status_code == 200
    body = response.get_json()
    assert response.headers["ETag"] == f'"{body["version"]}"' and response.headers["ETag"] != tag
    answers = {a["criterion"]: a for a in body["answers"]}
    assert set(answers) == {"policy_target_population", "policy_equal_treatment", "access_retention"}
    # an unset target is shown as the one that follows the level
    assert answers["policy_target_population"]["level"] == 2 and answers["policy_target_population"]["target"] == 3
    assert answers["policy_target_population"]["target_is_default"] is True and answers["policy_target_population"]["version"] == 1
    assert answers["policy_target_population"]["evidence"] == "evidence policy_target_population"
    assert (answers["policy_equal_treatment"]["level"], answers["policy_equal_treatment"]["target"]) == (4, 5)
    assert (answers["policy_equal_treatment"]["target_is_default"], answers["policy_equal_treatment"]["version"]) == (False, 2)
    assert answers["access_retention"] == {"criterion": "access_retention", "level": None, "not_applicable": True,
                                           "na_reason": "Sin oferta presencial", "target": None, "target_is_default": True,
                                           "evidence": "", "version": 1}
    stored = assessment_row(app, aid)["answers"]
    assert stored["policy_equal_treatment"]["evidence"] == "Plan 2025" and stored["policy_equal_treatment"]["target"] == 5
    assert stored["policy_target_population"] == {"level": 2, "not_applicable": False, "na_reason": "", "target": None,
                                                  "evidence": "evidence policy_target_population"}  # not listed: untouched
    # a bare list works too (its precondition travels as If-Match); the fields it omits keep their values
    again = api.put(f"/assessments/{aid}/answers", json=[{"criterion": "access_retention", "level": 1}],
                    headers={"If-Match": response.headers["ETag"]})
    assert again.status_code == 200
    assert assessment_row(app, aid)["answers"]["access_retention"]["level"] == 1
    assert assessment_row(app, aid)["answers"]["access_retention"]["not_applicable"] is False
    assert assessment_row(app, aid)["answers"]["policy_equal_treatment"]["evidence"] == "Plan 2025"


def test_put_answers_over_existing_ones_needs_the_version_read(app, api, member, factory):
    aid = factory.assessment(member, levels={"policy_target_population": 2})
    before = assessment_row(app, aid)["answers"]
    tag = etag_of(api, aid)
    change = [{"criterion": "policy_target_population", "level": 4}]
    missing = api.put(f"/assessments/{aid}/answers", json=change)
    assert missing.status_code == 428 and missing.get_json()["error"]["status"] == 428
    # a new answer needs no precondition; it moves the ETag on
    assert api.put(f"/assessments/{aid}/answers", json=[{"criterion": "access_documents", "level": 1}]).status_code == 200
    stale = api.put(f"/assessments/{aid}/answers", json=change, headers={"If-Match": tag})
    assert stale.status_code == 412 and stale.get_json()["error"]["status"] == 412
    assert assessment_row(app, aid)["answers"]["policy_target_population"] == before["policy_target_population"]
    fresh = api.put(f"/assessments/{aid}/answers", json={"answers": change, "version": int(etag_of(api, aid).strip('"'))})
    assert fresh.status_code == 200
    assert assessment_row(app, aid)["answers"]["policy_target_population"]["level"] == 4


BAD_ANSWERS = {
    "level out of range": ({"criterion": "access_retention", "level": 6}, "level"),
    "level zero": ({"criterion": "access_retention", "level": 0}, "level"),
    "level negative": ({"criterion": "access_retention", "level": -1}, "level"),
    "level text": ({"criterion": "access_retention", "level": "abc"}, "level"),
    "level fraction": ({"criterion": "access_retention", "level": 2.5}, "level"),
    "level boolean": ({"criterion": "access_retention", "level": True}, "level"),
    "na not boolean": ({"criterion": "access_retention", "not_applicable": "yes", "na_reason": "x"}, "not_applicable"),
    "na without reason": ({"criterion": "access_retention", "not_applicable": True}, "na_reason"),
    "na blank reason": ({"criterion": "access_retention", "not_applicable": True, "na_reason": "   "}, "na_reason"),
    "target below level": ({"criterion": "access_retention", "level": 4, "target": 2}, "target"),
    "target out of range": ({"criterion": "access_retention", "level": 4, "target": 6}, "target"),
    "evidence not text": ({"criterion": "access_retention", "level": 4, "evidence": 12}, "evidence"),
    "unknown criterion": ({"criterion": "no_such_criterion", "level": 3}, "criterion"),
}


@pytest.mark.parametrize("case", ["level out of range", "na without reason"])
def test_put_answers_refuses_a_bad_answer_and_saves_nothing(app, api, member, factory, case):
    bad, field = BAD_ANSWERS[case]
    aid = factory.assessment(member, levels={"policy_target_population": 2})
    before = assessment_row(app, aid)["answers"]
    response = api.put(f"/assessments/{aid}/answers", json={"answers": [{"criterion": "access_documents", "level": 4}, bad]})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert [(d["criterion"], d["field"]) for d in error["details"]] == [(bad["criterion"], field)]
    assert error["details"][0]["message"]
    assert assessment_row(app, aid)["answers"] == before  # the good answer was not saved either


def test_put_answers_refuses_every_kind_of_bad_answer(app, api, member, factory):
    aid = factory.assessment(member, levels={"policy_target_population": 2})
    before = assessment_row(app, aid)["answers"]
    tag = etag_of(api, aid)
    for case, (bad, field) in BAD_ANSWERS.items():
        response = api.put(f"/assessments/{aid}/answers", json=[{"criterion": "policy_target_population", "level": 5}, bad],
                           headers={"If-Match": tag})
        assert response.status_code == 422, case
        assert [(d["criterion"], d["field"]) for d in response.get_json()["error"]["details"]] == [(bad["criterion"], field)], case
    assert assessment_row(app, aid)["answers"] == before


def test_put_answers_reports_every_problem(api, member, factory):
    aid = factory.assessment(member)
    response = api.put(f"/assessments/{aid}/answers", json=[{"criterion": "policy_target_population", "level": 9},
                                                            {"criterion": "access_retention", "not_applicable": True}])
    details = response.get_json()["error"]["details"]
    assert response.status_code == 422
    assert {(d["criterion"], d["field"]) for d in details} == {("policy_target_population", "level"), ("access_retention", "na_reason")}


def test_put_answers_refuses_a_malformed_or_non_json_body(app, api, member, factory):
    aid = factory.assessment(member)
    for body in ({"answers": "all of them"}, {"answers": [1, 2]}, {"nothing": []}, "text", 42, [{"level": 3}]):
        response = api.put(f"/assessments/{aid}/answers", json=body)
        assert response.status_code == 422 and response.get_json()["error"]["status"] == 422, body
    response = api.put(f"/assessments/{aid}/answers", data="criterion=x", content_type="text/plain")
    assert response.status_code == 422 and "JSON" in response.get_json()["error"]["message"]
    assert assessment_row(app, aid)["answers"] == {}


def test_reviewer_cannot_put_answers(app, factory):
    owner = factory.user("member")
    aid = factory.assessment(owner)
    reviewer = factory.user("reviewer")
    response = app.test_client().put(f"{API}/assessments/{aid}/answers", json=[{"criterion": "access_documents", "level": 3}],
                                     headers=bearer(factory.token(reviewer)))
    assert response.status_code == 403
    assert assessment_row(app, aid)["answers"] == {}


# ----------------------------------------------------------------------------- submit and lock


def test_submit_with_missing_answers_lists_them(app, api, member, factory, rubric):
    aid = factory.assessment(member, levels={c.id: 3 for c in rubric.criteria if c.dimension_id != "articulation"})
    unguarded = api.post(f"/assessments/{aid}/submit")
    assert unguarded.status_code == 428 and unguarded.get_json()["error"]["status"] == 428
    response = api.post(f"/assessments/{aid}/submit", headers={"If-Match": etag_of(api, aid)})
    assert response.status_code == 422
    assert [d["criterion"] for d in response.get_json()["error"]["details"]] == [c.id for c in rubric.dimension("articulation").criteria]
    assert assessment_row(app, aid)["status"] == "draft"


def test_submit_then_answers_are_locked(app, api, member, factory, rubric):
    aid = factory.assessment(member)
    put = api.put(f"/assessments/{aid}/answers", json=all_answers(rubric))  # all new: no precondition needed
    assert put.status_code == 200
    response = api.post(f"/assessments/{aid}/submit", headers={"If-Match": put.headers["ETag"]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "submitted" and body["submitted_at"]
    assert response.headers["ETag"] == f'"{body["version"]}"' != put.headers["ETag"]
    locked = api.put(f"/assessments/{aid}/answers", json=[{"criterion": "access_documents", "level": 5}],
                     headers={"If-Match": response.headers["ETag"]})
    assert locked.status_code == 409 and locked.get_json()["error"]["status"] == 409
    assert api.post(f"/assessments/{aid}/submit", headers={"If-Match": response.headers["ETag"]}).status_code == 409
    assert api.post(f"/assessments/{aid}/submit").status_code == 409
    assert assessment_row(app, aid)["answers"]["access_documents"]["level"] == 3


# ----------------------------------------------------------------------------- read


def test_get_assessment_scores_and_plan_all_level_three(api, member, factory, rubric):
    aid = factory.assessment(member, levels=3)
    body = api.get(f"/assessments/{aid}").get_json()
    assert len(body["answers"]) == 18 and [a["criterion"] for a in body["answers"]] == [c.id for c in rubric.criteria]
    scores = body["scores"]["self"]
    assert set(scores["dimensions"]) == {d.id for d in rubric.dimensions}
    for result in scores["dimensions"].values():
        assert (result["score"], result["level"], result["status"]) == (3.0, 3, "scored")
        assert (result["answered"], result["not_applicable"], result["missing"]) == (3, 0, 0)
    assert scores["index"] == 50.0
    plan = body["plan"]
    assert [p["criterion"] for p in plan] == [c.id for c in rubric.criteria]
    first = plan[0]
    assert (first["current"], first["target"], first["priority"], first["dimension"]) == (3, 4, 1.0, "policy")
    assert [a["level"] for a in first["actions"]] == [4]
    assert first["actions"][0]["actions"] == [a("es") for a in rubric.criteria[0].actions[4]]
    assert (first["responsible"], first["due_date"], first["status"], first["note"]) == ("", None, "todo", "")
    assert body["institution"]["id"] == member.institution_id and body["links"]["report"] == f"{API}/assessments/{aid}/report.pdf"


def test_get_assessment_hand_computed_scores(api, member, factory, rubric):
    levels = {c.id: 4 for c in rubric.criteria}
    levels.update({"policy_target_population": 1, "policy_equal_treatment": 2, "policy_resources_gender": 2})  # 5/3 = 1.67
    levels.update({"access_documents": 5, "access_admission_protocol": 4})  # access_retention N/A: (5 + 4) / 2 = 4.5
    aid = factory.assessment(member, levels=levels, na=("access_retention",))
    body = api.get(f"/assessments/{aid}").get_json()
    dims = body["scores"]["self"]["dimensions"]
    assert (dims["policy"]["score"], dims["policy"]["level"]) == (1.67, 1)
    assert (dims["access"]["score"], dims["access"]["level"], dims["access"]["not_applicable"]) == (4.5, 4, 1)
    # mean (1.67 + 4.5 + 4 * 4) / 6 = 3.695 -> (2.695 / 4) * 100 = 67.375 -> 67.4
    assert body["scores"]["self"]["index"] == 67.4
    plan = body["plan"]
    assert [p["criterion"] for p in plan[:1]] == ["policy_target_population"] and plan[0]["target"] == 2
    assert all(p["criterion"] != "access_documents" for p in plan)  # level 5: nothing to plan
    assert all(p["criterion"] != "access_retention" for p in plan)  # N/A: no item


def test_get_assessment_insufficient_and_incomplete(api, member, factory, rubric):
    # access_documents and access_admission_protocol always apply (rubric 1.1): two of the people criteria are N/A instead
    levels = {c.id: 3 for c in rubric.criteria if c.id != "relevance_entrepreneurship"}
    aid = factory.assessment(member, levels=levels, na=("people_staff_training", "people_outreach_migrants"))
    dims = api.get(f"/assessments/{aid}").get_json()["scores"]["self"]
    assert dims["dimensions"]["people"] == {"score": None, "level": None, "status": "insufficient", "answered": 1,
                                            "not_applicable": 2, "missing": 0}
    assert dims["dimensions"]["relevance"]["status"] == "incomplete" and dims["dimensions"]["relevance"]["missing"] == 1
    assert dims["index"] is None


def test_plan_priorities_follow_targets(api, member, factory, rubric):
    aid = factory.assessment(member, levels=3)
    response = api.put(f"/assessments/{aid}/answers", headers={"If-Match": etag_of(api, aid)},
                       json=[{"criterion": "articulation_graduate_tracking", "level": 2, "target": 5},
                             {"criterion": "relevance_entrepreneurship", "level": 3, "target": 5}])
    assert response.status_code == 200
    plan = api.get(f"/assessments/{aid}").get_json()["plan"]
    assert [(p["criterion"], p["priority"]) for p in plan[:3]] == [
        ("articulation_graduate_tracking", 3.0), ("relevance_entrepreneurship", 2.0), (rubric.criteria[0].id, 1.0)]
    assert [a["level"] for a in plan[0]["actions"]] == [3, 4, 5]


def test_report_pdf(api, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    with api.get(f"/assessments/{aid}/report.pdf") as response:
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.data.startswith(b"%PDF")
    with api.get(f"/assessments/{aid}/report.pdf?lang=pt") as response:
        assert response.status_code == 200 and response.data.startswith(b"%PDF")
    response = api.get(f"/assessments/{aid}/report.pdf?lang=xx")
    assert response.status_code == 422


def test_another_institutions_assessment_is_not_found(app, api, factory, rubric):
    other = factory.user("member")
    draft = factory.assessment(other, levels=3)
    before = assessment_row(app, draft)
    for method, path in (("get", f"/assessments/{draft}"), ("put", f"/assessments/{draft}/answers"),
                         ("post", f"/assessments/{draft}/submit"), ("get", f"/assessments/{draft}/report.pdf")):
        response = getattr(api, method)(path, json=all_answers(rubric, 5) if method == "put" else None)
        assert response.status_code == 404, (method, path)
        assert response.get_json()["error"]["status"] == 404
    assert assessment_row(app, draft) == before
    assert api.get("/assessments").get_json()["assessments"] == []


def test_reviewer_reads_submitted_assessments_only(app, factory):
    owner = factory.user("member")
    submitted = factory.assessment(owner, levels=3, submit=True)
    draft = factory.assessment(owner, levels=3)
    headers = bearer(factory.token(factory.user("reviewer")))
    client = app.test_client()
    assert client.get(f"{API}/assessments/{submitted}", headers=headers).status_code == 200
    assert client.get(f"{API}/assessments/{draft}", headers=headers).status_code == 404
    assert client.post(f"{API}/assessments/{submitted}/submit", headers=headers).status_code == 403
    assert [a["id"] for a in client.get(f"{API}/assessments", headers=headers).get_json()["assessments"]] == [submitted]
