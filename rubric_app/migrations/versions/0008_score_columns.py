"""Scores as numbers: the comparison counts rows of integers instead of parsing JSON.

Adds two tables, copies of the assessments' JSON score columns that the application writes in the
same transaction as those (``rubric_app.services.score_rows``):

* ``assessment_scores`` (assessment, basis "self" | "validated", measure: a dimension id or
  "index", hundredths: the score times 100 or NULL), from ``self_scores`` and ``validated_scores``;
* ``assessment_level_pairs`` (assessment, dimension id, position, self level, validated level),
  from ``level_pairs``.

Both are keyed by assessment first (the comparison joins them to the latest assessment of each
institution) and stored without a rowid on SQLite, so the key's b-tree holds the values too. The
upgrade fills them from the JSON of every existing assessment, in batches; the downgrade drops
them (the JSON columns were never changed).

Revision ID: 0008_score_columns
Revises: 0007_pending_uploads
Create Date: 2026-12-02
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from alembic import op

revision = "0008_score_columns"
down_revision = "0007_pending_uploads"
branch_labels = None
depends_on = None

BATCH = 1000


def _hundredths(value) -> int | None:
    """A frozen copy of ``rubric_app.services.score_rows.hundredths`` as of this revision."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int((Decimal(str(value)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except (ArithmeticError, ValueError):  # not a number, or infinite
        return None
    return number if abs(number) < 2**31 else None  # far beyond any score: it would not fit the INTEGER column


def _level(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _rows(assessment_id: int, self_scores, validated_scores, level_pairs) -> tuple[list[dict], list[dict]]:
    """A frozen copy of ``rubric_app.services.score_rows.rows_for`` as of this revision."""
    scores = []
    for basis, stored in (("self", self_scores), ("validated", validated_scores)):
        if isinstance(stored, Mapping):
            scores += [{"assessment_id": assessment_id, "basis": basis, "measure": str(measure), "hundredths": _hundredths(value)}
                       for measure, value in stored.items()]
    pairs = []
    if isinstance(level_pairs, Mapping):
        for dimension_id, items in level_pairs.items():
            listed = items if isinstance(items, (list, tuple)) else ()
            levels = [(_level(pair[0]), _level(pair[1])) for pair in listed if isinstance(pair, (list, tuple)) and len(pair) == 2]
            pairs += [{"assessment_id": assessment_id, "dimension_id": str(dimension_id), "position": position,
                       "self_level": own, "validated_level": checked}
                      for position, (own, checked) in enumerate(p for p in levels if None not in p)]
    return scores, pairs


def upgrade() -> None:
    scores = op.create_table(
        "assessment_scores",
        sa.Column("assessment_id", sa.Integer(), sa.ForeignKey("assessments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("basis", sa.String(9), nullable=False),
        sa.Column("measure", sa.String(64), nullable=False),
        sa.Column("hundredths", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("assessment_id", "basis", "measure"),
        sqlite_with_rowid=False,
    )
    pairs = op.create_table(
        "assessment_level_pairs",
        sa.Column("assessment_id", sa.Integer(), sa.ForeignKey("assessments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dimension_id", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("self_level", sa.Integer(), nullable=False),
        sa.Column("validated_level", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("assessment_id", "dimension_id", "position"),
        sqlite_with_rowid=False,
    )
    bind = op.get_bind()
    assessments = sa.table("assessments", sa.column("id", sa.Integer), sa.column("self_scores", sa.JSON),
                           sa.column("validated_scores", sa.JSON), sa.column("level_pairs", sa.JSON))
    last = 0
    while True:
        rows = bind.execute(sa.select(assessments.c.id, assessments.c.self_scores, assessments.c.validated_scores,
                                      assessments.c.level_pairs)
                            .where(assessments.c.id > last).order_by(assessments.c.id).limit(BATCH)).all()
        if not rows:
            break
        score_rows, pair_rows = [], []
        for row in rows:
            more_scores, more_pairs = _rows(row.id, row.self_scores, row.validated_scores, row.level_pairs)
            score_rows += more_scores
            pair_rows += more_pairs
        if score_rows:
            bind.execute(scores.insert(), score_rows)
        if pair_rows:
            bind.execute(pairs.insert(), pair_rows)
        last = rows[-1].id
    if bind.dialect.name == "postgresql":  # the planner's statistics of the new tables, for the comparison's joins
        op.execute("ANALYZE assessment_scores, assessment_level_pairs")


def downgrade() -> None:
    op.drop_table("assessment_level_pairs")
    op.drop_table("assessment_scores")
