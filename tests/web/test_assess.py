"""The self-assessment pages: start, dimensions, autosave, review, submit, results, plan, PDF."""
from __future__ import annotations

import re

import pytest

from rubric_app.domain.scoring import CriterionAnswer
from rubric_app.extensions import db
from rubric_app.models import Assessment
from tests.conftest import login

from .helpers import INSTRUMENT, assessment_row, count, dimension_data, set_language, text, tr

FETCH = {"X-Requested-With": "fetch"}


def save(app, user, assessment_id, answers):
    """Store answers through the service layer (targets included)."""
    from rubric_app.services import assessments as svc

    with app.app_context():
        s = db.new_session()
        svc.save_answers(s, app.extensions["instruments"], s.merge(user), s.get(Assessment, assessment_id), answers)
        s.close()


def fieldset(page: str, criterion_id: str) -> str:
    start = page.index(f'id="c-{criterion_id}"')
    return page[start:page.index("</fieldset>", start)]


# ----------------------------------------------------------------------------- start


def test_start_page_offers_the_instrument(member_client):
    response = member_client.get("/assessments/new")
    assert response.status_code == 200
    assert f'value="{INSTRUMENT}@1.0"' in response.get_data(as_text=True)


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


def test_new_round_copies_the_previous_answers(app, member_client, member, factory):
    first = factory.assessment(member, levels={"policy_target_population": 2}, submit=False)
    save(app, member, first, [CriterionAnswer(c, 4, False, "", 5, f"ev {c}") for c in ("access_documents", "people_staff_training")])
    response = member_client.post("/assessments/new", data={"instrument": f"{INSTRUMENT}@1.0", "language": "es", "from_previous": "1"})
    aid = int(response.headers["Location"].rsplit("/", 1)[1])
    row = assessment_row(app, aid)
    assert row["round"] == 2 and row["previous_id"] == first and row["status"] == "draft"
    assert set(row["answers"]) == {"policy_target_population", "access_documents", "people_staff_training"}
    assert row["answers"]["policy_target_population"]["level"] == 2
    assert row["answers"]["access_documents"] == {"level": 4, "not_applicable": False, "na_reason": "", "target": 5, "evidence": "ev access_documents"}
    assert row["answers"]["policy_target_population"]["evidence"] == "evidence policy_target_population"


def test_new_round_copies_na_answers_and_recomputes_targets(app, member_client, member, factory):
    previous = factory.assessment(member, levels=2, na=("people_outreach_migrants",), submit=True)
    save_round = member_client.post("/assessments/new", data={"instrument": f"{INSTRUMENT}@1.0", "language": "es", "from_previous": "1"})
    row = assessment_row(app, int(save_round.headers["Location"].rsplit("/", 1)[1]))
    assert row["round"] == 2 and row["previous_id"] == previous
    assert len(row["answers"]) == 18
    assert row["answers"]["people_outreach_migrants"]["not_applicable"] is True
    assert row["answers"]["people_outreach_migrants"]["na_reason"] == "No aplica"
    assert all(a["target"] == 3 for cid, a in row["answers"].items() if cid != "people_outreach_migrants")


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
        assert f'name="crit_{crit.id}" value="na"' in box
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
    response = member_client.post(f"/assessments/{aid}/d/policy", data=data)
    assert response.status_code == 302 and response.headers["Location"] == f"/assessments/{aid}/d/access"
    answers = assessment_row(app, aid)["answers"]
    assert {cid: (a["level"], a["target"]) for cid, a in answers.items()} == {
        "policy_target_population": (3, 4), "policy_equal_treatment": (3, 4), "policy_resources_gender": (3, 5)}
    assert answers["policy_equal_treatment"]["evidence"] == "Reglamento 2024"


def test_post_navigation_buttons(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    for dim_id, go, expected in (("articulation", "next", "review"), ("access", "prev", "d/policy"),
                                 ("relevance", "review", "review"), ("people", "save", "d/people"), ("policy", "prev", "d/policy")):
        response = member_client.post(f"/assessments/{aid}/d/{dim_id}", data=dimension_data(dims[dim_id], "2", go=go))
        assert response.status_code == 302, (dim_id, go)
        assert response.headers["Location"] == f"/assessments/{aid}/{expected}", (dim_id, go)
    assert len(assessment_row(app, aid)["answers"]) == 15
    set_language(member_client, "en")
    response = member_client.post(f"/assessments/{aid}/d/people", data=dimension_data(dims["people"], "4"), follow_redirects=True)
    assert response.status_code == 200 and "Your answers were saved." in text(response)


def test_not_applicable_without_reason_saves_nothing_on_the_page(app, member_client, member, factory, dims):
    aid = factory.assessment(member, levels={"policy_equal_treatment": 2})
    set_language(member_client, "en")
    data = dimension_data(dims["policy"], "4", evidence_policy_target_population="Acta 12")
    data["crit_policy_resources_gender"] = "na"
    response = member_client.post(f"/assessments/{aid}/d/policy", data=data)
    assert response.status_code == 422
    page = text(response)
    assert "Some answers need attention; nothing on this page was saved." in page
    assert 'class="criterion has-error" id="c-policy_resources_gender"' in page
    assert "a reason is required" in fieldset(page, "policy_resources_gender")
    assert "Acta 12" in page  # what was typed is kept on the page
    answers = assessment_row(app, aid)["answers"]
    assert set(answers) == {"policy_equal_treatment"} and answers["policy_equal_treatment"]["level"] == 2


def test_dimension_page_errors_are_in_the_interface_language(member_client, member, factory, dims):
    aid = factory.assessment(member)
    data = dimension_data(dims["policy"], "4", target_policy_equal_treatment="2")
    data["crit_policy_target_population"] = "na"
    page = text(member_client.post(f"/assessments/{aid}/d/policy", data=data))
    assert '<html lang="es">' in page
    assert tr("es", "Some answers need attention; nothing on this page was saved.") in page
    assert "a reason is required when a criterion is not applicable" not in fieldset(page, "policy_target_population")
    assert "the target cannot be below the current level" not in fieldset(page, "policy_equal_treatment")


def test_partial_page_saves_only_what_was_given(app, member_client, member, factory):
    aid = factory.assessment(member)
    data = {"crit_policy_target_population": "2", "evidence_policy_equal_treatment": "Acta 7", "go": "save"}
    response = member_client.post(f"/assessments/{aid}/d/policy", data=data, headers=FETCH)
    assert response.get_json() == {"saved": True, "answered": 1, "total": 18}
    answers = assessment_row(app, aid)["answers"]
    assert set(answers) == {"policy_target_population", "policy_equal_treatment"}
    assert (answers["policy_target_population"]["level"], answers["policy_target_population"]["target"]) == (2, 3)
    assert answers["policy_equal_treatment"]["level"] is None and answers["policy_equal_treatment"]["evidence"] == "Acta 7"
    # clearing a level on the page clears the stored answer
    member_client.post(f"/assessments/{aid}/d/policy", data={"crit_policy_target_population": "", "go": "save"})
    assert assessment_row(app, aid)["answers"]["policy_target_population"]["level"] is None
    assert member_client.get(f"/assessments/{aid}").headers["Location"] == f"/assessments/{aid}/d/policy"


def test_not_applicable_with_reason_is_saved(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    data = dimension_data(dims["policy"], "4")
    data.update({"crit_policy_resources_gender": "na", "na_reason_policy_resources_gender": "Sin presupuesto propio"})
    assert member_client.post(f"/assessments/{aid}/d/policy", data=data).status_code == 302
    answer = assessment_row(app, aid)["answers"]["policy_resources_gender"]
    assert answer["not_applicable"] is True and answer["level"] is None and answer["na_reason"] == "Sin presupuesto propio"


def test_target_below_level_or_level_outside_the_choices_is_refused(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    for data in (dimension_data(dims["access"], "4", target_access_documents="2"),
                 dimension_data(dims["access"], "7"),
                 dimension_data(dims["access"], "3", target_access_documents="9")):
        response = member_client.post(f"/assessments/{aid}/d/access", data=data)
        assert response.status_code == 422
        assert 'has-error" id="c-access_documents"' in response.get_data(as_text=True)
    assert assessment_row(app, aid)["answers"] == {}


def test_too_long_na_reason_is_shown_on_its_criterion(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    data = dimension_data(dims["policy"], "3")
    data.update({"crit_policy_target_population": "na", "na_reason_policy_target_population": "x" * 5001})
    response = member_client.post(f"/assessments/{aid}/d/policy", data=data)
    assert response.status_code == 422
    assert assessment_row(app, aid)["answers"] == {}
    assert 'has-error" id="c-policy_target_population"' in response.get_data(as_text=True)


def test_autosave_returns_json_progress(app, member_client, member, factory, dims):
    aid = factory.assessment(member, levels={"people_staff_training": 3})
    response = member_client.post(f"/assessments/{aid}/d/policy", data=dimension_data(dims["policy"], "2"), headers=FETCH)
    assert response.status_code == 200 and response.is_json
    assert response.get_json() == {"saved": True, "answered": 4, "total": 18}
    assert len(assessment_row(app, aid)["answers"]) == 4


def test_autosave_with_invalid_answers_returns_422_json(app, member_client, member, factory, dims):
    aid = factory.assessment(member)
    data = dimension_data(dims["policy"], "2")
    data["crit_policy_equal_treatment"] = "na"
    response = member_client.post(f"/assessments/{aid}/d/policy", data=data, headers=FETCH)
    assert response.status_code == 422 and response.is_json
    error = response.get_json()["error"]
    assert error["status"] == 422
    assert [d["criterion"] for d in error["details"]] == ["policy_equal_treatment"]
    assert error["details"][0]["field"] == "na_reason"
    bad_choice = member_client.post(f"/assessments/{aid}/d/policy", data=dimension_data(dims["policy"], "9"), headers=FETCH)
    assert bad_choice.status_code == 422 and bad_choice.get_json()["error"]["status"] == 422
    assert assessment_row(app, aid)["answers"] == {}


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
    response = member_client.post(f"/assessments/{aid}/submit")
    assert response.status_code == 302 and response.headers["Location"] == f"/assessments/{aid}/review"
    assert "2 criteria have no answer yet." in text(member_client.get(response.headers["Location"]))
    assert assessment_row(app, aid)["status"] == "draft"


def test_submit_locks_the_answers(app, member_client, member, factory, dims):
    aid = factory.assessment(member, levels=3)
    response = member_client.post(f"/assessments/{aid}/submit")
    assert response.status_code == 302 and response.headers["Location"] == f"/assessments/{aid}/results"
    assert assessment_row(app, aid)["status"] == "submitted"
    before = assessment_row(app, aid)["answers"]
    locked = member_client.post(f"/assessments/{aid}/d/policy", data=dimension_data(dims["policy"], "5"))
    assert locked.status_code == 409
    assert member_client.post(f"/assessments/{aid}/d/policy", data=dimension_data(dims["policy"], "5"), headers=FETCH).status_code == 409
    assert member_client.post(f"/assessments/{aid}/submit").status_code == 409
    assert assessment_row(app, aid)["answers"] == before


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
    aid = factory.assessment(member, levels=3, na=("access_documents", "access_retention"), submit=True)
    set_language(member_client, "en")
    page = text(member_client.get(f"/assessments/{aid}/results"))
    assert "The overall inclusion index is not published: it needs a score in all six dimensions." in page
    assert "Insufficient evidence" in page
    assert "Overall inclusion index:" not in page
    rows = re.findall(r"<tr><td>([^<]*)</td>\s*<td class=\"num\">([^<]*)</td>", page)
    assert (rubric.dimension("access").name("es"), "—") in rows


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
    response = member_client.post(f"/assessments/{aid}/plan/access_documents", data={
        prefix + "responsible": "Coordinación académica", prefix + "due_date": "2026-03-31",
        prefix + "status": "in_progress", prefix + "note": "Revisar con Migraciones"})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/assessments/{aid}/results#plan-access_documents"
    from datetime import date

    assert assessment_row(app, aid)["plan"]["access_documents"] == {
        "responsible": "Coordinación académica", "due_date": date(2026, 3, 31), "status": "in_progress", "note": "Revisar con Migraciones"}
    page = text(member_client.get(f"/assessments/{aid}/results"))
    item = page[page.index('id="plan-access_documents"'):]
    item = item[:item.index("</article>")]
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
    for field, value in (("due_date", "31/03/2026"), ("due_date", "2026-02-30"), ("status", "finished"), ("responsible", "x" * 201)):
        data = {prefix + "responsible": "Ana", prefix + "due_date": "", prefix + "status": "todo", prefix + "note": ""}
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
    owner_client.post(f"/assessments/{submitted}/plan/access_documents", data={
        "plan_access_documents-responsible": "Unidad de Inclusión", "plan_access_documents-due_date": "2026-03-31",
        "plan_access_documents-status": "todo"})
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
    client.post(f"/assessments/{aid}/submit")
    reviewer = app.test_client()
    login(reviewer, factory.user("reviewer"))
    listing = reviewer.get("/").get_data(as_text=True)
    assert "<script>alert" not in listing and "&lt;script&gt;alert" in listing
