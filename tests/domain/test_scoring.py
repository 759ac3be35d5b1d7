"""Scoring rules (DOMAIN.md, "Scoring rules"), checked against hand-computed numbers.

mini.yaml: dimension ``alpha`` has criteria a1, a2, a3; ``beta`` has b1, b2; weights 1 and 1.
The real rubric: six dimensions of three criteria each, equal weights.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from rubric_app.domain.instruments import load_definition
from rubric_app.domain.scoring import (
    INCOMPLETE,
    INSUFFICIENT,
    ONE_PLACE,
    SCORED,
    TWO_PLACES,
    AnswerError,
    CriterionAnswer,
    default_target,
    dimension_result,
    inclusion_index,
    missing_criteria,
    progress,
    round_half_up,
    score_rubric,
    target_profile,
    validate_answer,
)

from ._support import answers

D = Decimal


def real_answers(rubric, per_dimension: dict[str, tuple]) -> dict[str, CriterionAnswer]:
    """Answers for the real rubric: dimension id -> three values in criterion order (see answers())."""
    spec = {}
    for dim in rubric.dimensions:
        values = per_dimension[dim.id]
        for crit, value in zip(dim.criteria, values, strict=True):
            spec[crit.id] = value
    return answers(**spec)


def all_dims(value_triple, **overrides):
    dims = ("policy", "access", "relevance", "recognition", "people", "articulation")
    out = {d: value_triple for d in dims}
    out.update(overrides)
    return out


# --------------------------------------------------------------------------- rounding


@pytest.mark.parametrize(
    "value, places, expected",
    [
        ("2.675", TWO_PLACES, "2.68"),  # half-up; banker's rounding would also say 2.68
        ("2.665", TWO_PLACES, "2.67"),  # half-up; banker's rounding would say 2.66
        ("0.125", TWO_PLACES, "0.13"),  # half-up; banker's rounding would say 0.12
        ("2.6666666666", TWO_PLACES, "2.67"),
        ("2.674999", TWO_PLACES, "2.67"),
        ("48.625", ONE_PLACE, "48.6"),  # only the first dropped digit matters: 2 < 5
        ("6.25", ONE_PLACE, "6.3"),  # banker's rounding would say 6.2
        ("0.05", ONE_PLACE, "0.1"),
        ("50", ONE_PLACE, "50.0"),
    ],
)
def test_round_half_up(value, places, expected):
    result = round_half_up(D(value), places)
    assert result == D(expected)
    assert str(result) == expected  # and the number of decimals is fixed


# --------------------------------------------------------------------------- dimension scores


@pytest.mark.parametrize(
    "levels, score, level",
    [
        ((2, 3, 3), "2.67", 2),  # 8/3 = 2.666.. -> 2.67, floor 2
        ((1, 1, 2), "1.33", 1),  # 4/3 = 1.333.. -> 1.33
        ((1, 2, 2), "1.67", 1),  # 5/3 = 1.666.. -> 1.67
        ((4, 4, 5), "4.33", 4),  # 13/3 = 4.333.. -> 4.33
        ((4, 5, 5), "4.67", 4),  # 14/3 = 4.666.. -> 4.67
        ((1, 1, 1), "1.00", 1),
        ((5, 5, 5), "5.00", 5),  # floor(5.00) = 5
        ((3, 3, 3), "3.00", 3),
    ],
)
def test_dimension_mean_and_attained_level(mini, levels, score, level):
    a1, a2, a3 = levels
    result = dimension_result(mini.dimension("alpha"), answers(a1=a1, a2=a2, a3=a3))
    assert result.status == SCORED
    assert result.score == D(score) and str(result.score) == score
    assert result.level == level
    assert (result.answered, result.not_applicable, result.missing) == (3, 0, 0)


def test_one_of_three_not_applicable_is_still_scored(mini):
    # levels 1 and 2, a3 N/A: (1 + 2) / 2 = 1.50, floor 1
    result = dimension_result(mini.dimension("alpha"), answers(a1=1, a2=2, a3="na"))
    assert result.status == SCORED
    assert result.score == D("1.50")
    assert result.level == 1
    assert (result.answered, result.not_applicable, result.missing) == (2, 1, 0)


def test_two_of_three_not_applicable_is_insufficient(mini):
    # 2 N/A of 3 is more than half: no score, even though a3 has a level
    result = dimension_result(mini.dimension("alpha"), answers(a1="na", a2="na", a3=5))
    assert result.status == INSUFFICIENT
    assert result.score is None and result.level is None
    assert (result.answered, result.not_applicable, result.missing) == (1, 2, 0)


def test_all_not_applicable_is_insufficient(mini):
    result = dimension_result(mini.dimension("alpha"), answers(a1="na", a2="na", a3="na"))
    assert (result.status, result.score, result.level) == (INSUFFICIENT, None, None)
    assert result.not_applicable == 3


def test_exactly_half_not_applicable_is_scored(mini):
    # beta has two criteria: 1 N/A of 2 is exactly half, not more than half -> scored on b1 alone
    result = dimension_result(mini.dimension("beta"), answers(b1=4, b2="na"))
    assert (result.status, result.score, result.level) == (SCORED, D("4.00"), 4)
    both = dimension_result(mini.dimension("beta"), answers(b1="na", b2="na"))
    assert (both.status, both.score) == (INSUFFICIENT, None)


def test_unanswered_criterion_makes_dimension_incomplete(mini):
    missing = dimension_result(mini.dimension("alpha"), answers(a1=3, a2=3))  # a3 absent
    assert (missing.status, missing.score, missing.level) == (INCOMPLETE, None, None)
    assert (missing.answered, missing.not_applicable, missing.missing) == (2, 0, 1)
    # an answer object with neither level nor N/A counts as unanswered too
    blank = dimension_result(mini.dimension("alpha"), answers(a1=3, a2=3, a3=None))
    assert (blank.status, blank.missing) == (INCOMPLETE, 1)
    # one N/A plus one unanswered: still incomplete (the last answer could make it scorable)
    mixed = dimension_result(mini.dimension("alpha"), answers(a1=3, a2="na"))
    assert (mixed.status, mixed.not_applicable, mixed.missing) == (INCOMPLETE, 1, 1)


def test_insufficient_wins_over_incomplete(mini):
    # 2 of 3 N/A: whatever the missing answer is, the dimension cannot be scored
    result = dimension_result(mini.dimension("alpha"), answers(a1="na", a2="na"))
    assert (result.status, result.not_applicable, result.missing) == (INSUFFICIENT, 2, 1)


def test_dimension_ignores_other_dimensions_and_targets(mini):
    spec = answers(a1=(2, 5), a2=(3, 3), a3=(3, 4), b1=1, b2=1)
    result = dimension_result(mini.dimension("alpha"), spec)
    assert result.score == D("2.67")  # (2 + 3 + 3) / 3, targets play no part


# --------------------------------------------------------------------------- the inclusion index


def test_index_all_dimensions_three_is_fifty(real_rubric):
    scores = score_rubric(real_rubric, real_answers(real_rubric, all_dims((3, 3, 3))))
    assert all(r.score == D("3.00") for r in scores.dimensions.values())
    # (3 - 1) / 4 * 100 = 50.0
    assert scores.index == D("50.0") and str(scores.index) == "50.0"
    assert scores.complete


@pytest.mark.parametrize("level, index", [(1, "0.0"), (2, "25.0"), (4, "75.0"), (5, "100.0")])
def test_index_bounds_and_steps(real_rubric, level, index):
    scores = score_rubric(real_rubric, real_answers(real_rubric, all_dims((level,) * 3)))
    assert scores.index == D(index)


def test_index_mean_of_unrounded_weighted_mean(real_rubric):
    # policy 2,3,3 -> 2.67; the five others 3.00
    # mean = (2.67 + 5 * 3) / 6 = 17.67 / 6 = 2.945
    # index = (2.945 - 1) / 4 * 100 = 48.625 -> 48.6
    scores = score_rubric(real_rubric, real_answers(real_rubric, all_dims((3, 3, 3), policy=(2, 3, 3))))
    assert scores.dimensions["policy"].score == D("2.67")
    assert scores.index == D("48.6")


def test_index_rounds_half_up(real_rubric):
    # five dimensions at 1,1,1 -> 1.00; articulation 2, 3 and one N/A -> 2.50
    # mean = (5 * 1.00 + 2.50) / 6 = 7.50 / 6 = 1.25
    # index = (1.25 - 1) / 4 * 100 = 6.25 -> 6.3 half-up (banker's rounding would give 6.2)
    scores = score_rubric(real_rubric, real_answers(real_rubric, all_dims((1, 1, 1), articulation=(2, 3, "na"))))
    assert scores.dimensions["articulation"].score == D("2.50")
    assert scores.dimensions["articulation"].not_applicable == 1
    assert scores.index == D("6.3")


def test_index_none_when_a_dimension_is_insufficient(real_rubric):
    scores = score_rubric(real_rubric, real_answers(real_rubric, all_dims((3, 3, 3), people=("na", "na", 4))))
    assert scores.dimensions["people"].status == INSUFFICIENT
    assert scores.dimensions["access"].score == D("3.00")  # the others are still scored
    assert scores.index is None
    assert not scores.complete


def test_index_none_when_a_dimension_is_incomplete(real_rubric):
    spec = real_answers(real_rubric, all_dims((4, 4, 4)))
    del spec["recognition_title_validation"]
    scores = score_rubric(real_rubric, spec)
    assert scores.dimensions["recognition"].status == INCOMPLETE
    assert scores.index is None and not scores.complete
    assert score_rubric(real_rubric, {}).index is None


def test_mini_equal_weights(mini):
    # alpha 2,3,3 -> 2.67; beta 4,5 -> 4.50
    # mean = (2.67 + 4.50) / 2 = 3.585; index = 2.585 / 4 * 100 = 64.625 -> 64.6
    scores = score_rubric(mini, answers(a1=2, a2=3, a3=3, b1=4, b2=5))
    assert scores.dimensions["beta"].score == D("4.50")
    assert scores.index == D("64.6")


def _weights(alpha, beta):
    def edit(data):
        data["dimensions"][0]["weight"] = alpha
        data["dimensions"][1]["weight"] = beta

    return edit


def test_non_equal_weights(mini_variant):
    rubric = load_definition(mini_variant(_weights(3, 1)))
    results = score_rubric(rubric, answers(a1=2, a2=3, a3=3, b1=4, b2=5))
    # weighted mean = (3 * 2.67 + 1 * 4.50) / 4 = (8.01 + 4.50) / 4 = 12.51 / 4 = 3.1275
    # index = 2.1275 / 4 * 100 = 53.1875 -> 53.2   (equal weights would give 64.6)
    assert results.index == D("53.2")
    # dimension scores themselves do not depend on weights
    assert results.dimensions["alpha"].score == D("2.67")


def test_fractional_weights(mini_variant):
    rubric = load_definition(mini_variant(_weights(0.5, 1.5)))
    # mean = (0.5 * 2.67 + 1.5 * 4.50) / 2 = (1.335 + 6.75) / 2 = 4.0425
    # index = 3.0425 / 4 * 100 = 76.0625 -> 76.1
    assert score_rubric(rubric, answers(a1=2, a2=3, a3=3, b1=4, b2=5)).index == D("76.1")


def test_weighted_index_rounds_half_up(mini_variant):
    rubric = load_definition(mini_variant(_weights(3, 1)))
    scores = score_rubric(rubric, answers(a1=1, a2=1, a3=1, b1=2, b2=2))
    # mean = (3 * 1.00 + 1 * 2.00) / 4 = 1.25; index = 0.25 / 4 * 100 = 6.25 -> 6.3
    # (equal weights: (1 + 2) / 2 = 1.5 -> 12.5)
    assert scores.index == D("6.3")
    assert inclusion_index(rubric, scores.dimensions) == D("6.3")


def test_self_and_reviewer_levels_scored_by_the_same_rule(mini):
    self_assessed = answers(a1=4, a2=4, a3=5, b1=5, b2=5)
    reviewed = answers(a1=3, a2=3, a3=4, b1=4, b2="na")
    own = score_rubric(mini, self_assessed)
    rev = score_rubric(mini, reviewed)
    # self: alpha 13/3 = 4.33, beta 5.00, mean 4.665 -> 91.625 -> 91.6
    # reviewer: alpha 10/3 = 3.33, beta 4.00 (b2 N/A), mean 3.665 -> 66.625 -> 66.6
    assert (own.dimensions["alpha"].score, own.dimensions["beta"].score, own.index) == (D("4.33"), D("5.00"), D("91.6"))
    assert (rev.dimensions["alpha"].score, rev.dimensions["beta"].score, rev.index) == (D("3.33"), D("4.00"), D("66.6"))


# --------------------------------------------------------------------------- answers


def test_unknown_criterion_refused(mini):
    with pytest.raises(AnswerError) as excinfo:
        validate_answer(mini, CriterionAnswer("zz", level=3))
    assert excinfo.value.field == "criterion"
    assert excinfo.value.criterion_id == "zz"
    assert "zz" in str(excinfo.value)


@pytest.mark.parametrize("level", [0, 6, -1])
def test_level_out_of_range_refused(mini, level):
    with pytest.raises(AnswerError) as excinfo:
        validate_answer(mini, CriterionAnswer("a1", level=level))
    assert excinfo.value.field == "level"
    assert excinfo.value.criterion_id == "a1"
    assert "between 1 and 5" in str(excinfo.value)


@pytest.mark.parametrize("reason", ["", "   ", "\t\n "])
def test_not_applicable_needs_a_reason(mini, reason):
    with pytest.raises(AnswerError) as excinfo:
        validate_answer(mini, CriterionAnswer("b1", not_applicable=True, na_reason=reason))
    assert excinfo.value.field == "na_reason"


def test_not_applicable_drops_level_and_target(mini):
    answer = validate_answer(
        mini, CriterionAnswer("b1", level=3, not_applicable=True, na_reason="  sin sedes rurales ", target=4, evidence="acta 12")
    )
    assert answer == CriterionAnswer("b1", None, True, "sin sedes rurales", None, "acta 12")
    assert answer.is_answered


@pytest.mark.parametrize("level, target", [(1, 2), (2, 3), (3, 4), (4, 5), (5, 5)])
def test_default_target_is_next_level_capped_at_five(mini, level, target):
    assert default_target(level) == target
    answer = validate_answer(mini, CriterionAnswer("a2", level=level))
    # an unset target stays unset (it follows the level); the effective target is the default
    assert (answer.level, answer.target, answer.effective_target) == (level, None, target)


def test_unset_target_follows_a_raised_level(mini):
    low = validate_answer(mini, CriterionAnswer("a2", level=2))
    assert low.effective_target == 3
    raised = validate_answer(mini, CriterionAnswer("a2", level=4, target=low.target))
    assert (raised.target, raised.effective_target) == (None, 5)
    # a target the person chose does not follow: raising the level above it is refused
    with pytest.raises(AnswerError) as excinfo:
        validate_answer(mini, CriterionAnswer("a2", level=4, target=3))
    assert excinfo.value.field == "target"
    assert validate_answer(mini, CriterionAnswer("a2", level=3, not_applicable=True, na_reason="x")).effective_target is None


def test_explicit_target_kept(mini):
    assert validate_answer(mini, CriterionAnswer("a2", level=1, target=4)).target == 4
    assert validate_answer(mini, CriterionAnswer("a2", level=3, target=3)).target == 3  # equal is allowed
    kept = validate_answer(mini, CriterionAnswer("a2", level=2, target=5, evidence="informe 2024"))
    assert kept == CriterionAnswer("a2", 2, False, "", 5, "informe 2024")


def test_target_below_level_refused(mini):
    with pytest.raises(AnswerError) as excinfo:
        validate_answer(mini, CriterionAnswer("a3", level=4, target=3))
    assert excinfo.value.field == "target"
    assert "below" in str(excinfo.value)


@pytest.mark.parametrize("target", [0, 6])
def test_target_out_of_range_refused(mini, target):
    with pytest.raises(AnswerError) as excinfo:
        validate_answer(mini, CriterionAnswer("a3", level=2, target=target))
    assert excinfo.value.field == "target"
    assert "between 1 and 5" in str(excinfo.value)


def test_unanswered_with_target(mini):
    pending = validate_answer(mini, CriterionAnswer("a3", target=4))
    assert (pending.level, pending.target, pending.is_answered) == (None, 4, False)
    with pytest.raises(AnswerError) as excinfo:
        validate_answer(mini, CriterionAnswer("a3", target=7))
    assert excinfo.value.field == "target"


def test_validation_does_not_mutate_or_accept_na_reason_on_levelled_answer(mini):
    original = CriterionAnswer("a1", level=2, na_reason="stray text")
    answer = validate_answer(mini, original)
    assert (answer.level, answer.na_reason, answer.not_applicable) == (2, "", False)
    assert original.na_reason == "stray text"  # input untouched (frozen)


# --------------------------------------------------------------------------- progress and targets


def test_progress_and_missing_criteria(mini):
    spec = answers(a1=3, a2="na", b1=None)  # a3, b2 absent; b1 present but blank
    spec["zz"] = CriterionAnswer("zz", level=3)  # not in the rubric: ignored
    assert progress(mini, spec) == (2, 5)  # a1 and the N/A a2 count as answered
    assert missing_criteria(mini, spec) == ["a3", "b1", "b2"]  # rubric order
    assert progress(mini, {}) == (0, 5)
    assert missing_criteria(mini, {}) == ["a1", "a2", "a3", "b1", "b2"]
    full = answers(a1=1, a2=2, a3=3, b1="na", b2=5)
    assert progress(mini, full) == (5, 5)
    assert missing_criteria(mini, full) == []


def test_progress_real_rubric(real_rubric):
    spec = real_answers(real_rubric, all_dims((3, 3, 3)))
    assert progress(real_rubric, spec) == (18, 18)
    del spec["policy_target_population"], spec["people_outreach_migrants"]
    assert progress(real_rubric, spec) == (16, 18)
    assert missing_criteria(real_rubric, spec) == ["policy_target_population", "people_outreach_migrants"]


def test_target_profile(mini):
    spec = answers(a1=(2, 4), a2=(3, 4), a3=(1, 3), b1="na", b2=None)
    profile = target_profile(mini, spec)
    # alpha: (4 + 4 + 3) / 3 = 3.666.. -> 3.67; beta: nothing answered with a level -> None
    assert profile == {"alpha": D("3.67"), "beta": None}


def test_target_profile_from_validated_answers(mini):
    raw = answers(a1=2, a2=5, a3="na", b1=1, b2=4)
    spec = {cid: validate_answer(mini, a) for cid, a in raw.items()}
    # default targets: a1 3, a2 5 (capped), a3 N/A excluded -> (3 + 5) / 2 = 4.00
    # b1 2, b2 5 -> 3.50
    assert target_profile(mini, spec) == {"alpha": D("4.00"), "beta": D("3.50")}


def test_boolean_level_is_refused(real_rubric):
    from rubric_app.domain.scoring import AnswerError, CriterionAnswer, validate_answer

    with pytest.raises(AnswerError) as info:
        validate_answer(real_rubric, CriterionAnswer(real_rubric.criteria[0].id, True))
    assert info.value.field == "level"
