"""Reviewer validation: queue, review page (save, validate, return), audit log, what the member sees."""
from __future__ import annotations

import csv
import html
import io
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from rubric_app.extensions import db
from rubric_app.models import Answer, Assessment, AuditEntry, ReviewEvent
from tests.conftest import login

from .helpers import assessment_row, count, dimension_data, hidden_fields, page_fields, text, tr

SELECT_RE = re.compile(r'<select id="level_([\w-]+)" name="level_\1"[^>]*>(.*?)</select>', re.DOTALL)
OPTION_RE = re.compile(r'<option value="([^"]*)"\s*(selected)?')
COMMENT_RE = re.compile(r'<input id="comment_([\w-]+)" name="comment_\1"[^>]*?value="([^"]*)"')


# ----------------------------------------------------------------------------- helpers


def client_for(app, user):
    """A test client of its own, signed in as ``user``."""
    c = app.test_client()
    login(c, user)
    return c


def prefilled(page: str) -> dict:
    """What the review form posts as it is shown: the selected level of every select (the first option
    when none is selected, as a browser does) and every comment field."""
    data = {}
    for cid, body in SELECT_RE.findall(page):
        options = OPTION_RE.findall(body)
        data[f"level_{cid}"] = next((value for value, selected in options if selected), options[0][0])
    for cid, value in COMMENT_RE.findall(page):
        data[f"comment_{cid}"] = html.unescape(value)
    return data


def review_form(c, assessment_id: int) -> dict:
    """The review form as the page shows it: its hidden fields (CSRF token, the assessment's version) and prefilled values."""
    response = c.get(f"/review/{assessment_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    return {**hidden_fields(page), **prefilled(page)}


def return_form(c, assessment_id: int, comment: str) -> dict:
    """The review page posted with "return as a draft"."""
    return {**review_form(c, assessment_id), "action": "return", "return_comment": comment}


def member_edits_and_resubmits(c, assessment_id: int, dimension_id: str, data: dict) -> None:
    """The member saves one dimension page and submits again, each from the page a browser has open."""
    url = f"/assessments/{assessment_id}/d/{dimension_id}"
    assert c.post(url, data={**page_fields(c, url), **data}).status_code == 302
    submitted = c.post(f"/assessments/{assessment_id}/submit", data=page_fields(c, f"/assessments/{assessment_id}/review"))
    assert submitted.status_code == 302 and submitted.headers["Location"] == f"/assessments/{assessment_id}/results"


def review_rows(app, assessment_id: int) -> dict:
    """criterion id -> (self level, validated level, review comment)."""
    with app.app_context():
        s = db.new_session()
        try:
            rows = s.scalars(select(Answer).where(Answer.assessment_id == assessment_id)).all()
            return {r.criterion_id: (r.level, r.validated_level, r.review_comment) for r in rows}
        finally:
            s.close()


def stored(app, assessment_id: int) -> dict:
    with app.app_context():
        s = db.new_session()
        try:
            a = s.get(Assessment, assessment_id)
            return {"status": a.status, "validated_scores": a.validated_scores, "level_pairs": a.level_pairs,
                    "reviewed_by_id": a.reviewed_by_id,
                    "events": [(e.action, e.comment, e.user_id) for e in s.scalars(
                        select(ReviewEvent).where(ReviewEvent.assessment_id == assessment_id).order_by(ReviewEvent.id))]}
        finally:
            s.close()


def audit_rows(app, assessment_id: int, field: str) -> list[tuple]:
    with app.app_context():
        s = db.new_session()
        try:
            entries = s.scalars(select(AuditEntry).where(AuditEntry.assessment_id == assessment_id, AuditEntry.field == field)
                                .order_by(AuditEntry.id))
            return [(e.criterion_id, e.old, e.new, e.comment, e.user_id) for e in entries]
        finally:
            s.close()


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages)


def section(page: str, heading: str) -> str:
    start = page.index(heading)
    return page[start:page.index("</section>", start)]


def fieldset(page: str, criterion_id: str) -> str:
    start = page.index(f'id="c-{criterion_id}"')
    return page[start:page.index("</fieldset>", start)]


@pytest.fixture
def reviewer(factory):
    return factory.user("reviewer")


@pytest.fixture
def case(app, factory, rubric):
    """One institution (AR) whose member submitted every criterion at level 3, except
    policy_resources_gender answered "not applicable"."""
    inst = factory.institution(name="Instituto Andino de Oficios", country="AR")
    member = factory.user("member", institution=inst)
    aid = factory.assessment(member, levels=3, submit=True, na=("policy_resources_gender",))
    return {"institution": inst, "member": member, "id": aid}


@pytest.fixture
def rc(app, reviewer):
    """The reviewer's client."""
    return client_for(app, reviewer)


# ----------------------------------------------------------------------------- queue


def queue_ids(response) -> set[int]:
    assert response.status_code == 200
    return {int(x) for x in re.findall(r'href="/review/(\d+)"', response.get_data(as_text=True))}


@pytest.fixture
def queue_case(app, factory, reviewer):
    """AR: submitted round 1 and its round 2 submitted; CO: submitted and validated; PE: draft."""
    from rubric_app.services import review as rsvc

    ar = factory.user("member", institution=factory.institution(name="Cola AR", country="AR"))
    co1 = factory.user("member", institution=factory.institution(name="Cola CO uno", country="CO"))
    co2 = factory.user("member", institution=factory.institution(name="Cola CO dos", country="CO"))
    pe = factory.user("member", institution=factory.institution(name="Cola PE borrador", country="PE"))
    ids = {
        "ar1": factory.assessment(ar, levels=2, submit=True),
        "co1": factory.assessment(co1, levels=3, submit=True),
        "co2": factory.assessment(co2, levels=4, submit=True),
        "pe": factory.assessment(pe, levels=2, submit=False),
    }
    ids["ar2"] = factory.assessment(ar, levels=3, submit=True)
    with app.app_context():
        s = db.new_session()
        a = s.get(Assessment, ids["co2"])
        user = s.merge(reviewer)
        rsvc.save_review(s, app.extensions["instruments"], user, a, [rsvc.ReviewEntry(r.criterion_id, r.level) for r in a.answers])
        rsvc.validate(s, app.extensions["instruments"], user, a)
        s.close()
    return ids


def test_queue_lists_submitted_and_validated_assessments_but_not_drafts(rc, queue_case):
    response = rc.get("/review")
    ids = queue_ids(response)
    assert ids == {queue_case[k] for k in ("ar1", "ar2", "co1", "co2")}
    page = text(response)
    assert "Cola CO dos" in page and "Cola PE borrador" not in page


def test_queue_filters_by_country_status_and_round(rc, queue_case):
    q = queue_case
    assert queue_ids(rc.get("/review?country=CO")) == {q["co1"], q["co2"]}
    assert queue_ids(rc.get("/review?country=co")) == {q["co1"], q["co2"]}
    assert queue_ids(rc.get("/review?status=validated")) == {q["co2"]}
    assert queue_ids(rc.get("/review?status=submitted")) == {q["ar1"], q["ar2"], q["co1"]}
    assert queue_ids(rc.get("/review?round=2")) == {q["ar2"]}
    assert queue_ids(rc.get("/review?country=AR&round=1")) == {q["ar1"]}
    assert queue_ids(rc.get("/review?country=PE")) == set()


# ----------------------------------------------------------------------------- access


@pytest.mark.parametrize("role", ["member", "staff"])
def test_members_and_staff_get_403_on_every_review_page(app, factory, case, role):
    user = case["member"] if role == "member" else factory.user("staff")
    c = client_for(app, user)
    aid = case["id"]
    for url in ("/review", "/review?country=AR", f"/review/{aid}", "/review/audit", "/review/audit.csv", f"/review/audit?assessment={aid}"):
        assert c.get(url).status_code == 403, url
    form = {"action": "validate", **{f"level_{cid}": "1" for cid in review_rows(app, aid)}}
    assert c.post(f"/review/{aid}", data=form).status_code == 403
    assert c.post(f"/review/{aid}", data={"action": "return", "return_comment": "no"}).status_code == 403
    assert stored(app, aid)["status"] == "submitted"
    assert all(v is None for _lvl, v, _c in review_rows(app, aid).values())


def test_anonymous_visitors_are_sent_to_sign_in(client, case):
    for url in ("/review", f"/review/{case['id']}", "/review/audit", "/review/audit.csv"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


@pytest.mark.parametrize("role", ["reviewer", "admin"])
def test_reviewers_and_admins_open_the_review_pages(app, factory, case, role):
    c = client_for(app, factory.user(role))
    aid = case["id"]
    for url in ("/review", f"/review/{aid}", "/review/audit", "/review/audit.csv"):
        assert c.get(url).status_code == 200, url
    page = text(c.get(f"/review/{aid}"))
    assert "Instituto Andino de Oficios" in page
    assert "evidence policy_target_population" in page  # the institution's evidence is shown to the reviewer


def test_a_draft_or_unknown_assessment_is_404_for_reviewers(app, factory, rc, case):
    draft = factory.assessment(factory.user("member", country="CO"), levels=2, submit=False)
    assert rc.get(f"/review/{draft}").status_code == 404
    assert rc.post(f"/review/{draft}", data={"action": "return", "return_comment": "x"}).status_code == 404
    assert rc.get("/review/999999").status_code == 404
    assert assessment_row(app, draft)["status"] == "draft"


# ----------------------------------------------------------------------------- saving a review


def test_form_prefills_the_self_assessed_levels(rc, case, rubric):
    form = review_form(rc, case["id"])
    levels = {k[6:]: v for k, v in form.items() if k.startswith("level_")}
    assert set(levels) == {c.id for c in rubric.criteria}
    assert levels.pop("policy_resources_gender") == ""  # not applicable stays not applicable
    assert set(levels.values()) == {"3"}


def test_a_changed_level_without_comment_is_refused_and_nothing_is_saved(app, rc, case):
    aid = case["id"]
    form = review_form(rc, aid)
    form.update({"action": "save", "level_policy_target_population": "2", "comment_policy_target_population": "",
                 "level_access_documents": "4", "comment_access_documents": "Protocol seen on site"})
    response = rc.post(f"/review/{aid}", data=form)
    assert response.status_code == 422
    page = text(response)
    message = tr("es", "A comment is required where the validated level differs from the self-assessed one.")
    assert message in fieldset(page, "policy_target_population")
    assert message not in fieldset(page, "access_documents")
    # all or nothing: not even the commented change was stored
    assert all(v is None and c == "" for _lvl, v, c in review_rows(app, aid).values())
    assert audit_rows(app, aid, "validated_level") == []
    assert stored(app, aid)["status"] == "submitted"
    # a whitespace-only comment is no comment
    form["comment_policy_target_population"] = "   "
    assert rc.post(f"/review/{aid}", data=form).status_code == 422
    assert audit_rows(app, aid, "validated_level") == []


def test_saving_with_comments_stores_levels_and_audits_every_change(app, rc, reviewer, case, rubric):
    aid = case["id"]
    form = review_form(rc, aid)
    form.update({"action": "save", "level_policy_target_population": "2",
                 "comment_policy_target_population": "No written policy names migrants"})
    response = rc.post(f"/review/{aid}", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/review/{aid}")
    rows = review_rows(app, aid)
    assert rows["policy_target_population"] == (3, 2, "No written policy names migrants")
    assert rows["policy_resources_gender"] == (None, None, "")
    assert all(v == 3 for cid, (_l, v, _c) in rows.items() if cid not in ("policy_target_population", "policy_resources_gender"))
    audit = audit_rows(app, aid, "validated_level")
    # one entry per criterion whose validated level changed (none -> a level): 17 answered with a level
    assert len(audit) == 17
    assert ("policy_target_population", None, "2", "No written policy names migrants", reviewer.id) in audit
    assert {a[0] for a in audit} == {c.id for c in rubric.criteria} - {"policy_resources_gender"}
    assert all(a[4] == reviewer.id for a in audit)
    assert stored(app, aid)["status"] == "submitted"

    # a second save changing one level writes exactly one more entry, old -> new
    form = review_form(rc, aid)
    assert form["level_policy_target_population"] == "2"  # the form now shows the validated level
    form.update({"action": "save", "level_access_retention": "4", "comment_access_retention": "Childcare schedule in place"})
    assert rc.post(f"/review/{aid}", data=form).status_code == 302
    audit = audit_rows(app, aid, "validated_level")
    assert len(audit) == 18
    assert audit[-1] == ("access_retention", "3", "4", "Childcare schedule in place", reviewer.id)
    assert review_rows(app, aid)["access_retention"] == (3, 4, "Childcare schedule in place")


def test_validate_needs_a_validated_level_for_every_answered_criterion(app, rc, case):
    aid = case["id"]
    form = review_form(rc, aid)
    form["action"] = "validate"
    del form["level_relevance_entrepreneurship"]
    response = rc.post(f"/review/{aid}", data=form)
    assert response.status_code == 422
    assert 'class="error"' in fieldset(text(response), "relevance_entrepreneurship")
    assert 'class="error"' not in fieldset(text(response), "relevance_needs_demand")
    row = stored(app, aid)
    assert row["status"] == "submitted" and row["validated_scores"] is None
    assert all(v is None for _l, v, _c in review_rows(app, aid).values())


def test_missing_validated_level_is_reported_as_such(app, rc, case):
    aid = case["id"]
    form = review_form(rc, aid)
    form["action"] = "validate"
    del form["level_relevance_entrepreneurship"]
    response = rc.post(f"/review/{aid}", data=form)
    assert response.status_code == 422
    assert tr("es", "Choose a validated level from 1 to 5.") in fieldset(text(response), "relevance_entrepreneurship")


def validate_with_changes(rc, aid):
    """Validate through the form: policy_target_population 3 -> 2, access_documents 3 -> 4, access_retention 3 -> 1."""
    form = review_form(rc, aid)
    form.update({
        "action": "validate", "validate_comment": "Checked against the documents",
        "level_policy_target_population": "2", "comment_policy_target_population": "Only an informal commitment",
        "level_access_documents": "4", "comment_access_documents": "Accepts CPP and refugee cards",
        "level_access_retention": "1", "comment_access_retention": "No retention support found",
    })
    return rc.post(f"/review/{aid}", data=form)


def test_validation_stores_hand_computed_validated_scores(app, rc, reviewer, case):
    aid = case["id"]
    response = validate_with_changes(rc, aid)
    assert response.status_code == 302 and response.headers["Location"].endswith("/review")
    row = stored(app, aid)
    assert row["status"] == "validated" and row["reviewed_by_id"] == reviewer.id
    # policy: 2 and 3 (third criterion not applicable) -> 2.50; access: 4, 3, 1 -> 8/3 = 2.67; others 3.00
    # index: (2.50 + 2.67 + 4 * 3.00) / 6 = 2.861666.. -> (s - 1) / 4 * 100 = 46.54 -> 46.5
    expected = {"policy": "2.50", "access": "2.67", "relevance": "3.00", "recognition": "3.00", "people": "3.00",
                "articulation": "3.00", "index": "46.5"}
    assert {k: Decimal(v) for k, v in row["validated_scores"].items()} == {k: Decimal(v) for k, v in expected.items()}
    assert row["level_pairs"]["policy"] == [[3, 2], [3, 3]]
    assert sorted(map(tuple, row["level_pairs"]["access"])) == [(3, 1), (3, 3), (3, 4)]
    assert [(a, c) for a, c, _u in row["events"]] == [("submitted", ""), ("validated", "Checked against the documents")]
    assert audit_rows(app, aid, "status")[-1][1:3] == ("submitted", "validated")
    # once validated the review is closed: a post is sent back to the page with the reason, and changes nothing
    form = review_form(rc, aid)
    assert 'name="action" value="validate"' not in rc.get(f"/review/{aid}").get_data(as_text=True)
    before = review_rows(app, aid)
    closed = rc.post(f"/review/{aid}", data={**form, "action": "save", "level_policy_equal_treatment": "5",
                                             "comment_policy_equal_treatment": "Too late"})
    assert closed.status_code == 302 and closed.headers["Location"].endswith(f"/review/{aid}")
    assert tr("es", "This assessment has been validated; it can no longer change.") in text(rc.get(closed.headers["Location"]))
    assert review_rows(app, aid) == before and stored(app, aid)["status"] == "validated"


# ----------------------------------------------------------------------------- return to the institution


def test_return_requires_a_comment(app, rc, case):
    aid = case["id"]
    for comment in ("", "   "):
        response = rc.post(f"/review/{aid}", data=return_form(rc, aid, comment))
        assert response.status_code == 422
        assert tr("es", "Say what the institution should revise: a comment is required.") in text(response)
    assert stored(app, aid)["status"] == "submitted"
    assert [e[0] for e in stored(app, aid)["events"]] == ["submitted"]


def test_returned_draft_is_editable_shows_comments_keeps_history_and_can_be_validated_again(app, rc, case, dims):
    aid, member = case["id"], case["member"]
    # the reviewer comments one criterion, then returns the assessment
    form = review_form(rc, aid)
    form.update({"action": "save", "level_access_documents": "2", "comment_access_documents": "Ask for the admission rules on CPP"})
    assert rc.post(f"/review/{aid}", data=form).status_code == 302
    response = rc.post(f"/review/{aid}", data=return_form(rc, aid, "Please attach evidence for access"))
    assert response.status_code == 302
    row = stored(app, aid)
    assert row["status"] == "draft" and row["validated_scores"] is None
    assert [(a, c) for a, c, _u in row["events"]] == [("submitted", ""), ("returned", "Please attach evidence for access")]
    assert audit_rows(app, aid, "status")[-1][1:4] == ("submitted", "draft", "Please attach evidence for access")
    assert aid not in queue_ids(rc.get("/review"))
    assert rc.get(f"/review/{aid}").status_code == 404

    mc = client_for(app, member)
    page = text(mc.get(f"/assessments/{aid}/d/access"))
    assert "Please attach evidence for access" in page
    assert "Ask for the admission rules on CPP" in fieldset(page, "access_documents")
    results = mc.get(f"/assessments/{aid}/results")
    assert results.status_code == 200 and "Please attach evidence for access" in text(results)

    # the member edits the criterion the reviewer questioned and re-submits
    data = dimension_data(dims["access"], level="3", crit_access_documents="4", evidence_access_documents="Admission rules 2025, art. 4")
    member_edits_and_resubmits(mc, aid, "access", data)
    answers = assessment_row(app, aid)["answers"]
    assert (answers["access_documents"]["level"], answers["access_documents"]["evidence"]) == (4, "Admission rules 2025, art. 4")
    assert stored(app, aid)["status"] == "submitted"
    assert aid in queue_ids(rc.get("/review?status=submitted"))

    # the reviewer validates the new answers from the pre-filled form
    form = review_form(rc, aid)
    # the changed self-assessed level needs a fresh review: the form offers it; the comment is kept
    assert form["level_access_documents"] == "4"
    assert form["comment_access_documents"] == "Ask for the admission rules on CPP"
    form["level_access_documents"] = "2"  # the reviewer still validates level 2
    form["action"] = "validate"
    assert rc.post(f"/review/{aid}", data=form).status_code == 302
    row = stored(app, aid)
    assert row["status"] == "validated"
    assert [a for a, _c, _u in row["events"]] == ["submitted", "returned", "submitted", "validated"]
    # access validated 2, 3, 3 -> 2.67
    assert Decimal(row["validated_scores"]["access"]) == Decimal("2.67")


def test_revalidating_after_the_institution_changed_levels_works_from_the_prefilled_form(app, rc, case, dims):
    aid, member = case["id"], case["member"]
    form = review_form(rc, aid)
    form["action"] = "save"
    assert rc.post(f"/review/{aid}", data=form).status_code == 302  # reviewer saves without changing anything
    assert rc.post(f"/review/{aid}", data=return_form(rc, aid, "Raise access if you can prove it")).status_code == 302
    mc = client_for(app, member)
    member_edits_and_resubmits(mc, aid, "access", dimension_data(dims["access"], level="4"))
    assert {cid: a["level"] for cid, a in assessment_row(app, aid)["answers"].items() if cid.startswith("access_")} == {
        "access_documents": 4, "access_admission_protocol": 4, "access_retention": 4}
    form = review_form(rc, aid)
    form["action"] = "validate"
    response = rc.post(f"/review/{aid}", data=form)
    assert response.status_code == 302
    assert Decimal(stored(app, aid)["validated_scores"]["access"]) == Decimal("4.00")


def test_member_sees_validated_scores_and_reviewer_comments_on_results_and_pdf(app, rc, case):
    aid = case["id"]
    assert validate_with_changes(rc, aid).status_code == 302
    mc = client_for(app, case["member"])
    response = mc.get(f"/assessments/{aid}/results")
    assert response.status_code == 200
    page = text(response)
    validated = section(page, tr("es", "Validated by the reviewer"))
    for figure in ("2,50", "2,67", "46,5", "50,0"):  # es: decimal comma; self index 50.0
        assert figure in validated, figure
    comments = section(page, tr("es", "Reviewer's levels and comments"))
    for comment in ("Only an informal commitment", "Accepts CPP and refugee cards", "No retention support found"):
        assert comment in comments
    with mc.get(f"/assessments/{aid}/report.pdf") as pdf:
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
        body = pdf_text(pdf.data)
    assert tr("es", "Validated by the reviewer") in body
    for figure in ("2,50", "2,67", "46,5"):
        assert figure in body, figure
    for comment in ("Only an informal commitment", "Accepts CPP and refugee cards", "No retention support found"):
        assert comment in body, comment


def test_validated_pdf_is_not_labelled_a_draft(app, rc, case):
    aid = case["id"]
    assert validate_with_changes(rc, aid).status_code == 302
    with client_for(app, case["member"]).get(f"/assessments/{aid}/report.pdf?lang=en") as pdf:
        body = pdf_text(pdf.data)
    assert "This is a draft" not in body
    assert "Status Draft" not in body


# ----------------------------------------------------------------------------- audit log


def test_audit_log_page_lists_the_review_changes(app, rc, reviewer, case):
    aid = case["id"]
    assert validate_with_changes(rc, aid).status_code == 302
    page = text(rc.get(f"/review/audit?assessment={aid}"))
    assert reviewer.email in page and "Instituto Andino de Oficios" in page
    assert "Nivel validado" in page and "No retention support found" in page
    rubric = app.extensions["instruments"].latest("ifp-migrant-inclusion")
    title = next(c for c in rubric.criteria if c.id == "policy_target_population").title("es")
    assert title in page
    shown = re.sub(r"<[^>]+>", " ", page)
    assert "validated_level" not in shown and "policy_target_population" not in shown  # labels, never internal ids


def test_audit_csv_has_the_change_rows_and_escapes_formulas(app, rc, reviewer, case):
    aid = case["id"]
    form = review_form(rc, aid)
    form.update({"action": "save", "level_people_staff_training": "1", "comment_people_staff_training": "=HYPERLINK(\"http://x\")",
                 "level_people_outreach_migrants": "2", "comment_people_outreach_migrants": "-2 levels? no, one"})
    assert rc.post(f"/review/{aid}", data=form).status_code == 302
    response = rc.get("/review/audit.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.data.decode("utf-8")
    assert raw.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(raw.lstrip("\ufeff"))))
    changes = {r["criterion"]: r for r in rows if r["field"] == "validated_level"}
    assert len(changes) == 17
    staff_training = changes["people_staff_training"]
    assert (staff_training["user"], staff_training["institution"], staff_training["assessment"]) == (reviewer.email, "Instituto Andino de Oficios", str(aid))
    assert (staff_training["old"], staff_training["new"]) == ("", "1")
    assert staff_training["comment"] == "'=HYPERLINK(\"http://x\")"
    assert changes["people_outreach_migrants"]["comment"] == "'-2 levels? no, one"
    assert changes["policy_equal_treatment"]["new"] == "3"
    # the institution's own level changes and the submission are in the log too
    assert any(r["field"] == "status" and r["old"] == "draft" and r["new"] == "submitted" for r in rows)
    assert count(app, AuditEntry, assessment_id=aid, field="validated_level") == 17
