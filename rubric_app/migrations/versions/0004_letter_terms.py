"""Commitment letters: the provider's legal representative, the round's term and targets.

Adds to ``providers`` the legal representative who signs the commitment letter and their
position (empty for existing providers), and to ``selection_rounds`` the letter's term in months
and its quantified targets: IMESUN courses per year, the share (percent) of participants who are
women migrants or refugees, and the staff to certify as facilitators. Existing rounds get the
defaults (24 months, 4 courses, 60 %, 2 facilitators).

Revision ID: 0004_letter_terms
Revises: 0003_accounts_and_sessions
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_letter_terms"
down_revision = "0003_accounts_and_sessions"
branch_labels = None
depends_on = None

ROUND_TERMS = (("letter_months", "24"), ("courses_per_year", "4"), ("women_share", "60"), ("facilitators", "2"))


def upgrade() -> None:
    with op.batch_alter_table("providers") as batch:
        batch.add_column(sa.Column("legal_representative", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("legal_representative_position", sa.String(200), nullable=False, server_default=""))
    # the empty default filled the existing rows; new rows get theirs from the application, like the other texts
    with op.batch_alter_table("providers") as batch:
        batch.alter_column("legal_representative", server_default=None, existing_type=sa.String(200), existing_nullable=False)
        batch.alter_column("legal_representative_position", server_default=None, existing_type=sa.String(200), existing_nullable=False)
    with op.batch_alter_table("selection_rounds") as batch:
        for name, default in ROUND_TERMS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default=default))


def downgrade() -> None:
    with op.batch_alter_table("selection_rounds") as batch:
        for name, _default in reversed(ROUND_TERMS):
            batch.drop_column(name)
    with op.batch_alter_table("providers") as batch:
        batch.drop_column("legal_representative_position")
        batch.drop_column("legal_representative")
