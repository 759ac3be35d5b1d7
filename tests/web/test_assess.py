"""The self-assessment pages: start, dimensions, autosave, review, submit, results, plan, PDF."""
from __future__ import annotations

import re

import pytest

from rubric_app.domain.merging import ANSWER_FIELDS, fingerprints
from rubric_app.domain.scoring import CriterionAnswer
from rubric_app.extensions import db
from rubric_app.models import Assessment
from tests.conftest import login

from .helpers import (INSTRUMENT, assessment_row, count, dimension_data, effective_target, form_fields, hidden_fields, page_fields,
                      set_language, text, tr)

FETCH = {"X-Requested-With": "fetch"}


def save(app, user, assessment_id, answers):
    """Store answers through the service layer (targets included)."""
    from rubric_app.services import assessments as svc

    with app.app_context():
        s = db.new_session()
        svc.save_answers(s, app.extensions["instruments"], s.merge(user), s.get(Assessment, assessment_id), answers)
        s.close()


def post_dimension(client, assessment_id, dimension_id, data, **kw):
    """Post a dimension page as a browser does: open it, then send its hidden fields with the answers."""
    url = f"/assessments/{assessment_id}/d/{dimension_id}"
    return client.post(url, data={**page_fields(client, url), **data}, **kw)


def submit_page(client, assessment_id, **kw):
    """Press "submit" on the review page, with the version the page showed."""
    fields = page_fields(client, f"/assessments/{assessment_id}/review")
    assert "version" in fields
    return client.post(f"/assessments/{assessment_id}/submit", data=fields, **kw)


def fieldset(page: str, criterion_id: str) -> str:
    start = page.index(f'id="c-{criterion_id}"')
    return page[start:page.index("</fieldset>", start)]


# ----------------------------------------------------------------------------- start


def test_start_page_offers_the_instrument(member_client):
    response = member_client.get("/assessments/new")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert f'value="{INSTRUMENT}@1.0"' in page  # the earlier version stays available
    # the newest version is the one preselected
    assert re.search(rf'<input checked [^>]*type="radio" value="{INSTRUMENT}@1\.1"', page), page  # radio choices (test_member_items_2.py)


def test_start_creates_a_draft_and_goes_to_the_first_dimension(app, member_client, member):
    response = member_client.post("/assessments/new", data={"instrument": f"{INSTRUMENT}@1.0", "language": "pt", "from_previous": "0"})
    assert response.status_code == 302
    aid = int(re.fullmatch(r"/assessments/(\d+)", response.headers["Location"]).group(1))
    row = assessment_row(app, aid)
    assert (row["status"], row["round"], row["language"], row["answers"]) == ("draft", 1, "pt", {})
    assert row["institution_id"] == member.institution_id
    resumed = member_client.get(f"/assessments/{aid}")
    assert resumed.headers["Location"] == f"/assessments/{aid}/d/policy"


def test_start_refuses_an_unknown_instrument_or_language(app, member_client):
    for data in ({"instrument": "nope@9.9", "language": "es"}, {"instrument": f"{INSTRUMENT}@1.0", "language": "fr"}):
        response = member_client.post("/assessments/new", data={**data, "from_previous": "0"})
        assert response.status_code != 302 and 'class="error"' in response.get_data(as_text=True), data
    assert count(app, Assessment) == 0


def test_start_and_dimension_pages_are_for_members_only(app, factory):
    aid = factory.assessment(factory.user("member"))
    for role in ("reviewer", "staff", "admin"):
        client = app.test_client()
        login(client, factory.user(role))
        assert client.get("/assessments/new").status_code == 403, role
        assert client.post("/assessments/new", data={"instrument": f"{INSTRUMENT}@1.0", "language": "es"}).status_code == 403, role
        assert client.get(f"/assessments/{aid}/d/policy").status_code == 403, role
        assert client.post(f"/assessments/{aid}/d/policy", data={"crit_policy_target_population": "5"}).status_code == 403, role
        assert client.post(f"/assessments/{aid}/submit").status_code == 403, role
    assert count(app, Assessment) == 1
    assert assessment_row(app, aid)["answers"] == {} and assessment_row(app, aid)["status"] == "draft"


def test_start_sends_anonymous_visitors_to_sign_in(client):
    response = client.get("/assessments/new")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_pages_send_anonymous_visitors_to_sign_in(client, factory):
    aid = factory.assessment(factory.user("member"), levels=3, submit=True)
    for path in (f"/assessments/{aid}", f"/assessments/{aid}/d/policy", f"/assessments/{aid}/review",
                 f"/assessments/{aid}/results", f"/assessments/{aid}/report.pdf"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), path


def test_new_round_copies_the_previous_answers(app, member_client, member, factory, rubric):
    # the previous round is submitted: while a draft is in progress, "start" goes to that draft (test_member_items.py)
    first = factory.assessment(member, levels={c.id: 2 if c.id == "policy_target_population" else 3 for c in rubric.criteria})
    save(app, member, first, [CriterionAnswer(c, 4, False, "", 5, f"ev {c}") for c in ("access_documents", "people_staff_training")])
    from rubric_app.services import assessments as svc

    with app.app_context():
        s = db.new_session()
        svc.submit(s, app.extensions["instruments"], s.merge(member), first)
        s.close()
    response = member_client.post("/assessments/new", data={"instrument": f"{INSTRUMENT}@1.0", "language": "es", "from_previous": "1"})
    aid = int(response.headers["Location"].rsplit("/", 1)[1])
    row = assessment_row(app, aid)
    assert row["round"] == 2 and row["previous_id"] == first and row["status"] == "draft"
    assert {"policy_target_population", "access_documents", "people_staff_training"} <= set(row["answers"])
    assert row["answers"]["policy_target_population"]["level"] == 2
    # the chosen target 5 is kept (test_member_items_2.py); a target nobody chose keeps following the level
    assert row["answers"]["access_documents"] == {"level": 4, "not_applicable": False, "na_reason": "", "target": 5,
                                                  "evidence": "ev access_documents"}
    assert effective_target(row["answers"]["access_documents"]) == 5
    assert effective_target(row["answers"]["policy_target_population"]) == 3
    assert row["answers"]["policy_target_population"]["evidence"] == "evidence policy_target_population"


def test_new_round_copies_na_answers_and_recomputes_targets(app, member_client, member, factory):
    previous = factory.assessment(member, levels=2, na=("people_outreach_migrants",), submit=True)
    save_round = member_client.post("/assessments/new", data={"instrument": f"{INSTRUMENT}@1.0", "language": "es", "from_previous": "1"})
    row = assessment_row(app, int(save_round.headers["Location"].rsplit("/", 1)[1]))
    assert row["round"] == 2 and row["previous_id"] == previous
    assert len(row["answers"]) == 18
    assert row["answers"]["people_outreach_migrants"]["not_applicable"] is True
    assert row["answers"]["people_outreach_migrants"]["na_reason"] == "No aplica"
    # targets are not copied: each follows its level (2 + 1 = 3); the not-applicable answer has none
    assert all(a["target"] is None for a in row["answers"].values())
    assert all(effective_target(a) == 3 for cid, a in row["answers"].items() if cid != "people_outreach_migrants")
    assert effective_target(row["answers"]["people_outreach_migrants"]) is None


def test_new_round_from_blank(app, member_client, member, factory):
    factory.assessment(member, levels=3, submit=True)
    response = member_client.post("/assessments/new", data={"instrument": f"{INSTRUMENT}@1.0", "language": "es", "from_previous": "0"})
    row = assessment_row(app, int(response.headers["Location"].rsplit("/", 1)[1]))
    assert row["round"] == 2 and row["answers"] == {}


# ----------------------------------------------------------------------------- resume


def test_resume_goes_to_the_first_dimension_with_missing_answers(member_client, member, factory, rubric):
    levels = {c.id: 3 for c in rubric.criteria if c.dimension_id in ("policy", "access")}
    levels.pop("access_retention")
    aid = factory.assessment(member, levels=levels)
    assert member_client.get(f"/assessments/{aid}").headers["Location"] == f"/assessments/{aid}/d/access"


def test_resume_goes_to_review_when_complete_and_to_results_when_submitted(member_client, member, factory):
    complete = factory.assessment(member, levels=3)
    assert member_client.get(f"/assessments/{complete}").headers["Location"] == f"/assessments/{complete}/review"
    submitted = factory.assessment(member, levels=3, submit=True)
    assert member_client.get(f"/assessments/{submitted}").headers["Location"] == f"/assessments/{submitted}/results"


# ----------------------------------------------------------------------------- dimension pages


def test_dimension_page_shows_five_descriptors_per_criterion_and_progress(member_client, member, factory, dims):
    aid = factory.assessment(member, levels={"access_documents": 2, "access_retention": 4, "people_staff_training": 5})
    response = member_client.get(f"/assessments/{aid}/d/policy")
    assert response.status_code == 200
    page = text(response)
    for crit in dims["policy"].criteria:
        box = fieldset(page, crit.id)
        assert box.count('class="cell"') == 5
        for level in range(1, 6):
            assert crit.descriptors[level]("es") in box
            assert f'name="crit_{crit.id}" value="{level}"' in box
        # "not applicable" is offered only where the criterion allows it (rubric 1.1: equal treatment always applies)
        assert (f'name="crit_{crit.id}" value="na"' in box) == crit.not_applicable_allowed
    assert '<progress id="progress-bar" max="18" value="3">' in page
    label = re.search(r'<label for="progress-bar">([^<]*)</label>', page).group(1)
    assert label == tr("es", "Answered %(done)s of %(total)s criteria") % {"done": 3, "total": 18}
    assert re.search(r"\b3\b.*\b18\b", label)
    assert tr("es", "Dimension %(n)s of %(total)s") % {"n": 1, "total": 6} in page


def test_dimension_page_uses_the_assessment_language_and_prefills_answers(member_client, member, factory, dims):
    aid = factory.assessment(member, levels={"access_documents": 2}, language="pt")
    page = text(member_client.get(f"/assessments/{aid}/d/access"))
    assert dims["access"].name("pt") in page
    assert dims["access"].criteria[0].descriptors[1]("pt") in page
    assert 'name="crit_access_documents" value="2" checked' in page
    assert "evidence access_documents" in page


def test_post_saves_and_next_goes_to_the_next_dimension(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    data = dimension_data(dims["policy"], "3", go="next", evidence_policy_equal_treatment="Reglamento 2024", target_policy_resources_gender="5")
    response = post_dimension(member_client, aid, "policy", data)
    assert response.status_code == 302 and response.headers["Location"] == f"/assessments/{aid}/d/access"
    answers = assessment_row(app, aid)["answers"]
    # an unset target is stored unset (it follows the level); the chosen one is stored as chosen
    assert {cid: (a["level"], a["target"]) for cid, a in answers.items()} == {
        "policy_target_population": (3, None), "policy_equal_treatment": (3, None), "policy_resources_gender": (3, 5)}
    assert {cid: effective_target(a) for cid, a in answers.items()} == {
        "policy_target_population": 4, "policy_equal_treatment": 4, "policy_resources_gender": 5}
    assert answers["policy_equal_treatment"]["evidence"] == "Reglamento 2024"


def test_post_navigation_buttons(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    for dim_id, go, expected in (("articulation", "next", "review"), ("access", "prev", "d/policy"),
                                 ("relevance", "review", "review"), ("people", "save", "d/people"), ("policy", "prev", "d/policy")):
        response = post_dimension(member_client, aid, dim_id, dimension_data(dims[dim_id], "2", go=go))
        assert response.status_code == 302, (dim_id, go)
        assert response.headers["Location"] == f"/assessments/{aid}/{expected}", (dim_id, go)
    assert len(assessment_row(app, aid)["answers"]) == 15
    set_language(member_client, "en")
    response = post_dimension(member_client, aid, "people", dimension_data(dims["people"], "4"), follow_redirects=True)
    assert response.status_code == 200 and "Your answers were saved." in text(response)
    people = {cid: a["level"] for cid, a in assessment_row(app, aid)["answers"].items() if cid.startswith("people_")}
    assert people and set(people.values()) == {4}  # the second save of the page replaced its answers


def test_not_applicable_without_reason_is_refused_and_the_other_answers_are_saved(app, member_client, member, factory, dims):
    aid = factory.assessment(member, levels={"policy_equal_treatment": 2})
    set_language(member_client, "en")
    data = dimension_data(dims["policy"], "4", evidence_policy_target_population="Acta 12",
                          evidence_policy_resources_gender="Presupuesto 2025")
    data["crit_policy_resources_gender"] = "na"
    response = post_dimension(member_client, aid, "policy", data)
    assert response.status_code == 422
    page = text(response)
    assert "Some answers need attention; the others were saved." in page
    assert 'class="criterion has-error" id="c-policy_resources_gender"' in page
    assert "A reason is required when a criterion is not applicable." in fieldset(page, "policy_resources_gender")
    for cid in ("policy_target_population", "policy_equal_treatment"):
        assert f'class="criterion" id="c-{cid}"' in page, cid
        assert "A reason is required" not in fieldset(page, cid), cid
    # what was typed at the refused criterion is kept on the page
    assert 'name="crit_policy_resources_gender" value="na" checked' in fieldset(page, "policy_resources_gender")
    assert "Presupuesto 2025" in fieldset(page, "policy_resources_gender")
    assert "Acta 12" in fieldset(page, "policy_target_population")
    answers = assessment_row(app, aid)["answers"]
    assert set(answers) == {"policy_target_population", "policy_equal_treatment"}  # the refused one is not stored
    assert answers["policy_equal_treatment"]["level"] == 4  # changed from 2 on this page: saved
    assert (answers["policy_target_population"]["level"], answers["policy_target_population"]["evidence"]) == (4, "Acta 12")
    # sending the page again with a reason saves the last one
    fixed = {**hidden_fields(page), **data, "na_reason_policy_resources_gender": "Sin presupuesto propio"}
    assert member_client.post(f"/assessments/{aid}/d/policy", data=fixed).status_code == 302
    answer = assessment_row(app, aid)["answers"]["policy_resources_gender"]
    assert (answer["not_applicable"], answer["na_reason"], answer["evidence"]) == (True, "Sin presupuesto propio", "Presupuesto 2025")


def test_dimension_page_errors_are_in_the_interface_language(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    data = dimension_data(dims["policy"], "4", target_policy_equal_treatment="2")
    data["crit_policy_target_population"] = "na"
    response = post_dimension(member_client, aid, "policy", data)
    assert response.status_code == 422
    page = text(response)
    assert '<html lang="es">' in page
    assert tr("es", "Some answers need attention; the others were saved.") in page
    assert tr("es", "A reason is required when a criterion is not applicable.") in fieldset(page, "policy_target_population")
    assert tr("es", "The target must be a level from 1 to 5, not below the current level.") in fieldset(page, "policy_equal_treatment")
    # the domain's English wording never reaches the page
    assert "a reason is required when a criterion is not applicable" not in fieldset(page, "policy_target_population")
    assert "the target cannot be below the current level" not in fieldset(page, "policy_equal_treatment")
    assert set(assessment_row(app, aid)["answers"]) == {"policy_resources_gender"}


def test_partial_page_saves_only_what_was_given(app, member_client, member, factory):
    aid = factory.assessment(member)
    data = {"crit_policy_target_population": "2", "evidence_policy_equal_treatment": "Acta 7", "go": "save"}
    response = post_dimension(member_client, aid, "policy", data, headers=FETCH)
    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in ("saved", "answered", "total", "message")} == {"saved": True, "answered": 1, "total": 18, "message": ""}
    blank = {"choice": None, "na_reason": "", "evidence": "", "target": None}
    expected = {"policy_target_population": (1, {**blank, "choice": 2}), "policy_equal_treatment": (1, {**blank, "evidence": "Acta 7"}),
                "policy_resources_gender": (0, blank)}
    assert body["criteria"] == {cid: {"version": version, "base": fingerprints(values, ANSWER_FIELDS), "values": values, "error": None,
                                      "conflicts": []} for cid, (version, values) in expected.items()}
    answers = assessment_row(app, aid)["answers"]
    assert set(answers) == {"policy_target_population", "policy_equal_treatment"}
    assert (answers["policy_target_population"]["level"], answers["policy_target_population"]["target"]) == (2, None)
    assert effective_target(answers["policy_target_population"]) == 3
    assert answers["policy_equal_treatment"]["level"] is None and answers["policy_equal_treatment"]["evidence"] == "Acta 7"
    # clearing a level on the page (everything else as shown) clears the stored level and keeps the rest
    shown = form_fields(member_client, f"/assessments/{aid}/d/policy")
    assert shown["crit_policy_target_population"] == "2" and shown["evidence_policy_equal_treatment"] == "Acta 7"
    cleared = member_client.post(f"/assessments/{aid}/d/policy", data={**shown, "crit_policy_target_population": "", "go": "save"})
    assert cleared.status_code == 302
    answers = assessment_row(app, aid)["answers"]
    assert answers["policy_target_population"]["level"] is None
    assert answers["policy_equal_treatment"]["evidence"] == "Acta 7"
    assert member_client.get(f"/assessments/{aid}").headers["Location"] == f"/assessments/{aid}/d/policy"


def test_not_applicable_with_reason_is_saved(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    data = dimension_data(dims["policy"], "4")
    data.update({"crit_policy_resources_gender": "na", "na_reason_policy_resources_gender": "Sin presupuesto propio"})
    assert post_dimension(member_client, aid, "policy", data).status_code == 302
    answer = assessment_row(app, aid)["answers"]["policy_resources_gender"]
    assert answer["not_applicable"] is True and answer["level"] is None and answer["na_reason"] == "Sin presupuesto propio"


def test_target_below_level_or_level_outside_the_choices_is_refused_at_its_criterion(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    others = [c.id for c in dims["access"].criteria if c.id != "access_documents"]
    # (form data, stored levels of the other criteria afterwards, refused criteria)
    for data, levels, refused in ((dimension_data(dims["access"], "4", target_access_documents="2"), 4, {"access_documents"}),
                                  (dimension_data(dims["access"], "7"), 4, {c.id for c in dims["access"].criteria}),
                                  (dimension_data(dims["access"], "3", target_access_documents="9"), 3, {"access_documents"})):
        response = post_dimension(member_client, aid, "access", data)
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        for crit in dims["access"].criteria:
            assert (f'has-error" id="c-{crit.id}"' in page) == (crit.id in refused), (crit.id, data)
        answers = assessment_row(app, aid)["answers"]
        assert "access_documents" not in answers  # the broken answer is never stored
        assert {cid: answers[cid]["level"] for cid in others} == {cid: levels for cid in others}  # the valid ones are


def test_too_long_na_reason_is_shown_on_its_criterion(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    data = dimension_data(dims["policy"], "3")
    data.update({"crit_policy_target_population": "na", "na_reason_policy_target_population": "x" * 5001})
    response = post_dimension(member_client, aid, "policy", data)
    assert response.status_code == 422
    answers = assessment_row(app, aid)["answers"]
    assert set(answers) == {"policy_equal_treatment", "policy_resources_gender"}  # the others on the page were saved
    assert {a["level"] for a in answers.values()} == {3}
    page = response.get_data(as_text=True)
    assert 'has-error" id="c-policy_target_population"' in page
    assert 'has-error" id="c-policy_equal_treatment"' not in page and 'has-error" id="c-policy_resources_gender"' not in page


def test_autosave_returns_json_progress(app, member_client, member, factory, dims):
    aid = factory.assessment(member, levels={"people_staff_training": 3})
    response = post_dimension(member_client, aid, "policy", dimension_data(dims["policy"], "2"), headers=FETCH)
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    assert {k: body[k] for k in ("saved", "answered", "total", "message")} == {"saved": True, "answered": 4, "total": 18, "message": ""}
    values = {"choice": 2, "na_reason": "", "evidence": "", "target": None}
    assert body["criteria"] == {c.id: {"version": 1, "base": fingerprints(values, ANSWER_FIELDS), "values": values, "error": None,
                                       "conflicts": []} for c in dims["policy"].criteria}
    assert len(assessment_row(app, aid)["answers"]) == 4


def test_autosave_with_invalid_answers_returns_422_json(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    data = dimension_data(dims["policy"], "2")
    data["crit_policy_resources_gender"] = "na"
    response = post_dimension(member_client, aid, "policy", data, headers=FETCH)
    assert response.status_code == 422 and response.is_json
    body = response.get_json()
    assert (body["saved"], body["answered"], body["total"]) == (False, 2, 18)
    assert body["message"] == tr("es", "Some answers need attention; the others were saved.")
    assert {cid: state["error"] for cid, state in body["criteria"].items()} == {
        "policy_target_population": None, "policy_equal_treatment": None,
        "policy_resources_gender": tr("es", "A reason is required when a criterion is not applicable.")}
    refused = body["criteria"]["policy_resources_gender"]
    assert refused["values"]["choice"] == "na" and str(refused["version"]) == "0"  # what was typed, on the base it started from
    assert {cid: state["version"] for cid, state in body["criteria"].items() if cid != "policy_resources_gender"} == {
        "policy_target_population": 1, "policy_equal_treatment": 1}
    answers = assessment_row(app, aid)["answers"]
    assert {cid: a["level"] for cid, a in answers.items()} == {"policy_target_population": 2, "policy_equal_treatment": 2}
    bad_choice = post_dimension(member_client, aid, "policy", dimension_data(dims["policy"], "9"), headers=FETCH)
    assert bad_choice.status_code == 422
    body = bad_choice.get_json()
    assert body["saved"] is False and body["answered"] == 2
    assert {state["error"] for state in body["criteria"].values()} == {tr("es", "Choose a level from 1 to 5, or not applicable.")}
    assert assessment_row(app, aid)["answers"] == answers


def test_unknown_dimension_or_assessment_is_not_found(app, member_client, member, factory):
    aid = factory.assessment(member)
    assert member_client.get(f"/assessments/{aid}/d/gender").status_code == 404
    assert member_client.post(f"/assessments/{aid}/d/gender", data={"go": "save"}).status_code == 404
    assert member_client.get("/assessments/999999/review").status_code == 404
    assert member_client.get("/assessments/999999").status_code == 404
    assert assessment_row(app, aid)["answers"] == {}


ROUTES = [
    ("get", "/assessments/{id}"),
    ("get", "/assessments/{id}/d/policy"),
    ("post", "/assessments/{id}/d/policy"),
    ("get", "/assessments/{id}/review"),
    ("get", "/assessments/{id}/results"),
    ("get", "/assessments/{id}/report.pdf"),
    ("post", "/assessments/{id}/submit"),
    ("post", "/assessments/{id}/plan/policy_target_population"),
]


@pytest.mark.parametrize("submitted", [False, True], ids=["draft", "submitted"])
def test_another_institutions_assessment_is_not_found_on_every_route(app, member_client, factory, dims, submitted):
    aid = factory.assessment(factory.user("member"), levels=3, submit=submitted)
    before = assessment_row(app, aid)
    data = {**dimension_data(dims["policy"], "5"), "plan_policy_target_population-responsible": "Intruder",
            "plan_policy_target_population-status": "done"}
    for method, path in ROUTES:
        with getattr(member_client, method)(path.format(id=aid), data=data if method == "post" else None) as response:
            assert response.status_code == 404, (method, path)
    assert assessment_row(app, aid) == before


# ----------------------------------------------------------------------------- review and submit


def test_review_lists_missing_criteria_and_disables_submit(member_client, member, factory, rubric):
    aid = factory.assessment(member, levels={c.id: 3 for c in rubric.criteria if c.id != "recognition_title_validation"})
    page = text(member_client.get(f"/assessments/{aid}/review"))
    missing = re.search(r'<ul class="missing">(.*?)</ul>', page, re.S).group(1)
    assert missing.count("<li>") == 1
    assert "/d/recognition#c-recognition_title_validation" in missing
    assert rubric.criterion("recognition_title_validation").title("es") in missing
    assert re.search(r'<button type="submit" disabled', page)


def test_submit_with_missing_answers_goes_back_to_review(app, member_client, member, factory, rubric):
    aid = factory.assessment(member, levels={c.id: 3 for c in rubric.criteria[:16]})
    set_language(member_client, "en")
    response = submit_page(member_client, aid)
    assert response.status_code == 302 and response.headers["Location"] == f"/assessments/{aid}/review"
    assert "2 criteria have no answer yet." in text(member_client.get(response.headers["Location"]))
    assert assessment_row(app, aid)["status"] == "draft"


def test_submit_locks_the_answers(app, member_client, member, factory, dims):
    aid = factory.assessment(member, levels=3)
    dimension_page = page_fields(member_client, f"/assessments/{aid}/d/policy")  # opened before submitting
    review_page = page_fields(member_client, f"/assessments/{aid}/review")
    response = member_client.post(f"/assessments/{aid}/submit", data=review_page)
    assert response.status_code == 302 and response.headers["Location"] == f"/assessments/{aid}/results"
    assert assessment_row(app, aid)["status"] == "submitted"
    before = assessment_row(app, aid)["answers"]
    locked = member_client.post(f"/assessments/{aid}/d/policy", data={**dimension_page, **dimension_data(dims["policy"], "5")})
    assert locked.status_code == 409
    assert member_client.post(f"/assessments/{aid}/d/policy", data={**dimension_page, **dimension_data(dims["policy"], "5")},
                              headers=FETCH).status_code == 409
    assert member_client.post(f"/assessments/{aid}/submit", data=review_page).status_code == 409
    assert assessment_row(app, aid)["answers"] == before
    assert assessment_row(app, aid)["status"] == "submitted"


def test_submit_needs_the_version_the_review_page_showed(app, member_client, member, factory, dims):
    aid = factory.assessment(member, levels=3)
    set_language(member_client, "en")
    review_page = page_fields(member_client, f"/assessments/{aid}/review")
    # without the version the form is refused like a broken one
    missing = member_client.post(f"/assessments/{aid}/submit", data={k: v for k, v in review_page.items() if k != "version"})
    assert missing.status_code == 302 and missing.headers["Location"] == f"/assessments/{aid}/review"
    assert "The form expired or was sent from elsewhere." in text(member_client.get(missing.headers["Location"]))
    assert assessment_row(app, aid)["status"] == "draft"
    # an answer changed after the review page was opened: the stale page cannot submit
    assert post_dimension(member_client, aid, "policy", dimension_data(dims["policy"], "5")).status_code == 302
    stale = member_client.post(f"/assessments/{aid}/submit", data=review_page)
    assert stale.status_code == 302 and stale.headers["Location"] == f"/assessments/{aid}/review"
    assert "Someone else changed the answers after you opened this page." in text(member_client.get(stale.headers["Location"]))
    assert assessment_row(app, aid)["status"] == "draft"
    # the review page opened again shows the new answers and submits them
    assert submit_page(member_client, aid).headers["Location"] == f"/assessments/{aid}/results"
    row = assessment_row(app, aid)
    assert row["status"] == "submitted" and row["answers"]["policy_target_population"]["level"] == 5


def test_dimension_page_of_a_submitted_assessment_redirects_to_results(member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    response = member_client.get(f"/assessments/{aid}/d/access")
    assert response.status_code == 302 and response.headers["Location"] == f"/assessments/{aid}/results"
    review = member_client.get(f"/assessments/{aid}/review").get_data(as_text=True)
    assert f'action="/assessments/{aid}/submit"' not in review


# ----------------------------------------------------------------------------- results


def results_levels(rubric):
    levels = {c.id: 3 for c in rubric.criteria}
    levels["policy_target_population"] = 2  # policy: (2 + 3 + 3) / 3 = 2.67; index (2.67 + 15) / 6 -> 48.6
    return levels


def test_results_format_numbers_for_the_ui_locale(member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=results_levels(rubric), submit=True)
    page = member_client.get(f"/assessments/{aid}/results").get_data(as_text=True)
    assert '<html lang="es">' in page
    assert ">2,67<" in page and ">3,00<" in page and "48,6" in page
    assert "2.67" not in page
    set_language(member_client, "en")
    page = member_client.get(f"/assessments/{aid}/results").get_data(as_text=True)
    assert ">2.67<" in page and ">3.00<" in page and "<strong>48.6</strong>" in page
    assert "2,67" not in page


def test_results_show_attained_levels_and_the_radar_chart(member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=results_levels(rubric), submit=True)
    page = text(member_client.get(f"/assessments/{aid}/results"))
    assert f"2 · {rubric.level_name(2, 'es')}" in page  # floor(2.67)
    assert page.count(f"3 · {rubric.level_name(3, 'es')}") >= 5
    svg = re.search(r"<svg\b.*?</svg>", page, re.S)
    assert svg is not None
    assert re.search(r"<(polygon|path|polyline)\b", svg.group(0))
    assert "Política" in svg.group(0)


def test_results_index_not_published_when_a_dimension_is_insufficient(member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=3, na=("people_staff_training", "people_outreach_migrants"), submit=True)
    set_language(member_client, "en")
    page = text(member_client.get(f"/assessments/{aid}/results"))
    assert "The overall inclusion index is not published: it needs a score in all six dimensions." in page
    assert "Insufficient evidence" in page
    assert "Overall inclusion index:" not in page
    rows = re.findall(r"<tr><td(?: lang=\"[a-z]+\")?>([^<]*)</td>\s*<td class=\"num\">([^<]*)</td>", page)
    assert (rubric.dimension("people").name("es"), "—") in rows


def test_results_in_portuguese_use_decimal_comma_and_translated_ui(member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=results_levels(rubric), language="pt", submit=True)
    set_language(member_client, "pt")
    page = text(member_client.get(f"/assessments/{aid}/results"))
    assert ">2,67<" in page and tr("pt", "Scores by dimension") in page
    assert rubric.dimension("policy").name("pt") in page


def test_results_plan_is_ordered_by_priority(app, member_client, member, factory, rubric):
    aid = factory.assessment(member, levels=3)
    save(app, member, aid, [
        CriterionAnswer("policy_target_population", 3, target=3),  # no item
        CriterionAnswer("people_employer_outreach", 1, target=5),  # priority 4
        CriterionAnswer("access_retention", 2, target=4),  # priority 2
        CriterionAnswer("relevance_needs_demand", 5),  # at the top: no item
    ])
    page = member_client.get(f"/assessments/{aid}/results").get_data(as_text=True)
    order = re.findall(r'<article class="plan-item" id="plan-([a-z_]+)">', page)
    rest = [c.id for c in rubric.criteria if c.id not in
            ("policy_target_population", "people_employer_outreach", "access_retention", "relevance_needs_demand")]
    assert order == ["people_employer_outreach", "access_retention"] + rest
    item = page[page.index('id="plan-people_employer_outreach"'):page.index('id="plan-access_retention"')]
    assert "4,0" in item  # priority, es
    assert item.count("<ul>") == 4  # actions for levels 2, 3, 4 and 5


def test_plan_item_edit_is_saved_and_shown(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    prefix = "plan_access_documents-"
    fields = page_fields(member_client, f"/assessments/{aid}/results")
    assert fields[prefix + "version"] == "0"  # nobody has edited the item yet
    response = member_client.post(f"/assessments/{aid}/plan/access_documents", data={
        **fields, prefix + "responsible": "Coordinación académica", prefix + "due_date": "2026-03-31",
        prefix + "status": "in_progress", prefix + "note": "Revisar con Migraciones"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/assessments/{aid}/results#plan-access_documents"
    from datetime import date

    assert assessment_row(app, aid)["plan"]["access_documents"] == {
        "responsible": "Coordinación académica", "due_date": date(2026, 3, 31), "status": "in_progress", "note": "Revisar con Migraciones"}
    page = text(member_client.get(f"/assessments/{aid}/results"))
    item = page[page.index('id="plan-access_documents"'):]
    item = item[:item.index("</article>")]
    assert hidden_fields(item)[prefix + "version"] == "1"
    assert 'value="Coordinación académica"' in item and 'value="2026-03-31"' in item
    assert re.search(r'<option selected value="in_progress">|<option value="in_progress" selected', item)
    assert "Revisar con Migraciones" in item


def test_plan_item_for_a_criterion_not_in_the_plan_is_not_found(app, member_client, member, factory):
    aid = factory.assessment(member, levels={"policy_target_population": 5, "access_documents": 2})
    for cid in ("policy_target_population", "policy_equal_treatment", "nope"):  # level 5 (no item), unanswered, unknown
        data = {f"plan_{cid}-responsible": "Ana", f"plan_{cid}-status": "todo"}
        assert member_client.post(f"/assessments/{aid}/plan/{cid}", data=data).status_code == 404, cid
    assert assessment_row(app, aid)["plan"] == {}


def test_plan_item_with_bad_input_is_not_saved(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    prefix = "plan_access_documents-"
    set_language(member_client, "en")
    fields = page_fields(member_client, f"/assessments/{aid}/results")  # with the item's version: only the bad value is wrong
    for field, value in (("due_date", "31/03/2026"), ("due_date", "2026-02-30"), ("status", "finished"), ("responsible", "x" * 201)):
        data = {**fields, prefix + "responsible": "Ana", prefix + "due_date": "", prefix + "status": "todo", prefix + "note": ""}
        data[prefix + field] = value
        response = member_client.post(f"/assessments/{aid}/plan/access_documents", data=data, follow_redirects=True)
        assert "The plan item was not saved" in text(response), (field, value)
    assert assessment_row(app, aid)["plan"] == {}


def test_reviewer_sees_submitted_results_but_not_drafts_and_cannot_edit_the_plan(app, client, factory):
    owner = factory.user("member")
    submitted = factory.assessment(owner, levels=3, submit=True)
    draft = factory.assessment(owner, levels=3)
    login(client, factory.user("reviewer"))
    page = client.get(f"/assessments/{submitted}/results")
    assert page.status_code == 200 and 'class="plan-form"' not in page.get_data(as_text=True)
    assert client.get(f"/assessments/{submitted}/review").status_code == 200
    assert client.get(f"/assessments/{submitted}").headers["Location"] == f"/assessments/{submitted}/results"
    with client.get(f"/assessments/{submitted}/report.pdf") as pdf:
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    for path in ("results", "review", "report.pdf"):
        assert client.get(f"/assessments/{draft}/{path}").status_code == 404
    assert client.get(f"/assessments/{draft}").status_code == 404
    edit = client.post(f"/assessments/{submitted}/plan/access_documents", data={"plan_access_documents-status": "done"})
    assert edit.status_code == 403
    assert assessment_row(app, submitted)["plan"] == {}
    owner_client = app.test_client()
    login(owner_client, owner)
    saved = owner_client.post(f"/assessments/{submitted}/plan/access_documents", data={
        **page_fields(owner_client, f"/assessments/{submitted}/results"),
        "plan_access_documents-responsible": "Unidad de Inclusión", "plan_access_documents-due_date": "2026-03-31",
        "plan_access_documents-status": "todo"})
    assert saved.status_code == 302
    item = text(client.get(f"/assessments/{submitted}/results"))
    item = item[item.index('id="plan-access_documents"'):]
    item = item[:item.index("</article>")]
    assert "Unidad de Inclusión" in item and "2026" in item and "<form" not in item


def test_staff_cannot_view_assessments_but_admin_can(app, factory):
    aid = factory.assessment(factory.user("member"), levels=3, submit=True)
    staff = app.test_client()
    login(staff, factory.user("staff"))
    for path in ("results", "review", "report.pdf"):
        assert staff.get(f"/assessments/{aid}/{path}").status_code == 404, path
    assert staff.get(f"/assessments/{aid}").status_code == 404
    assert f"/assessments/{aid}" not in staff.get("/").get_data(as_text=True)
    admin = app.test_client()
    login(admin, factory.user("admin"))
    assert admin.get(f"/assessments/{aid}/results").status_code == 200


# ----------------------------------------------------------------------------- PDF


def test_report_pdf_download(member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    with member_client.get(f"/assessments/{aid}/report.pdf") as response:
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.data.startswith(b"%PDF")
        assert f"plan-{aid}-es.pdf" in response.headers["Content-Disposition"]
        assert response.headers["Content-Disposition"].startswith("attachment")
    with member_client.get(f"/assessments/{aid}/report.pdf?lang=en") as english:
        assert english.data.startswith(b"%PDF") and f"plan-{aid}-en.pdf" in english.headers["Content-Disposition"]
    with member_client.get(f"/assessments/{aid}/report.pdf?lang=xx") as fallback:
        assert fallback.status_code == 200 and f"plan-{aid}-es.pdf" in fallback.headers["Content-Disposition"]
    draft = factory.assessment(member, levels={"policy_target_population": 2})
    with member_client.get(f"/assessments/{draft}/report.pdf") as response:
        assert response.status_code == 200 and response.data.startswith(b"%PDF")


# ----------------------------------------------------------------------------- escaping


def test_user_text_is_escaped_in_pages(app, client, factory):
    evil = "<script>alert('x')</script>"
    inst = factory.institution(name=f"Centro {evil}")
    owner = factory.user("member", institution=inst)
    aid = factory.assessment(owner, levels=3)
    save(app, owner, aid, [CriterionAnswer("policy_target_population", 3, evidence=f"<b>{evil}</b>")])
    login(client, owner)
    for path in ("/", f"/assessments/{aid}/d/policy", f"/assessments/{aid}/review", f"/assessments/{aid}/results", "/account"):
        page = client.get(path).get_data(as_text=True)
        assert "<script>alert" not in page, path
    assert "&lt;script&gt;alert" in client.get("/").get_data(as_text=True)
    assert "&lt;b&gt;&lt;script&gt;" in client.get(f"/assessments/{aid}/d/policy").get_data(as_text=True)
    assert submit_page(client, aid).status_code == 302
    assert assessment_row(app, aid)["status"] == "submitted"
    reviewer = app.test_client()
    login(reviewer, factory.user("reviewer"))
    listing = reviewer.get("/").get_data(as_text=True)
    assert "<script>alert" not in listing and "&lt;script&gt;alert" in listing
