"""The numeric score rows (``assessment_scores``, ``assessment_level_pairs``) and the score tokens
(``assessment_score_tokens``, what the comparison reads) stay in step with the assessment's JSON
scores at every transition: submit, validate, return, re-submit, discard, bulk inserts; and the
comparison copies the rows of data inserted around the services.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from rubric_app.domain.scoring import CriterionAnswer
from rubric_app.extensions import db
from rubric_app.models import Assessment, AssessmentScore, LevelPair, ScoreTokens, User
from rubric_app.services import assessments as asvc
from rubric_app.services import comparison as cmp
from rubric_app.services import review as rsvc
from rubric_app.services.bulk import bulk_assessments
from rubric_app.services.score_rows import (hundredths, pair_tokens, read_pair_token, read_score_token, rows_for, score_tokens,
                                             score_value, tokens_for)


def as_rows(session, assessment_id: int) -> dict:
    """What the rows say: {"self": {measure: Decimal}, "validated": {...}, "pairs": {dimension: [[self, validated], ...]}}."""
    found: dict = {"self": {}, "validated": {}, "pairs": {}}
    for basis, measure, stored in session.execute(select(AssessmentScore.basis, AssessmentScore.measure, AssessmentScore.hundredths)
                                                  .where(AssessmentScore.assessment_id == assessment_id)):
        found[basis][measure] = score_value(measure, stored)
    for dimension_id, own, checked in session.execute(select(LevelPair.dimension_id, LevelPair.self_level, LevelPair.validated_level)
                                                      .where(LevelPair.assessment_id == assessment_id)
                                                      .order_by(LevelPair.dimension_id, LevelPair.position)):
        found["pairs"].setdefault(dimension_id, []).append([own, checked])
    return found


def as_tokens(session, assessment_id: int) -> dict:
    """What the tokens say, in the shape of :func:`as_rows` (each dimension's pairs sorted)."""
    row = session.get(ScoreTokens, assessment_id)
    found: dict = {"self": {}, "validated": {}, "pairs": {}}
    if row is None:
        return found
    for basis, stored in (("self", row.self_scores), ("validated", row.validated_scores)):
        found[basis] = dict(read_score_token(token) for token in (stored or "").split(" ") if token)
    for token in (row.level_pairs or "").split(" "):
        if token:
            dimension_id, pair, first = read_pair_token(token)
            assert first == (dimension_id not in found["pairs"])  # the first of each dimension is marked
            found["pairs"].setdefault(dimension_id, []).append(list(pair))
    return found


def as_json(assessment: Assessment) -> dict:
    """What the JSON columns say, in the same shape."""
    def numbers(stored):
        return {k: (Decimal(v) if v is not None else None) for k, v in (stored or {}).items()}

    return {"self": numbers(assessment.self_scores), "validated": numbers(assessment.validated_scores),
            "pairs": {dim: [list(p) for p in pairs] for dim, pairs in (assessment.level_pairs or {}).items() if pairs}}


def in_step(app, assessment_id: int) -> dict:
    """Assert the rows mirror the JSON exactly (values and their written form); return them."""
    with app.app_context():
        s = db.new_session()
        try:
            rows, stored = as_rows(s, assessment_id), as_json(s.get(Assessment, assessment_id))
            tokens = as_tokens(s, assessment_id)
        finally:
            s.close()
    assert rows == stored
    # the tokens leave out scores that are not numbers and sort each dimension's pairs
    assert tokens == {"self": {k: v for k, v in stored["self"].items() if v is not None},
                      "validated": {k: v for k, v in stored["validated"].items() if v is not None},
                      "pairs": {dim: sorted(pairs) for dim, pairs in stored["pairs"].items()}}
    assert {b: {k: str(v) for k, v in tokens[b].items()} for b in ("self", "validated")} == \
        {b: {k: str(v) for k, v in stored[b].items() if v is not None} for b in ("self", "validated")}
    assert {b: {k: str(v) for k, v in rows[b].items()} for b in ("self", "validated")} == \
        {b: {k: str(v) for k, v in stored[b].items()} for b in ("self", "validated")}
    return rows


@pytest.fixture
def member(factory):
    return factory.user("member", institution=factory.institution(name="Instituto Sereno", country="AR"))


@pytest.fixture
def reviewer(factory):
    return factory.user("reviewer")


def submitted(factory, member) -> int:
    return factory.assessment(member, levels=3, submit=True, na=("policy_resources_gender",))


def validate(app, reviewer, assessment_id: int) -> None:
    """Validate with three levels changed (each with the comment a change needs)."""
    changed = {"policy_target_population": 2, "access_documents": 4, "access_retention": 1}
    with app.app_context():
        s = db.new_session()
        a = s.get(Assessment, assessment_id)
        entries = [rsvc.ReviewEntry(r.criterion_id, changed.get(r.criterion_id, r.level),
                                    "Checked" if r.criterion_id in changed else "") for r in a.answers]
        rsvc.save_review(s, app.extensions["instruments"], s.merge(reviewer), a, entries, then_validate=True)
        s.close()


def give_back(app, reviewer, assessment_id: int) -> None:
    with app.app_context():
        s = db.new_session()
        rsvc.return_to_institution(s, s.merge(reviewer), assessment_id, "Please attach the evidence")
        s.close()


def test_a_draft_has_no_rows_and_submitting_writes_the_self_scores(app, factory, member):
    draft = factory.assessment(member, levels=3)
    assert in_step(app, draft) == {"self": {}, "validated": {}, "pairs": {}}
    with app.app_context():
        s = db.new_session()
        asvc.submit(s, app.extensions["instruments"], s.merge(member), draft)
        s.close()
    rows = in_step(app, draft)
    assert rows["self"]["policy"] == Decimal("3.00") and str(rows["self"]["index"]) == "50.0"
    assert rows["validated"] == {} and rows["pairs"] == {}


def test_validating_writes_the_validated_scores_and_the_level_pairs(app, factory, member, reviewer):
    aid = submitted(factory, member)
    validate(app, reviewer, aid)
    rows = in_step(app, aid)
    # policy: 2 and 3 (third not applicable) -> 2.50; access: 4, 3, 1 -> 2.67; index 46.5 (as tests/web/test_review.py)
    assert (str(rows["validated"]["policy"]), str(rows["validated"]["access"]), str(rows["validated"]["index"])) == ("2.50", "2.67", "46.5")
    assert rows["pairs"]["policy"] == [[3, 2], [3, 3]] and sorted(map(tuple, rows["pairs"]["access"])) == [(3, 1), (3, 3), (3, 4)]
    assert rows["self"]["access"] == Decimal("3.00")


def test_returning_clears_the_validated_rows_and_keeps_the_self_scores(app, factory, member, reviewer):
    aid = submitted(factory, member)
    validate(app, reviewer, aid)
    # put back under review as tests/test_races.py does: JSON cleared by hand, the rows left as they were
    with app.app_context():
        s = db.new_session()
        row = s.get(Assessment, aid)
        row.status, row.validated_scores, row.level_pairs = "submitted", None, None
        s.commit()
        stale = as_rows(s, aid)
        s.close()
    assert stale["validated"] and stale["pairs"]
    give_back(app, reviewer, aid)
    rows = in_step(app, aid)
    assert rows["validated"] == {} and rows["pairs"] == {} and rows["self"]["relevance"] == Decimal("3.00")


def test_resubmitting_a_returned_draft_replaces_the_self_scores(app, factory, member, reviewer):
    aid = submitted(factory, member)
    give_back(app, reviewer, aid)
    with app.app_context():
        s = db.new_session()
        user = s.merge(member)
        registry = app.extensions["instruments"]
        a = s.get(Assessment, aid)
        asvc.save_answers(s, registry, user, a, [CriterionAnswer(c.id, 5, False, "", None, "new evidence")
                                                 for c in asvc.rubric_for(registry, a).dimensions[0].criteria])
        asvc.submit(s, registry, user, aid)
        s.close()
    rows = in_step(app, aid)
    assert rows["self"]["policy"] == Decimal("5.00") and rows["self"]["access"] == Decimal("3.00")


def test_discarding_a_returned_draft_removes_its_rows(app, factory, member, reviewer):
    aid = submitted(factory, member)
    give_back(app, reviewer, aid)
    assert in_step(app, aid)["self"]
    with app.app_context():
        s = db.new_session()
        asvc.discard_draft(s, s.merge(member), aid, expected_version=None)
        assert as_rows(s, aid) == {"self": {}, "validated": {}, "pairs": {}}
        assert as_tokens(s, aid) == {"self": {}, "validated": {}, "pairs": {}}
        s.close()


def test_bulk_assessments_write_their_rows(app, rubric):
    with app.app_context():
        s = db.new_session()
        bulk_assessments(s, rubric, 60, ("AR", "CO"), seed=4)
        ids = s.scalars(select(Assessment.id)).all()
        s.close()
    assert len(ids) == 60
    validated = [aid for aid in ids if in_step(app, aid)["pairs"]]
    assert validated and all(in_step(app, aid)["self"] for aid in ids)


def test_the_comparison_copies_the_rows_of_assessments_inserted_around_the_services(app, factory, rubric):
    reviewer = factory.user("reviewer")
    with app.app_context():
        s = db.new_session()
        bulk_assessments(s, rubric, 12, ("PE",), seed=5)
        template = s.scalars(select(Assessment).where(Assessment.level_pairs.is_not(None)).limit(1)).one()
        s.execute(insert(Assessment), [{"institution_id": template.institution_id, "instrument_id": rubric.id,
                                        "instrument_version": rubric.version, "instrument_hash": rubric.hash, "language": "es",
                                        "status": "validated", "round_number": 2, "submitted_at": template.submitted_at,
                                        "self_scores": {**template.self_scores, "policy": "1.33"},
                                        "validated_scores": template.validated_scores, "level_pairs": template.level_pairs}])
        s.commit()
        inserted = s.scalar(select(Assessment.id).where(Assessment.round_number == 2))
        assert as_rows(s, inserted) == {"self": {}, "validated": {}, "pairs": {}}
        assert s.get(ScoreTokens, inserted) is None
        s.close()
    with app.test_request_context():
        s = db.session
        user = s.get(User, reviewer.id)
        registry = app.extensions["instruments"]
        for basis in ("self", "validated"):
            filters = cmp.Filters(instrument=rubric.id, versions=(rubric.version,), basis=basis)
            fast = cmp.compare(s, registry, user, filters, with_institutions=True, use_cache=False)
            slow = cmp.compute_in_python(s, registry, filters, with_institutions=True)
            assert (fast.table, fast.agreement, fast.institution_rows) == (slow.table, slow.agreement, slow.institution_rows)
        assert as_rows(s, inserted)["self"]["policy"] == Decimal("1.33")
        assert as_tokens(s, inserted)["self"]["policy"] == Decimal("1.33")


@pytest.mark.parametrize(("stored", "expected"), [("2.67", 267), ("3.00", 300), ("46.5", 4650), (41.7, 4170), (40, 4000),
                                                  ("2.675", 268), (None, None), ("n/a", None), (True, None), ("nan", None),
                                                  ("1e20", None)])
def test_hundredths(stored, expected):
    assert hundredths(stored) == expected


def test_written_form_of_the_scores():
    assert [str(score_value("policy", v)) for v in (267, 300, 100)] == ["2.67", "3.00", "1.00"]
    assert [str(score_value("index", v)) for v in (4650, 0, 10000, 4175)] == ["46.5", "0.0", "100.0", "41.75"]


def test_level_pairs_are_numbered_from_0_without_gaps():
    _scores, pairs = rows_for(7, None, None, {"policy": [[3, 2], ["x", 1], [4, 4]], "access": [], "people": None})
    assert [(p["dimension_id"], p["position"], p["self_level"], p["validated_level"]) for p in pairs] == \
        [("policy", 0, 3, 2), ("policy", 1, 4, 4)]


def test_score_tokens_hold_the_numbers_and_percent_encode_the_measures():
    assert score_tokens({"policy": "2.67", "index": "46.5", "odd id=1": "3.00", "missing": None, "text": "n/a"}) == \
        "policy=267 index=4650 odd%20id%3D1=300"
    assert score_tokens({}) == "" and score_tokens(None) is None and score_tokens([1, 2]) is None
    assert [read_score_token(t) for t in score_tokens({"odd id=1": "3.00", "index": 41.75}).split(" ")] == \
        [("odd id=1", Decimal("3.00")), ("index", Decimal("41.75"))]
    assert str(read_score_token("index=4650")[1]) == "46.5" and read_score_token("") is None


def test_pair_tokens_sort_each_dimensions_valid_pairs_and_mark_the_first():
    stored = {"policy": [[4, 4], [3, 2], ["x", 1], [3, 2]], "access": [], "people": None, "a b!": [[1, 5], [True, 2], [2.0, 3]],
              "neg": [[-1, 12]]}
    assert pair_tokens(stored) == "policy!3:2 policy=3:2 policy=4:4 a%20b%21!1:5 a%20b%21=2:3 neg!-1:12"
    assert [read_pair_token(t) for t in pair_tokens(stored).split(" ")] == \
        [("policy", (3, 2), True), ("policy", (3, 2), False), ("policy", (4, 4), False), ("a b!", (1, 5), True),
         ("a b!", (2, 3), False), ("neg", (-1, 12), True)]
    assert pair_tokens({}) == "" and pair_tokens(None) is None and read_pair_token("") is None
    # the same pairs as the numeric rows, whatever their order
    _scores, rows = rows_for(1, None, None, stored)
    assert sorted((r["dimension_id"], r["self_level"], r["validated_level"]) for r in rows) == \
        sorted((dim, *pair) for dim, pair, _first in map(read_pair_token, pair_tokens(stored).split(" ")))
    assert tokens_for(9, {"index": 50}, None, stored) == {"assessment_id": 9, "self_scores": "index=5000", "validated_scores": None,
                                                           "level_pairs": pair_tokens(stored)}
