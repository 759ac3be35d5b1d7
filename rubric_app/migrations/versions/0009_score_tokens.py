"""Scores as tokens: one row per assessment that the comparison counts in Python.

Adds ``assessment_score_tokens`` (assessment, self_scores, validated_scores, level_pairs: text),
a third copy of the assessments' JSON score columns, written in the same transaction as those and
as the rows of revision 0008 (``rubric_app.services.score_rows``, which describes the format:
"policy=267 access=300 index=4170" and "policy!3:2 policy=3:3 policy=4:4 access!2:2").

Why: the comparison grouped seven score rows and up to eighteen level-pair rows per assessment in
the database; SQLite has no hash aggregation, so it sorted them (n log n, most of the time). With
one row per assessment it reads a tenth of the rows and counts equal tokens per country in Python.

The upgrade fills the table from the JSON of every existing assessment, in batches; the downgrade
drops it (nothing else was changed).

Revision ID: 0009_score_tokens
Revises: 0008_score_columns
Create Date: 2026-12-02
"""
from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote

import sqlalchemy as sa
from alembic import op

revision = "0009_score_tokens"
down_revision = "0008_score_columns"
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
    return number if abs(number) < 2**31 else None


def _level(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _score_tokens(stored) -> str | None:
    """A frozen copy of ``rubric_app.services.score_rows.score_tokens`` as of this revision."""
    if not isinstance(stored, Mapping):
        return None
    return " ".join(f"{quote(str(measure), safe='')}={number}" for measure, value in stored.items()
                    if (number := _hundredths(value)) is not None)


def _pair_tokens(level_pairs) -> str | None:
    """A frozen copy of ``rubric_app.services.score_rows.pair_tokens`` as of this revision."""
    if not isinstance(level_pairs, Mapping):
        return None
    tokens = []
    for dimension_id, items in level_pairs.items():
        listed = items if isinstance(items, (list, tuple)) else ()
        levels = [(_level(pair[0]), _level(pair[1])) for pair in listed if isinstance(pair, (list, tuple)) and len(pair) == 2]
        dimension = quote(str(dimension_id), safe="")
        tokens += [f"{dimension}{'=' if place else '!'}{own}:{checked}"
                   for place, (own, checked) in enumerate(sorted(p for p in levels if None not in p))]
    return " ".join(tokens)


def upgrade() -> None:
    tokens = op.create_table(
        "assessment_score_tokens",
        sa.Column("assessment_id", sa.Integer(), sa.ForeignKey("assessments.id", ondelete="CASCADE"), nullable=False,
                  autoincrement=False),
        sa.Column("self_scores", sa.Text(), nullable=True),
        sa.Column("validated_scores", sa.Text(), nullable=True),
        sa.Column("level_pairs", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("assessment_id"),
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
        bind.execute(tokens.insert(), [{"assessment_id": row.id, "self_scores": _score_tokens(row.self_scores),
                                        "validated_scores": _score_tokens(row.validated_scores),
                                        "level_pairs": _pair_tokens(row.level_pairs)} for row in rows])
        last = rows[-1].id
    if bind.dialect.name == "postgresql":  # the planner's statistics of the new table, for the comparison's join
        op.execute("ANALYZE assessment_score_tokens")


def downgrade() -> None:
    op.drop_table("assessment_score_tokens")
