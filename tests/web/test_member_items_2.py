"""Members, part 2: a new round from the previous answers, one "save the plan" for every item, instrument titles in lists."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

from rubric_app.domain.scoring import CriterionAnswer
from rubric_app.extensions import db
from rubric_app.models import PlanEdit
from tests.conftest import login

from .helpers import INSTRUMENT, assessment_row, count, parse_form, set_language, text, tr

START = {"instrument": f"{INSTRUMENT}@1.1", "language": "es", "from_previous": "1"}


def with_session(app, work):
    with app.app_context():
        s = db.new_session()
        try:
            return work(s, app.extensions["instruments"])
        finally:
            s.close()


def submitted_with_targets(app, factory, member, targets: dict[str, int]) -> int:
    """A submitted assessment at level 3 everywhere, with the chosen targets."""
    from rubric_app.services import assessments as svc

    aid = factory.assessment(member, levels=3)

    def work(s, registry):
        user = s.merge(member)
        assessment = svc.get_assessment(s, user, aid)
        svc.save_answers(s, registry, user, assessment, [CriterionAnswer(cid, 3, False, "", target, f"ev {cid}")
                                                         for cid, target in targets.items()])
        svc.submit(s, registry, user, aid)

    with_session(app, work)
    return aid


# ----------------------------------------------------------------------------- new round from the previous answers


def test_starting_from_previous_answers_opens_the_first_dimension_and_keeps_chosen_targets(app, member_client, member, factory,
                                                                                           rubric):
    previous = submitted_with_targets(app, factory, member, {"access_documents": 5, "policy_target_population": 4})
    response = member_client.post("/assessments/new", data=START)
    assert response.status_code == 302
    aid = int(re.fullmatch(r"/assessments/(\d+)", response.headers["Location"]).group(1))
    row = assessment_row(app, aid)
    assert row["previous_id"] == previous and row["round"] == 2 and len(row["answers"]) == 18
    # the targets chosen in round 1 are kept; those nobody chose keep following the level
    assert row["answers"]["access_documents"]["target"] == 5
    assert row["answers"]["policy_target_population"]["target"] == 4
    assert row["answers"]["relevance_needs_demand"]["target"] is None
    # every criterion is answered, yet the person is taken to the first dimension to go through them, not to the review
    opened = member_client.get(response.headers["Location"])
    assert opened.status_code == 302
    assert opened.headers["Location"] == f"/assessments/{aid}/d/{rubric.dimensions[0].id}"
    page = text(member_client.get(opened.headers["Location"]))
    assert 'class="flash info"' in page
    # the chosen target is selected in the form
    access = rubric.criterion("access_documents").dimension_id
    fields = parse_form(member_client.get(f"/assessments/{aid}/d/{access}").get_data(as_text=True), "dimension-form")
    assert fields["target_access_documents"] == "5"


def test_a_copied_round_goes_to_the_review_once_something_was_saved(app, member_client, member, factory, rubric):
    submitted_with_targets(app, factory, member, {"access_documents": 5})
    aid = int(member_client.post("/assessments/new", data=START).headers["Location"].rsplit("/", 1)[1])
    first = rubric.dimensions[0]
    url = f"/assessments/{aid}/d/{first.id}"
    fields = parse_form(member_client.get(url).get_data(as_text=True), "dimension-form")
    assert member_client.post(url, data={**fields, "go": "save"}).status_code == 302
    saved = {**fields, f"evidence_{first.criteria[0].id}": "Nueva acta", "go": "save"}
    assert member_client.post(url, data=saved).status_code == 302
    assert member_client.get(f"/assessments/{aid}").headers["Location"] == f"/assessments/{aid}/review"


def test_a_target_the_new_version_refuses_is_not_copied(app, member, factory):
    """The copy keeps a chosen target only while the answer stays valid with it."""
    from rubric_app.models import Answer
    from rubric_app.services import assessments as svc

    rubric = app.extensions["instruments"].latest(INSTRUMENT)
    old = Answer(criterion_id="access_documents", level=4, not_applicable=False, na_reason="", target=2, evidence="x")
    copied = svc._copied_answer(rubric, old)
    assert (copied.level, copied.target, copied.evidence) == (4, None, "x")
    old.target = 5
    assert svc._copied_answer(rubric, old).target == 5


# ----------------------------------------------------------------------------- one "save the plan"


def plan_prefix(cid: str) -> str:
    return f"plan_{cid}-"


def plan_page(client, aid) -> dict[str, str]:
    response = client.get(f"/assessments/{aid}/results")
    assert response.status_code == 200
    return parse_form(response.get_data(as_text=True), "plan-form")


def test_the_plan_has_one_form_and_one_save_button(member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    page = member_client.get(f"/assessments/{aid}/results").get_data(as_text=True)
    assert page.count('id="plan-form"') == 1 and 'data-warn-unsaved="1"' in page
    form = page[page.index('id="plan-form"'):page.index("</form>", page.index('id="plan-form"'))]
    assert form.count('type="submit"') == 1 and 'id="save-plan"' in form
    assert form.count('class="plan-item"') == 18  # every item inside the one form
    assert "forms.js" in page
    assert 'data-dirty="1"' not in page


def test_saving_the_plan_saves_every_changed_item_and_leaves_the_others(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    set_language(member_client, "en")
    fields = plan_page(member_client, aid)
    due = (datetime.now(timezone.utc).date() + timedelta(days=60)).isoformat()
    a, b = plan_prefix("access_documents"), plan_prefix("policy_target_population")
    fields.update({a + "responsible": "Admisión", a + "due_date": due, b + "status": "in_progress", b + "note": "Con la SPE"})
    response = member_client.post(f"/assessments/{aid}/plan", data=fields)
    assert response.status_code == 302 and response.headers["Location"] == f"/assessments/{aid}/results#plan"
    plan = assessment_row(app, aid)["plan"]
    assert set(plan) == {"access_documents", "policy_target_population"}  # the untouched items are not written
    assert plan["access_documents"] == {"responsible": "Admisión", "due_date": date.fromisoformat(due), "status": "todo", "note": ""}
    assert plan["policy_target_population"]["status"] == "in_progress"
    page = text(member_client.get(f"/assessments/{aid}/results"))
    assert "2 plan items were saved." in page
    # saving the page again as shown changes nothing
    again = member_client.post(f"/assessments/{aid}/plan", data=plan_page(member_client, aid))
    assert again.status_code == 302
    assert count(app, PlanEdit, assessment_id=aid) == 2


def test_a_stale_item_is_a_conflict_at_that_item_and_the_others_are_saved(app, factory):
    first = factory.user()
    second = factory.user(institution=first.institution)
    a, b = app.test_client(), app.test_client()
    login(a, first)
    login(b, second)
    aid = factory.assessment(first, levels=3, submit=True)
    page_a, page_b = plan_page(a, aid), plan_page(b, aid)
    x, y = plan_prefix("access_documents"), plan_prefix("policy_target_population")
    assert b.post(f"/assessments/{aid}/plan", data={**page_b, x + "responsible": "Bienestar"}).status_code == 302
    response = a.post(f"/assessments/{aid}/plan", data={**page_a, x + "responsible": "Dirección", y + "note": "Plan de A"})
    assert response.status_code == 409
    plan = assessment_row(app, aid)["plan"]
    assert plan["access_documents"]["responsible"] == "Bienestar"  # theirs stays until A decides
    assert plan["policy_target_population"]["note"] == "Plan de A"  # the other item is saved
    page = text(response)
    item = page[page.index('id="plan-access_documents"'):]
    item = item[:item.index("</article>")]
    assert 'id="plan-conflict-access_documents"' in item and "Bienestar" in item and 'value="Dirección"' in item
    other = page[page.index('id="plan-policy_target_population"'):]
    assert "plan-conflict" not in other[:other.index("</article>")]
    assert 'data-dirty="1"' in page  # the re-shown page warns before its unsaved values are lost
    # saving the re-shown form is a decision taken with theirs in view: it lands
    assert a.post(f"/assessments/{aid}/plan", data=parse_form(response.get_data(as_text=True), "plan-form")).status_code == 302
    assert assessment_row(app, aid)["plan"]["access_documents"]["responsible"] == "Dirección"


def test_an_item_someone_else_changed_is_no_conflict_when_this_page_left_it_alone(app, factory):
    first = factory.user()
    second = factory.user(institution=first.institution)
    a, b = app.test_client(), app.test_client()
    login(a, first)
    login(b, second)
    aid = factory.assessment(first, levels=3, submit=True)
    page_a, page_b = plan_page(a, aid), plan_page(b, aid)
    x, y = plan_prefix("access_documents"), plan_prefix("policy_target_population")
    assert b.post(f"/assessments/{aid}/plan", data={**page_b, x + "responsible": "Bienestar"}).status_code == 302
    assert a.post(f"/assessments/{aid}/plan", data={**page_a, y + "responsible": "Dirección"}).status_code == 302
    plan = assessment_row(app, aid)["plan"]
    assert plan["access_documents"]["responsible"] == "Bienestar" and plan["policy_target_population"]["responsible"] == "Dirección"


def test_a_refused_due_date_is_shown_at_its_item_and_the_other_items_are_saved(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    fields = plan_page(member_client, aid)
    x, y = plan_prefix("access_documents"), plan_prefix("policy_target_population")
    response = member_client.post(f"/assessments/{aid}/plan", data={**fields, x + "due_date": "2001-05-01", x + "responsible": "Ana",
                                                                    y + "responsible": "Luis"})
    assert response.status_code == 422
    plan = assessment_row(app, aid)["plan"]
    assert "access_documents" not in plan and plan["policy_target_population"]["responsible"] == "Luis"
    page = text(response)
    item = page[page.index('id="plan-access_documents"'):]
    item = item[:item.index("</article>")]
    assert tr("es", "Choose a due date from one year ago up to ten years from today.") in item
    assert 'aria-describedby="plan_access_documents-due_date-err"' in item and 'aria-invalid="true"' in item
    assert 'value="2001-05-01"' in item and 'value="Ana"' in item
    # sending the re-shown form with a date in bounds saves it
    again = parse_form(response.get_data(as_text=True), "plan-form")
    again[x + "due_date"] = datetime.now(timezone.utc).date().isoformat()
    assert member_client.post(f"/assessments/{aid}/plan", data=again).status_code == 302
    assert assessment_row(app, aid)["plan"]["access_documents"]["responsible"] == "Ana"


def test_a_malformed_date_is_refused_at_its_field(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    x = plan_prefix("access_documents")
    response = member_client.post(f"/assessments/{aid}/plan", data={**plan_page(member_client, aid), x + "due_date": "31/03/2026"})
    assert response.status_code == 422
    assert 'id="plan_access_documents-due_date-err"' in response.get_data(as_text=True)
    assert assessment_row(app, aid)["plan"] == {}


def test_saving_the_plan_is_scoped(app, factory):
    owner = factory.user()
    aid = factory.assessment(owner, levels=3, submit=True)
    stranger = app.test_client()
    login(stranger, factory.user())
    data = {plan_prefix("access_documents") + "responsible": "Intruso", plan_prefix("access_documents") + "status": "todo"}
    assert stranger.post(f"/assessments/{aid}/plan", data=data).status_code == 404
    reviewer = app.test_client()
    login(reviewer, factory.user("reviewer"))
    assert reviewer.post(f"/assessments/{aid}/plan", data=data).status_code == 403
    # fields of a criterion without a plan item are ignored; the others are saved
    owner_client = app.test_client()
    login(owner_client, owner)
    fields = plan_page(owner_client, aid)
    assert owner_client.post(f"/assessments/{aid}/plan", data={**fields, **data, "plan_nope-status": "todo"}).status_code == 302
    assert assessment_row(app, aid)["plan"]["access_documents"]["responsible"] == "Intruso"


def test_saving_the_plan_without_a_csrf_token_is_refused(csrf_app):
    from tests.conftest import PASSWORD, Factory

    from .helpers import csrf_token

    factory = Factory(csrf_app)
    owner = factory.user()
    aid = factory.assessment(owner, levels=3, submit=True)
    client = csrf_app.test_client()
    client.post("/login", data={"email": owner.email, "password": PASSWORD, "csrf_token": csrf_token(client.get("/login").data)})
    fields = plan_page(client, aid)
    x = plan_prefix("access_documents")
    for forged in ("", "not-the-token"):
        response = client.post(f"/assessments/{aid}/plan", data={**fields, "csrf_token": forged, x + "responsible": "Ana"})
        assert response.status_code == 400
    assert assessment_row(csrf_app, aid)["plan"] == {}
    assert client.post(f"/assessments/{aid}/plan", data={**fields, x + "responsible": "Ana"}).status_code == 302
    assert assessment_row(csrf_app, aid)["plan"]["access_documents"]["responsible"] == "Ana"


def test_the_service_saves_items_against_their_own_versions(app, member, factory):
    from rubric_app.services import assessments as svc

    aid = factory.assessment(member, levels=3, submit=True)
    values = {"responsible": "Ana", "due_date": None, "status": "todo", "note": ""}

    def work(s, registry):
        user = s.merge(member)
        first = svc.update_plan(s, registry, user, aid, [svc.PlanChange("access_documents", values, seen_version=0)])
        stale = svc.update_plan(s, registry, user, aid, [
            svc.PlanChange("access_documents", {**values, "responsible": "Luis"}, seen_version=0),
            svc.PlanChange("policy_target_population", values, seen_version=0)])
        return first, stale

    first, stale = with_session(app, work)
    assert first.saved == ["access_documents"] and not first.conflicts
    assert stale.saved == ["policy_target_population"]
    assert stale.conflicts["access_documents"]["current"] == 1
    assert stale.conflicts["access_documents"]["stored"]["responsible"] == "Ana"


# ----------------------------------------------------------------------------- instrument titles, counts


def test_home_and_start_page_name_the_instrument_by_its_title(app, member_client, member, factory, rubric):
    factory.assessment(member, levels=3, submit=True)
    for lang in ("es", "en", "pt"):
        set_language(member_client, lang)
        home = text(member_client.get("/"))
        assert f"{INSTRUMENT} v" not in home
        assert rubric.title(lang) in home
        start = text(member_client.get("/assessments/new"))
        assert f"{INSTRUMENT} v" not in start and "— v1" not in start
        assert rubric.title(lang) in start
        assert tr(lang, "version %(version)s") % {"version": rubric.version} in start


def test_submitting_with_one_criterion_missing_says_so_in_the_singular(app, member_client, member, factory, rubric):
    levels = {c.id: 3 for c in rubric.criteria if c.id != "access_documents"}
    aid = factory.assessment(member, levels=levels)
    set_language(member_client, "en")
    review = member_client.get(f"/assessments/{aid}/review").get_data(as_text=True)
    version = re.search(r'name="version"[^>]*value="(\d+)"', review) or re.search(r'value="(\d+)"[^>]*name="version"', review)
    response = member_client.post(f"/assessments/{aid}/submit", data={"version": version.group(1)}, follow_redirects=True)
    assert "1 criterion has no answer yet." in text(response)
