"""Record versions for optimistic concurrency; a NULL answer target now follows the level.

Adds ``version`` (integer, NOT NULL, server default 1) to the records people edit at the same
time: assessments, answers, plan items, providers and selection rounds.

``answers.target`` used to hold the default target (current level + 1, at most 5) whenever a level
was given; NULL now means "follows the level", so stored targets equal to that default become
NULL and only targets people chose themselves stay.

Revision ID: 0002_record_versions
Revises: 0001_initial_schema
Create Date: 2025-01-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_record_versions"
down_revision = "0001_initial_schema"
branch_labels = None
depends_on = None

VERSIONED_TABLES = ("assessments", "answers", "plan_items", "providers", "selection_rounds")
DEFAULT_TARGET = "CASE WHEN level >= 5 THEN 5 ELSE level + 1 END"


def upgrade() -> None:
    for table in VERSIONED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.execute(f"UPDATE answers SET target = NULL WHERE level IS NOT NULL AND target = {DEFAULT_TARGET}")


def downgrade() -> None:
    op.execute(f"UPDATE answers SET target = {DEFAULT_TARGET} WHERE level IS NOT NULL AND target IS NULL")
    for table in reversed(VERSIONED_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
