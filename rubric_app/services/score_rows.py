"""The assessments' stored scores and level pairs as rows of numbers, for the comparison to count.

``assessments.self_scores`` / ``validated_scores`` (dimension id -> "2.67", "index" -> "41.7") and
``assessments.level_pairs`` (dimension id -> [[self level, validated level], ...]) stay what the
application reads and shows. :func:`write_score_rows` copies them, in the caller's transaction,
into ``assessment_scores`` (one row per basis and measure, the score in hundredths) and
``assessment_level_pairs`` (one row per pair), so the comparison counts integers with plain
``GROUP BY``s instead of parsing JSON. Every service that writes or clears the JSON columns calls it
right after; revision 0008 filled the rows of the assessments that existed before.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from ..models import Assessment, AssessmentScore, LevelPair

#: the JSON column each basis is copied from
SCORE_COLUMNS = {"self": "self_scores", "validated": "validated_scores"}
INDEX = "index"
_HUNDRED = Decimal(100)


def hundredths(value) -> int | None:
    """A stored score ("2.67", 41.7, None) as an integer number of hundredths (267, 4170, None).

    Scores are stored with at most two decimals (dimension scores two, the index one); anything
    finer is rounded half-up. Values that are not numbers give None.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int((Decimal(str(value)) * _HUNDRED).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except (ArithmeticError, ValueError):  # not a number, or infinite
        return None
    return number if abs(number) < 2**31 else None  # far beyond any score: it would not fit the INTEGER column


@functools.lru_cache(maxsize=8192)
def score_value(measure: str, stored: int | None) -> Decimal | None:
    """The inverse of :func:`hundredths`, written as the application writes scores: dimension scores
    with two decimals ("2.50"), the index with one ("41.7") unless it has a second."""
    if stored is None:
        return None
    if measure == INDEX and stored % 10 == 0:
        return Decimal(stored // 10).scaleb(-1)
    return Decimal(stored).scaleb(-2)


def _level(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def rows_for(assessment_id: int, self_scores, validated_scores, level_pairs) -> tuple[list[dict], list[dict]]:
    """The ``assessment_scores`` and ``assessment_level_pairs`` rows that mirror an assessment's JSON columns."""
    scores = []
    for basis, stored in (("self", self_scores), ("validated", validated_scores)):
        if isinstance(stored, Mapping):
            scores += [{"assessment_id": assessment_id, "basis": basis, "measure": str(measure), "hundredths": hundredths(value)}
                       for measure, value in stored.items()]
    pairs = []
    if isinstance(level_pairs, Mapping):
        for dimension_id, items in level_pairs.items():
            listed = items if isinstance(items, (list, tuple)) else ()
            levels = [(_level(pair[0]), _level(pair[1])) for pair in listed if isinstance(pair, (list, tuple)) and len(pair) == 2]
            # positions count from 0 with no gap: the comparison counts a dimension's institutions by their pair 0
            pairs += [{"assessment_id": assessment_id, "dimension_id": str(dimension_id), "position": position,
                       "self_level": own, "validated_level": checked}
                      for position, (own, checked) in enumerate(p for p in levels if None not in p)]
    return scores, pairs


def write_score_rows(session: Session, assessments: Iterable[Assessment | Mapping]) -> None:
    """Replace the score rows and level pairs of ``assessments`` with what their JSON columns hold now.

    ``assessments`` are :class:`Assessment` objects or mappings with ``id``, ``self_scores``,
    ``validated_scores`` and ``level_pairs`` (bulk inserts). Runs in the caller's transaction: call
    it wherever those columns are written or cleared, before the commit.
    """
    scores, pairs, ids = [], [], []
    for item in assessments:
        get = item.get if isinstance(item, Mapping) else (lambda name, item=item: getattr(item, name))
        ids.append(get("id"))
        more_scores, more_pairs = rows_for(get("id"), get("self_scores"), get("validated_scores"), get("level_pairs"))
        scores += more_scores
        pairs += more_pairs
    if not ids:
        return
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for table in (AssessmentScore, LevelPair):
            session.execute(delete(table).where(table.assessment_id.in_(chunk)).execution_options(synchronize_session=False))
    if scores:
        session.execute(insert(AssessmentScore), scores)
    if pairs:
        session.execute(insert(LevelPair), pairs)
