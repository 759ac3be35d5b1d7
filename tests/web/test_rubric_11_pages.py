"""Rubric 1.1 on the pages and in the API: new assessments on 1.1, 1.0 still answered and compared
on its own, "not applicable" refused where a criterion always applies, means of verification and
the country annex shown to the institution and to the reviewer."""
from __future__ import annotations

from rubric_app.domain.scoring import CriterionAnswer
from rubric_app.extensions import db
from rubric_app.models import Assessment
from tests.conftest import login

from .helpers import INSTRUMENT, assessment_row, bearer, page_fields, set_language, text, tr

FETCH = {"X-Requested-With": "fetch"}
NA_REFUSED = "This criterion applies to every institution: it cannot be marked not applicable. Choose a level from 1 to 5."


def fieldset(page: str, criterion_id: str) -> str:
    start = page.index(f'id="c-{criterion_id}"')
    return page[start:page.index("</fieldset>", start)]


def start(app, user, version=None, answers=(), submit=False):
    from rubric_app.services import assessments as svc

    with app.app_context():
        s = db.new_session()
        registry = app.extensions["instruments"]
        u = s.merge(user)
        a = svc.start_assessment(s, registry, u, instrument_id=INSTRUMENT, version=version, language="es")
        if answers:
            svc.save_answers(s, registry, u, a, answers)
        if submit:
            svc.submit(s, registry, u, a)
        aid = a.id
        s.close()
    return aid


def all_answers(rubric, level=3, na=()):
    return [CriterionAnswer(c.id, None, True, "No aplica aquí") if c.id in na else CriterionAnswer(c.id, level, False, "", None, "ev")
            for c in rubric.criteria]


def access_data(client, aid, **values):
    url = f"/assessments/{aid}/d/access"
    data = page_fields(client, url)
    for cid in ("access_documents", "access_admission_protocol", "access_retention"):
        data[f"crit_{cid}"] = "3"
    data.update(values)
    return url, data


# ----------------------------------------------------------------------------- versions


def test_new_assessments_use_1_1(app, member_client, member, factory, rubric):
    assert rubric.version == "1.1"
    page = text(member_client.get("/assessments/new"))
    assert f'value="{INSTRUMENT}@1.1"' in page and f'value="{INSTRUMENT}@1.0"' in page
    aid = factory.assessment(member)
    with app.app_context():
        stored = db.session.get(Assessment, aid)
        assert (stored.instrument_version, stored.instrument_hash) == ("1.1", rubric.hash)
    api_start = member_client.post("/api/v1/assessments", json={"instrument": INSTRUMENT, "language": "en"})
    assert api_start.status_code == 201, api_start.get_data(as_text=True)[:300]
    assert api_start.get_json()["instrument"]["version"] == "1.1"


def test_a_1_0_assessment_keeps_working(app, member_client, member, registry):
    r10 = registry.get(INSTRUMENT, "1.0")
    aid = start(app, member, version="1.0", answers=all_answers(r10, na=("access_documents",)))
    page = text(member_client.get(f"/assessments/{aid}/d/access"))
    # 1.0 allows "not applicable" everywhere, has no means of verification and no annex
    assert 'name="crit_access_documents" value="na" checked' in fieldset(page, "access_documents")
    assert 'class="verification"' not in page and 'class="country-note"' not in page
    response = member_client.post(f"/assessments/{aid}/submit", data=page_fields(member_client, f"/assessments/{aid}/review"))
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Assessment, aid).status == "submitted"
    assert member_client.get(f"/assessments/{aid}/results").status_code == 200


def test_next_round_from_a_1_0_assessment_drops_what_1_1_refuses(app, member, registry, rubric):
    r10 = registry.get(INSTRUMENT, "1.0")
    start(app, member, version="1.0", answers=all_answers(r10, level=2, na=("access_documents", "people_outreach_migrants")), submit=True)
    from rubric_app.services import assessments as svc

    with app.app_context():
        s = db.new_session()
        a = svc.start_assessment(s, app.extensions["instruments"], s.merge(member), instrument_id=INSTRUMENT, language="es",
                                 from_previous=True)
        aid = a.id
        s.close()
    answers = assessment_row(app, aid)["answers"]
    assert answers["access_documents"]["level"] is None and answers["access_documents"]["not_applicable"] is False
    assert answers["access_documents"]["evidence"] == ""  # it had none
    assert answers["people_outreach_migrants"]["not_applicable"] is True  # still allowed in 1.1
    assert answers["policy_target_population"]["level"] == 2


def test_comparing_1_0_with_1_1_is_refused(app, factory):
    r10_member = factory.user("member", country="AR")
    start(app, r10_member, version="1.0", answers=all_answers(app.extensions["instruments"].get(INSTRUMENT, "1.0")), submit=True)
    r11_member = factory.user("member", country="AR")
    start(app, r11_member, answers=all_answers(app.extensions["instruments"].latest(INSTRUMENT)), submit=True)
    reviewer = factory.user("reviewer")
    client = app.test_client()
    login(client, reviewer)
    response = client.get("/api/v1/comparison?countries=AR")
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert f"{INSTRUMENT} 1.0" in error["message"] and f"{INSTRUMENT} 1.1" in error["message"] and "cannot be compared" in error["message"]
    assert error["details"][0]["versions"] == [f"{INSTRUMENT} 1.0", f"{INSTRUMENT} 1.1"]
    # one version at a time is fine
    assert client.get("/api/v1/comparison?countries=AR&version=1.0").status_code == 200
    assert client.get("/api/v1/comparison?countries=AR&version=1.1").status_code == 200


# ----------------------------------------------------------------------------- not applicable


def test_dimension_page_offers_no_na_where_the_criterion_always_applies(member_client, member, factory, rubric):
    aid = factory.assessment(member)
    page = text(member_client.get(f"/assessments/{aid}/d/access"))
    for crit in rubric.dimension("access").criteria:
        box = fieldset(page, crit.id)
        assert (f'name="crit_{crit.id}" value="na"' in box) == crit.not_applicable_allowed
        assert (f'id="na_reason_{crit.id}"' in box) == crit.not_applicable_allowed
        assert ('class="muted always-applies"' in box) == (not crit.not_applicable_allowed)
    guidance = rubric.criterion("access_admission_protocol").guidance("es")
    assert guidance in fieldset(page, "access_admission_protocol")


def test_form_refuses_na_with_a_clear_error_at_the_criterion(app, member_client, member, factory):
    aid = factory.assessment(member)
    url, data = access_data(member_client, aid, crit_access_documents="na", na_reason_access_documents="No aplica")
    response = member_client.post(url, data=data)
    assert response.status_code == 422
    box = fieldset(text(response), "access_documents")
    assert tr("es", NA_REFUSED) in box and "has-error" in text(response)
    answers = assessment_row(app, aid)["answers"]
    assert "access_documents" not in answers  # refused
    assert answers["access_admission_protocol"]["level"] == 3 and answers["access_retention"]["level"] == 3  # the others saved


def test_autosave_refuses_na_with_422_json(app, member_client, member, factory):
    aid = factory.assessment(member)
    set_language(member_client, "en")
    url, data = access_data(member_client, aid, crit_access_admission_protocol="na", na_reason_access_admission_protocol="x")
    response = member_client.post(url, data=data, headers=FETCH)
    assert response.status_code == 422 and response.is_json
    criteria = response.get_json()["criteria"]
    assert criteria["access_admission_protocol"]["error"] == tr("en", NA_REFUSED)
    assert criteria["access_documents"]["error"] is None and criteria["access_retention"]["error"] is None
    assert "access_admission_protocol" not in assessment_row(app, aid)["answers"]


def test_api_refuses_na_with_422(app, member, factory):
    aid = factory.assessment(member)
    client = app.test_client()
    headers = bearer(factory.token(member))
    response = client.put(f"/api/v1/assessments/{aid}/answers", headers=headers, json=[
        {"criterion": "access_retention", "level": 2},
        {"criterion": "access_documents", "not_applicable": True, "na_reason": "Sin sede presencial"}])
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]
    assert [(d["criterion"], d["field"]) for d in details] == [("access_documents", "not_applicable")]
    assert "cannot be not applicable" in details[0]["message"]
    assert assessment_row(app, aid)["answers"] == {}  # all or nothing
    # a criterion that allows it still takes "not applicable"
    ok = client.put(f"/api/v1/assessments/{aid}/answers", headers=headers,
                    json=[{"criterion": "access_retention", "not_applicable": True, "na_reason": "Cursos solo en línea"}])
    assert ok.status_code == 200


# ----------------------------------------------------------------------------- verification and annex


def test_dimension_page_shows_verification_and_the_annex_of_the_institution_country(app, client, factory, rubric):
    peru = factory.user("member", country="PE")
    aid = factory.assessment(peru)
    login(client, peru)
    page = text(client.get(f"/assessments/{aid}/d/access"))
    for crit in rubric.dimension("access").criteria:
        box = fieldset(page, crit.id)
        assert f'id="verification-{crit.id}"' in box
        for item in crit.verification:
            assert item("es") in box
    note = rubric.country_note("PE", "access_documents")("es")
    assert note in fieldset(page, "access_documents") and 'id="note-access_documents"' in page
    assert "Perú" in fieldset(page, "access_documents")  # the note names the country
    # other countries' notes are not shown, nor a note where Peru has none
    for other in ("CO", "BR", "AR", "DO", "CL", "EC"):
        assert rubric.country_note(other, "access_documents")("es") not in page
    assert 'id="note-access_admission_protocol"' not in page


def test_another_country_sees_its_own_annex_entry(app, client, factory, rubric):
    colombia = factory.user("member", country="CO")
    aid = factory.assessment(colombia, language="en")
    login(client, colombia)
    page = text(client.get(f"/assessments/{aid}/d/access"))
    assert rubric.country_note("CO", "access_documents")("en") in page and "PPT" in page
    assert rubric.country_note("PE", "access_documents")("en") not in page
    uruguay = factory.user("member", country="UY")
    aid = factory.assessment(uruguay)
    other = app.test_client()
    login(other, uruguay)
    assert 'class="country-note"' not in text(other.get(f"/assessments/{aid}/d/access"))


def test_review_page_shows_verification_and_annex_to_the_reviewer(app, factory, rubric):
    peru = factory.user("member", country="PE")
    aid = factory.assessment(peru, levels=3, submit=True)
    reviewer = factory.user("reviewer")
    client = app.test_client()
    login(client, reviewer)
    page = text(client.get(f"/review/{aid}"))
    for crit in rubric.criteria:
        box = fieldset(page, crit.id)
        assert f'id="verification-{crit.id}"' in box, crit.id
        assert all(item("es") in box for item in crit.verification), crit.id
    assert rubric.country_note("PE", "recognition_prior_learning")("es") in fieldset(page, "recognition_prior_learning")
    assert rubric.country_note("CO", "access_documents")("es") not in page
    assert rubric.criterion("policy_resources_gender").guidance("es") in fieldset(page, "policy_resources_gender")
