"""Members: returned drafts, one draft at a time, discarding a draft, target levels, plan due dates."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from babel.dates import format_date
from sqlalchemy import select, update

from rubric_app.extensions import db
from rubric_app.models import Answer, Assessment, AuditEntry, PlanEdit, ReviewEvent
from tests.conftest import PASSWORD, Factory, login

from .helpers import INSTRUMENT, assessment_row, count, csrf_token, hidden_fields, page_fields, parse_form, text, tr

START = {"instrument": f"{INSTRUMENT}@1.1", "language": "es", "from_previous": "0"}


def with_session(app, work):
    """Run ``work(session, registry)`` in a session of its own and return what it returns."""
    with app.app_context():
        s = db.new_session()
        try:
            return work(s, app.extensions["instruments"])
        finally:
            s.close()


def return_assessment(app, factory, assessment_id, comment, criterion_comment=None):
    """A reviewer returns a submitted assessment (optionally with a comment at access_documents)."""
    from rubric_app.services import review

    reviewer = factory.user("reviewer")

    def work(s, registry):
        user = s.merge(reviewer)
        if criterion_comment:
            review.save_review(s, registry, user, assessment_id, [review.ReviewEntry("access_documents", 2, criterion_comment)])
        review.return_to_institution(s, user, assessment_id, comment)

    with_session(app, work)


def submit(app, member, assessment_id):
    from rubric_app.services import assessments as svc

    with_session(app, lambda s, registry: svc.submit(s, registry, s.merge(member), assessment_id))


def version_of(app, assessment_id) -> int:
    return with_session(app, lambda s, _r: s.get(Assessment, assessment_id).version)


def exists(app, assessment_id) -> bool:
    return count(app, Assessment, id=assessment_id) == 1


def medium_date(day: date, lang: str = "es") -> str:
    return format_date(day, format="medium", locale=lang)


# ----------------------------------------------------------------------------- returned for changes


def test_returned_draft_shows_badge_and_comment_on_home_and_review_page(app, member_client, member, factory):
    returned = factory.assessment(member, levels=3, submit=True)
    comment = "Adjunten el protocolo de admisión firmado"
    return_assessment(app, factory, returned, comment, criterion_comment="Falta el registro de matrícula")
    today = medium_date(datetime.now(timezone.utc).date())

    home = text(member_client.get("/"))
    assert tr("es", "Returned for changes") in home
    assert comment in home and today in home
    row = home[home.index(f"/assessments/{returned}"):]
    assert 'class="badge returned"' in home and 'class="badge draft"' not in home  # the only assessment is returned, not "draft"
    assert f"/assessments/{returned}/review" in row

    review = member_client.get(f"/assessments/{returned}/review")
    assert review.status_code == 200
    page = text(review)
    heading = page[page.index("<h1>"):page.index("</h1>")]
    assert 'class="badge returned"' in heading and tr("es", "Returned for changes") in heading
    assert comment in page and today in page
    assert tr("es", "Returned for changes on %(date)s:") % {"date": today} in page
    assert "Falta el registro de matrícula" in page  # the reviewer's comment at the criterion
    assert 'class="badge returned"' in text(member_client.get(f"/assessments/{returned}/results"))


def test_a_draft_is_returned_only_until_it_is_submitted_again(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    return_assessment(app, factory, aid, "Revisen la dimensión 2")
    assert 'class="badge returned"' in text(member_client.get("/"))
    submit(app, member, aid)
    home = text(member_client.get("/"))
    assert 'class="badge returned"' not in home and "Revisen la dimensión 2" not in home
    assert 'class="badge returned"' not in text(member_client.get(f"/assessments/{aid}/review"))


def test_a_plain_draft_is_a_draft_not_returned(member_client, member, factory):
    aid = factory.assessment(member, levels=3)
    home = text(member_client.get("/"))
    assert 'class="badge draft"' in home and 'class="badge returned"' not in home
    page = text(member_client.get(f"/assessments/{aid}/review"))
    assert 'class="badge draft"' in page and "return-note" not in page


def test_return_notes_of_a_list_agree_with_return_note(app, member, factory):
    from rubric_app.services import assessments as svc

    returned = factory.assessment(member, levels=3, submit=True)
    return_assessment(app, factory, returned, "Otra vez")
    draft = factory.assessment(member)
    submitted = factory.assessment(member, levels=3, submit=True)

    def work(s, _registry):
        rows = [s.get(Assessment, i) for i in (returned, draft, submitted)]
        notes = svc.return_notes(s, rows)
        return {k: v.comment for k, v in notes.items()}, svc.return_note(rows[0]).comment, svc.return_note(rows[1])

    notes, single, none = with_session(app, work)
    assert notes == {returned: "Otra vez"} and single == "Otra vez" and none is None


# ----------------------------------------------------------------------------- one draft at a time


def test_a_second_start_goes_to_the_draft_in_progress(app, member_client, member, factory):
    draft = factory.assessment(member, levels={"policy_target_population": 2})
    for response in (member_client.get("/assessments/new"), member_client.post("/assessments/new", data=START)):
        assert response.status_code == 302
        assert response.headers["Location"] == f"/assessments/{draft}/review"
    assert count(app, Assessment) == 1
    page = text(member_client.post("/assessments/new", data=START, follow_redirects=True))
    assert tr("es", "Your institution already has a self-assessment in progress: continue it here, or discard it to start a new one.") in page
    assert f"/assessments/{draft}/discard" in page  # the way out is on the page
    assert count(app, Assessment) == 1


def test_a_returned_draft_is_the_draft_in_progress(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    return_assessment(app, factory, aid, "Corrijan")
    assert member_client.post("/assessments/new", data=START).headers["Location"] == f"/assessments/{aid}/review"
    assert count(app, Assessment) == 1


def test_start_works_again_once_the_draft_is_submitted(app, member_client, member, factory):
    first = factory.assessment(member, levels=3, submit=True)
    response = member_client.post("/assessments/new", data=START)
    aid = int(re.fullmatch(r"/assessments/(\d+)", response.headers["Location"]).group(1))
    assert aid != first and assessment_row(app, aid)["round"] == 2


def test_another_institution_draft_does_not_block_a_start(app, member_client, factory):
    factory.assessment(factory.user("member"))
    assert re.fullmatch(r"/assessments/\d+", member_client.post("/assessments/new", data=START).headers["Location"])
    assert count(app, Assessment) == 2


def test_the_service_refuses_a_second_draft_under_its_lock(app, member, factory):
    from rubric_app.services import assessments as svc

    draft = factory.assessment(member)

    def work(s, registry):
        with pytest.raises(svc.DraftInProgress) as refused:
            svc.start_assessment(s, registry, s.merge(member), instrument_id=INSTRUMENT, one_draft=True)
        return refused.value.draft_id, refused.value.status

    assert with_session(app, work) == (draft, 409)
    assert count(app, Assessment) == 1


# ----------------------------------------------------------------------------- discard


def test_discard_own_draft_deletes_it_with_answers_and_plan_and_audits(app, member_client, member, factory):
    from rubric_app.services import assessments as svc

    aid = factory.assessment(member, levels=3)
    with_session(app, lambda s, registry: svc.update_plan_item(s, registry, s.merge(member), aid, "access_documents",
                                                               responsible="Ana", seen_version=0))
    later = factory.assessment(member)  # a second draft made by a script: it followed on from this one
    assert assessment_row(app, later)["previous_id"] == aid

    confirm = member_client.get(f"/assessments/{aid}/discard")
    assert confirm.status_code == 200
    page = text(confirm)
    assert tr("es", "Discard this draft?") in page and 'method="post"' in page
    assert exists(app, aid)  # the confirmation page changes nothing
    fields = parse_form(confirm.get_data(as_text=True), None)
    assert fields["version"] == str(version_of(app, aid))
    response = member_client.post(f"/assessments/{aid}/discard", data=hidden_fields(confirm.data))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert tr("es", "The draft was discarded.") in text(member_client.get("/"))

    assert not exists(app, aid)
    assert count(app, Answer, assessment_id=aid) == 0 and count(app, PlanEdit, assessment_id=aid) == 0
    assert count(app, ReviewEvent, assessment_id=aid) == 0
    assert assessment_row(app, later)["previous_id"] is None

    def audit(s, _registry):
        return [(e.field, e.old, e.new, e.subject, e.user_id, e.assessment_id)
                for e in s.scalars(select(AuditEntry).where(AuditEntry.new == "discarded"))], \
            s.scalar(select(AuditEntry.subject).where(AuditEntry.field == "level").limit(1))

    entries, level_subject = with_session(app, audit)
    subject = f"assessment:{aid} institution:{member.institution_id}"
    assert entries == [("status", "draft", "discarded", subject, member.id, None)]
    assert level_subject == subject  # the draft's level history is kept, detached


def test_discard_refuses_another_institutions_draft(app, member_client, factory):
    other = factory.assessment(factory.user("member"), levels=3)
    version = version_of(app, other)
    assert member_client.get(f"/assessments/{other}/discard").status_code == 404
    assert member_client.post(f"/assessments/{other}/discard", data={"version": version}).status_code == 404
    assert exists(app, other)


def test_discard_refuses_submitted_and_validated_assessments(app, member_client, member, factory):
    from rubric_app.services import review

    submitted = factory.assessment(member, levels=3, submit=True)
    validated = factory.assessment(member, levels=3, submit=True)
    reviewer = factory.user("reviewer")

    def validate(s, registry):
        rows = s.scalars(select(Answer).where(Answer.assessment_id == validated)).all()
        review.save_review(s, registry, s.merge(reviewer), validated, [review.ReviewEntry(r.criterion_id, r.level) for r in rows],
                           then_validate=True)

    with_session(app, validate)
    assert assessment_row(app, validated)["status"] == "validated"
    for aid in (submitted, validated):
        assert member_client.get(f"/assessments/{aid}/discard").status_code == 409
        assert member_client.post(f"/assessments/{aid}/discard", data={"version": version_of(app, aid)}).status_code == 409
        assert exists(app, aid)
    assert f"/assessments/{submitted}/discard" not in text(member_client.get(f"/assessments/{submitted}/review"))


def test_discard_refuses_a_draft_submitted_after_the_page_was_opened(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3)
    fields = page_fields(member_client, f"/assessments/{aid}/discard")
    submit(app, member, aid)
    assert member_client.post(f"/assessments/{aid}/discard", data=fields).status_code == 409
    assert assessment_row(app, aid)["status"] == "submitted"


def test_discard_with_a_stale_version_is_a_conflict(app, member_client, member, factory):
    from rubric_app.domain.scoring import CriterionAnswer
    from rubric_app.services import assessments as svc

    aid = factory.assessment(member, levels=3)
    fields = page_fields(member_client, f"/assessments/{aid}/discard")
    with_session(app, lambda s, registry: svc.save_answers(s, registry, s.merge(member), s.get(Assessment, aid),
                                                           [CriterionAnswer("access_documents", 5)]))
    stale = member_client.post(f"/assessments/{aid}/discard", data=fields)
    assert stale.status_code == 409
    assert tr("es", "Someone changed this draft after you opened this page. Check it, then confirm again.") in text(stale)
    assert exists(app, aid)
    fresh = hidden_fields(stale.data)  # the page shows the current version: confirming again works
    assert fresh["version"] == str(version_of(app, aid)) != fields["version"]
    assert member_client.post(f"/assessments/{aid}/discard", data=fresh).status_code == 302
    assert not exists(app, aid)


def test_discard_without_a_version_or_by_other_roles_changes_nothing(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3)
    assert member_client.post(f"/assessments/{aid}/discard").status_code == 400
    assert member_client.post(f"/assessments/{aid}/discard", data={"version": "x"}).status_code == 400
    for role in ("reviewer", "staff", "admin"):
        other = factory.app.test_client()
        login(other, factory.user(role))
        assert other.get(f"/assessments/{aid}/discard").status_code == 403, role
        assert other.post(f"/assessments/{aid}/discard", data={"version": version_of(app, aid)}).status_code == 403, role
    anonymous = factory.app.test_client().post(f"/assessments/{aid}/discard", data={"version": version_of(app, aid)})
    assert anonymous.status_code == 302 and anonymous.headers["Location"].startswith("/login")
    assert exists(app, aid)


def test_discard_over_get_never_deletes(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3)
    version = version_of(app, aid)
    for _ in range(2):
        response = member_client.get(f"/assessments/{aid}/discard?version={version}")
        assert response.status_code == 200
    assert member_client.head(f"/assessments/{aid}/discard").status_code == 200
    assert exists(app, aid) and version_of(app, aid) == version


@pytest.fixture
def cfactory(csrf_app):
    return Factory(csrf_app)


def test_discard_without_csrf_token_is_refused(csrf_app, cfactory):
    member = cfactory.user("member")
    aid = cfactory.assessment(member, levels=3)
    browser = csrf_app.test_client()
    token = csrf_token(browser.get("/login").data)
    assert browser.post("/login", data={"email": member.email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    fields = page_fields(browser, f"/assessments/{aid}/discard")
    assert fields["csrf_token"] and fields["version"]
    assert browser.post(f"/assessments/{aid}/discard", data={"version": fields["version"]}).status_code == 400
    assert browser.post(f"/assessments/{aid}/discard", data={**fields, "csrf_token": "forged"}).status_code == 400
    assert count(csrf_app, Assessment, id=aid) == 1
    assert browser.post(f"/assessments/{aid}/discard", data=fields).status_code == 302
    assert count(csrf_app, Assessment, id=aid) == 0


def test_after_discarding_a_new_start_is_possible(app, member_client, member, factory):
    aid = factory.assessment(member)
    member_client.post(f"/assessments/{aid}/discard", data=page_fields(member_client, f"/assessments/{aid}/discard"))
    response = member_client.post("/assessments/new", data=START)
    new = int(re.fullmatch(r"/assessments/(\d+)", response.headers["Location"]).group(1))
    assert assessment_row(app, new)["round"] == 1 and assessment_row(app, new)["previous_id"] is None


# ----------------------------------------------------------------------------- target level


def test_target_list_keeps_every_level_and_names_its_level_field(member_client, member, factory):
    aid = factory.assessment(member, levels={"access_documents": 4})
    page = member_client.get(f"/assessments/{aid}/d/access").get_data(as_text=True)
    start = page.index('id="target-field-access_documents"')
    select = page[page.index("<select", start):page.index("</select>", start)]
    assert 'data-level-field="crit_access_documents"' in select
    assert re.findall(r'<option[^>]*value="([^"]*)"', select) == ["", "1", "2", "3", "4", "5"]
    assert "disabled" not in select  # the page still works without the script
    assert 'id="target-field-access_documents"' in page
    with member_client.get("/static/autosave.js") as response:
        script = response.get_data(as_text=True)
    assert "data-level-field" in script and "option.disabled" in script


def test_a_target_below_the_level_is_still_refused_by_the_server(app, member_client, member, factory):
    aid = factory.assessment(member)
    url = f"/assessments/{aid}/d/access"
    data = {**page_fields(member_client, url), "crit_access_documents": "4", "target_access_documents": "2"}
    assert member_client.post(url, data=data).status_code == 422
    assert "access_documents" not in assessment_row(app, aid)["answers"]


# ----------------------------------------------------------------------------- plan due dates


def _years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def post_plan(client, aid, due: str, **extra):
    prefix = "plan_access_documents-"
    fields = page_fields(client, f"/assessments/{aid}/results")
    return client.post(f"/assessments/{aid}/plan/access_documents", data={
        **fields, prefix + "responsible": "Ana", prefix + "due_date": due, prefix + "status": "todo", prefix + "note": "", **extra})


def test_plan_due_dates_out_of_bounds_are_refused_at_the_field(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    today = datetime.now(timezone.utc).date()
    message = tr("es", "Choose a due date from one year ago up to ten years from today.")
    for due in ("2001-05-01", (_years(today, -1) - timedelta(days=1)).isoformat(), (_years(today, 10) + timedelta(days=1)).isoformat()):
        response = post_plan(member_client, aid, due)
        assert response.status_code == 422, due
        page = text(response)
        field = page[page.index('id="plan-access_documents"'):]
        field = field[:field.index("</article>")]
        assert message in field, due
        assert 'aria-describedby="plan_access_documents-due_date-err"' in field
        assert f'value="{due}"' in field and 'value="Ana"' in field  # the person's values stay in the form
        assert assessment_row(app, aid)["plan"] == {}


@pytest.mark.parametrize("offset", ["lowest", "soon", "highest"])
def test_plan_due_dates_in_bounds_are_saved(app, member_client, member, factory, offset):
    aid = factory.assessment(member, levels=3, submit=True)
    today = datetime.now(timezone.utc).date()
    due = {"lowest": _years(today, -1), "soon": today + timedelta(days=30), "highest": _years(today, 10)}[offset]
    assert post_plan(member_client, aid, due.isoformat()).status_code == 302
    assert assessment_row(app, aid)["plan"]["access_documents"]["due_date"] == due


def test_an_item_keeping_an_old_due_date_stays_editable(app, member_client, member, factory):
    aid = factory.assessment(member, levels=3, submit=True)
    today = datetime.now(timezone.utc).date()
    assert post_plan(member_client, aid, today.isoformat()).status_code == 302
    old = date(2020, 6, 30)
    with_session(app, lambda s, _r: (s.execute(update(PlanEdit).where(PlanEdit.assessment_id == aid).values(due_date=old)), s.commit()))
    page = member_client.get(f"/assessments/{aid}/results").get_data(as_text=True)
    assert f'min="{old.isoformat()}"' in page  # the date picker does not block the stored date
    response = post_plan(member_client, aid, old.isoformat(), **{"plan_access_documents-status": "done"})
    assert response.status_code == 302
    assert assessment_row(app, aid)["plan"]["access_documents"]["status"] == "done"
    assert post_plan(member_client, aid, "2020-07-01").status_code == 422  # a new date must be in bounds


def test_the_service_refuses_due_dates_out_of_bounds(app, member, factory):
    from rubric_app.services import Invalid
    from rubric_app.services import assessments as svc

    aid = factory.assessment(member, levels=3, submit=True)

    def work(s, registry):
        with pytest.raises(Invalid) as refused:
            svc.update_plan_item(s, registry, s.merge(member), aid, "access_documents", due_date=date(2001, 1, 1))
        return refused.value.message, refused.value.details[0]["field"]

    assert with_session(app, work) == (svc.DUE_DATE_MESSAGE, "due_date")
    assert svc.due_date_bounds(date(2028, 2, 29)) == (date(2027, 2, 28), date(2038, 2, 28))
