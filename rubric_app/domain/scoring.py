"""Scoring rules of the IFP inclusion rubric (published in docs/scoring.md).

* An answer per criterion: a level 1..5, or "not applicable" with a mandatory reason.
* Dimension score: arithmetic mean of the answered criteria's levels, rounded half-up to two
  decimals.  A dimension with more than half of its criteria not applicable has no score
  ("insufficient evidence"); one with unanswered criteria has none yet ("incomplete").
* Attained level: the floor of the dimension score.
* Overall index 0..100: weighted mean of the dimension scores mapped by (s - 1) / 4 * 100,
  rounded half-up to one decimal; published only when every dimension has a score.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Mapping

from .instruments import LEVELS, Dimension, Rubric

SCORED = "scored"
INSUFFICIENT = "insufficient"
INCOMPLETE = "incomplete"

TWO_PLACES = Decimal("0.01")
ONE_PLACE = Decimal("0.1")


@dataclass(frozen=True)
class CriterionAnswer:
    """What was said about one criterion: a level, or not applicable (with the reason)."""

    criterion_id: str
    level: int | None = None
    not_applicable: bool = False
    na_reason: str = ""
    #: the target the person chose; None follows the level (see :func:`default_target`)
    target: int | None = None
    evidence: str = ""

    @property
    def is_answered(self) -> bool:
        return self.not_applicable or self.level is not None

    @property
    def effective_target(self) -> int | None:
        """The chosen target, or the default one for the level; None without a level."""
        if self.level is None or self.not_applicable:
            return None
        return self.target if self.target is not None else default_target(self.level)


class AnswerError(ValueError):
    """An answer that breaks the rules; ``field`` names the offending part."""

    def __init__(self, criterion_id: str, field: str, message: str):
        self.criterion_id = criterion_id
        self.field = field
        super().__init__(message)


def validate_answer(rubric: Rubric, answer: CriterionAnswer) -> CriterionAnswer:
    """Check one answer against the rubric.

    Returns the normalised answer: no level and no target when not applicable.  A target left
    unset stays unset: it follows the level (current + 1, at most 5) until the person chooses one,
    so raising the level later never breaks a target nobody set.  Raises :class:`AnswerError` on a
    broken rule.
    """
    cid = answer.criterion_id
    if not rubric.has_criterion(cid):
        raise AnswerError(cid, "criterion", f"unknown criterion '{cid}'")
    if answer.not_applicable:
        if not rubric.criterion(cid).not_applicable_allowed:
            raise AnswerError(cid, "not_applicable",
                              f"criterion '{cid}' applies to every institution and cannot be not applicable: choose a level from "
                              f"{LEVELS[0]} to {LEVELS[-1]}")
        if not answer.na_reason.strip():
            raise AnswerError(cid, "na_reason", "a reason is required when a criterion is not applicable")
        return CriterionAnswer(cid, None, True, answer.na_reason.strip(), None, answer.evidence)
    if answer.level is None:
        if answer.target is not None and answer.target not in LEVELS:
            raise AnswerError(cid, "target", f"target must be between {LEVELS[0]} and {LEVELS[-1]}")
        return CriterionAnswer(cid, None, False, "", answer.target, answer.evidence)
    if isinstance(answer.level, bool) or answer.level not in LEVELS:
        raise AnswerError(cid, "level", f"level must be between {LEVELS[0]} and {LEVELS[-1]}")
    target = answer.target
    if target is not None:
        if isinstance(target, bool) or target not in LEVELS:
            raise AnswerError(cid, "target", f"target must be between {LEVELS[0]} and {LEVELS[-1]}")
        if target < answer.level:
            raise AnswerError(cid, "target", "the target cannot be below the current level")
    return CriterionAnswer(cid, answer.level, False, "", target, answer.evidence)


def default_target(level: int) -> int:
    """Default target: current level + 1, at most the top level."""
    return min(level + 1, LEVELS[-1])


def round_half_up(value: Decimal, places: Decimal) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class DimensionResult:
    dimension_id: str
    #: mean level rounded half-up to 2 decimals; None unless status is "scored"
    score: Decimal | None
    #: floor of the score
    level: int | None
    status: str
    answered: int
    not_applicable: int
    missing: int


@dataclass(frozen=True)
class RubricScores:
    dimensions: Mapping[str, DimensionResult]
    #: 0..100, rounded half-up to 1 decimal; None unless every dimension has a score
    index: Decimal | None

    @property
    def complete(self) -> bool:
        return self.index is not None


def dimension_result(dimension: Dimension, answers: Mapping[str, CriterionAnswer]) -> DimensionResult:
    """Score one dimension from the answers keyed by criterion id.

    The same rule scores self-assessed and reviewer-validated levels: pass answers built from
    whichever levels are to be scored.
    """
    levels: list[int] = []
    na = missing = 0
    for crit in dimension.criteria:
        ans = answers.get(crit.id)
        if ans is None or not ans.is_answered:
            missing += 1
        elif ans.not_applicable:
            na += 1
        else:
            levels.append(ans.level)
    total = len(dimension.criteria)
    if na * 2 > total:
        return DimensionResult(dimension.id, None, None, INSUFFICIENT, len(levels), na, missing)
    if missing:
        return DimensionResult(dimension.id, None, None, INCOMPLETE, len(levels), na, missing)
    score = round_half_up(Decimal(sum(levels)) / Decimal(len(levels)), TWO_PLACES)
    return DimensionResult(dimension.id, score, int(score), SCORED, len(levels), na, missing)


def inclusion_index(rubric: Rubric, results: Mapping[str, DimensionResult]) -> Decimal | None:
    """Weighted mean of the dimension scores mapped to 0..100; None if any dimension lacks a score."""
    if any(results[d.id].score is None for d in rubric.dimensions):
        return None
    total_weight = sum(d.weight for d in rubric.dimensions)
    mean = sum(d.weight * results[d.id].score for d in rubric.dimensions) / total_weight
    low, high = LEVELS[0], LEVELS[-1]
    return round_half_up((mean - low) / (high - low) * 100, ONE_PLACE)


def score_rubric(rubric: Rubric, answers: Mapping[str, CriterionAnswer]) -> RubricScores:
    """Dimension results and the overall index for one set of answers."""
    results = {d.id: dimension_result(d, answers) for d in rubric.dimensions}
    return RubricScores(results, inclusion_index(rubric, results))


def progress(rubric: Rubric, answers: Mapping[str, CriterionAnswer]) -> tuple[int, int]:
    """(answered, total) criteria."""
    done = sum(1 for c in rubric.criteria if c.id in answers and answers[c.id].is_answered)
    return done, len(rubric.criteria)


def missing_criteria(rubric: Rubric, answers: Mapping[str, CriterionAnswer]) -> list[str]:
    """Ids of the criteria without an answer, in rubric order."""
    return [c.id for c in rubric.criteria if not (c.id in answers and answers[c.id].is_answered)]


def target_profile(rubric: Rubric, answers: Mapping[str, CriterionAnswer]) -> dict[str, Decimal | None]:
    """Per dimension, the mean target level of the criteria answered with a level (2 decimals)."""
    profile: dict[str, Decimal | None] = {}
    for dim in rubric.dimensions:
        targets = [answers[c.id].effective_target for c in dim.criteria
                   if c.id in answers and answers[c.id].effective_target is not None]
        profile[dim.id] = round_half_up(Decimal(sum(targets)) / Decimal(len(targets)), TWO_PLACES) if targets else None
    return profile


def exact_dimension_mean(dimension: Dimension, answers: Mapping[str, CriterionAnswer]) -> Fraction | None:
    """The unrounded mean level of a dimension that has a score (None otherwise)."""
    result = dimension_result(dimension, answers)
    if result.score is None:
        return None
    levels = [answers[c.id].level for c in dimension.criteria if c.id in answers and answers[c.id].level is not None
              and not answers[c.id].not_applicable]
    return Fraction(sum(levels), len(levels))


def score_change(dimension: Dimension, now: Mapping[str, CriterionAnswer], before: Mapping[str, CriterionAnswer]) -> Decimal | None:
    """Change of a dimension's score between two rounds, from the unrounded means, rounded half-up to 2 decimals.

    Subtracting two rounded scores would print two equal changes differently (2.67 - 1.33 = 1.34
    but 3.00 - 1.67 = 1.33, both a gain of 4 levels over 3 criteria); the change is computed
    before rounding so equal gains read the same.
    """
    a, b = exact_dimension_mean(dimension, now), exact_dimension_mean(dimension, before)
    if a is None or b is None:
        return None
    diff = a - b
    return round_half_up(Decimal(diff.numerator) / Decimal(diff.denominator), TWO_PLACES)
