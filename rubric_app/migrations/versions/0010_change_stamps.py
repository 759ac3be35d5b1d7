"""Change stamps that cost one index lookup: ``institutions.updated_at`` (filled from
``created_at``), and indexes on it and on ``assessments.updated_at``.

Why: every kept results page and every comparison served from the cache first reads the data's
stamp (``rubric_app.services.comparison.data_stamp``). It used to count the assessments and take
the latest ``updated_at`` by reading the whole table (63 ms at 100,000 assessments on SQLite, per
request); with these indexes each part is the last entry of an index. The institutions' own
``updated_at`` lets the stamp see an institution's change (name, country, type, sector), which
the comparison shows and filters on.

Revision ID: 0010_change_stamps
Revises: 0009_score_tokens
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_change_stamps"
down_revision = "0009_score_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable: SQLite cannot add a NOT NULL column without rebuilding the table (which the
    # institutions' foreign keys make unsafe); the model always writes it
    op.add_column("institutions", sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(sa.text("UPDATE institutions SET updated_at = created_at"))
    op.create_index("ix_institutions_updated_at", "institutions", ["updated_at"])
    op.create_index("ix_assessments_updated_at", "assessments", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_assessments_updated_at", table_name="assessments")
    op.drop_index("ix_institutions_updated_at", table_name="institutions")
    with op.batch_alter_table("institutions") as batch:
        batch.drop_column("updated_at")
