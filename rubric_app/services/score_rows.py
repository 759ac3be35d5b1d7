"""The assessments' stored scores and level pairs as rows of numbers, for the comparison to count.

``assessments.self_scores`` / ``validated_scores`` (dimension id -> "2.67", "index" -> "41.7") and
``assessments.level_pairs`` (dimension id -> [[self level, validated level], ...]) stay what the
application reads and shows. :func:`write_score_rows` copies them, in the caller's transaction,
into ``assessment_scores`` (one row per basis and measure, the score in hundredths) and
``assessment_level_pairs`` (one row per pair), so the comparison counts integers with plain
``GROUP BY``s instead of parsing JSON, and into ``assessment_score_tokens`` (revision 0009), one
row per assessment holding the same numbers as text tokens, which is what the comparison reads now:

* ``self_scores`` / ``validated_scores``: ``measure=hundredths`` tokens separated by one space, in
  the JSON's order, for the scores that are numbers (``"policy=267 access=300 index=4170"``); ""
  when the JSON holds a mapping without numbers, NULL when it holds no mapping;
* ``level_pairs``: one ``dimension=self:validated`` token per valid pair, each dimension's pairs
  sorted and its first one written ``dimension!self:validated`` (``"policy!3:2 policy=3:3
  policy=4:4"``), so the tokens with "!" count the institutions giving pairs; "" or NULL as above.

Measure and dimension ids are percent-encoded (:func:`urllib.parse.quote` with no safe characters),
so a token never holds a space and its first "=" (or "!") ends the id. The comparison joins one such
row to the latest assessment of each institution and counts equal tokens per country, so the
database sorts nothing and Python decodes each distinct token once.

Every service that writes or clears the JSON columns calls :func:`write_score_rows` right after;
revisions 0008 and 0009 filled the rows of the assessments that existed before.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote, unquote

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session

from ..models import Assessment, AssessmentScore, LevelPair, ScoreTokens

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
            # positions count from 0 with no gap
            pairs += [{"assessment_id": assessment_id, "dimension_id": str(dimension_id), "position": position,
                       "self_level": own, "validated_level": checked}
                      for position, (own, checked) in enumerate(_valid_pairs(items))]
    return scores, pairs


def _valid_pairs(items) -> list[tuple[int, int]]:
    """The (self, validated) pairs of one dimension's JSON list that are two whole numbers, in order."""
    listed = items if isinstance(items, (list, tuple)) else ()
    levels = [(_level(pair[0]), _level(pair[1])) for pair in listed if isinstance(pair, (list, tuple)) and len(pair) == 2]
    return [p for p in levels if None not in p]


def score_tokens(stored) -> str | None:
    """A JSON score column as tokens: "policy=267 access=300 index=4170" (the numbers only); None for no mapping."""
    if not isinstance(stored, Mapping):
        return None
    return " ".join(f"{quote(str(measure), safe='')}={number}" for measure, value in stored.items()
                    if (number := hundredths(value)) is not None)


def pair_tokens(level_pairs) -> str | None:
    """The JSON level pairs as tokens, one per pair: "policy!3:2 policy=3:3 policy=4:4 access!2:2" (each
    dimension's valid pairs sorted, the first marked with "!" instead of "=", dimensions without any
    left out); None for no mapping."""
    if not isinstance(level_pairs, Mapping):
        return None
    tokens = []
    for dimension_id, items in level_pairs.items():
        dimension = quote(str(dimension_id), safe="")
        tokens += [f"{dimension}{'=' if place else '!'}{own}:{checked}" for place, (own, checked) in enumerate(sorted(_valid_pairs(items)))]
    return " ".join(tokens)


def tokens_for(assessment_id: int, self_scores, validated_scores, level_pairs) -> dict:
    """The ``assessment_score_tokens`` row that mirrors an assessment's JSON columns."""
    return {"assessment_id": assessment_id, "self_scores": score_tokens(self_scores),
            "validated_scores": score_tokens(validated_scores), "level_pairs": pair_tokens(level_pairs)}


@functools.lru_cache(maxsize=65536)
def read_score_token(token: str) -> tuple[str, Decimal] | None:
    """("policy", Decimal("2.67")) from "policy=267"; None for an empty token."""
    if not token:
        return None
    measure, _, number = token.partition("=")
    measure = unquote(measure)
    return measure, score_value(measure, int(number))


@functools.lru_cache(maxsize=65536)
def read_pair_token(token: str) -> tuple[str, tuple[int, int], bool] | None:
    """("policy", (3, 2), True) from "policy!3:2" (the dimension's first pair), ("policy", (3, 3), False)
    from "policy=3:3"; None for an empty token."""
    if not token:
        return None
    first = "!" in token
    dimension_id, _, pair = token.partition("!" if first else "=")
    own, _, checked = pair.partition(":")
    return unquote(dimension_id), (int(own), int(checked)), first


def write_score_rows(session: Session, assessments: Iterable[Assessment | Mapping]) -> None:
    """Replace the score rows, level pairs and score tokens of ``assessments`` with what their JSON columns hold now.

    ``assessments`` are :class:`Assessment` objects or mappings with ``id``, ``self_scores``,
    ``validated_scores`` and ``level_pairs`` (bulk inserts). Runs in the caller's transaction: call
    it wherever those columns are written or cleared, before the commit.
    """
    scores, pairs, tokens, ids = [], [], [], []
    for item in assessments:
        get = item.get if isinstance(item, Mapping) else (lambda name, item=item: getattr(item, name))
        ids.append(get("id"))
        columns = (get("id"), get("self_scores"), get("validated_scores"), get("level_pairs"))
        more_scores, more_pairs = rows_for(*columns)
        scores += more_scores
        pairs += more_pairs
        tokens.append(tokens_for(*columns))
    if not ids:
        return
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for table in (AssessmentScore, LevelPair, ScoreTokens):
            session.execute(delete(table).where(table.assessment_id.in_(chunk)).execution_options(synchronize_session=False))
    if scores:
        session.execute(insert(AssessmentScore), scores)
    if pairs:
        session.execute(insert(LevelPair), pairs)
    session.execute(insert(ScoreTokens), tokens)
