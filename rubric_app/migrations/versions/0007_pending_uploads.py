"""Pending uploads: provider imports checked in a dry run are kept in the database until applied
(at most an hour), so any app server can apply an upload another one checked.

Revision ID: 0007_pending_uploads
Revises: 0006_jobs
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_pending_uploads"
down_revision = "0006_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_uploads",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("stamp", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("token"),
    )
    op.create_index("ix_pending_uploads_user_id", "pending_uploads", ["user_id"])
    op.create_index("ix_pending_uploads_expires_at", "pending_uploads", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_pending_uploads_expires_at", table_name="pending_uploads")
    op.drop_index("ix_pending_uploads_user_id", table_name="pending_uploads")
    op.drop_table("pending_uploads")
