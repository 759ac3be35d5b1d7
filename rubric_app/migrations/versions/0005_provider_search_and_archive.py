"""Providers: an accent- and case-insensitive search key, and archiving.

Adds to ``providers``:

* ``search_key`` (text, NOT NULL): code, name and city case-folded without accents, one per line,
  so "cordoba" finds "Córdoba" on SQLite as on PostgreSQL with a plain ``LIKE`` (SQLite's ``LOWER``
  knows ASCII only). The application keeps it on every write; this revision fills it for the
  existing rows, in batches.
* ``archived_at`` (timestamp, NULL, indexed): when staff archived the provider. Archived providers
  leave the registry list and take no part in new rounds; rounds already run keep their snapshot.

Revision ID: 0005_provider_search_and_archive
Revises: 0004_letter_terms
Create Date: 2026-12-02
"""
from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0005_provider_search_and_archive"
down_revision = "0004_letter_terms"
branch_labels = None
depends_on = None

BATCH = 1000


def _fold(text: str | None) -> str:
    """A frozen copy of ``rubric_app.models.search_fold`` as of this revision."""
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def upgrade() -> None:
    with op.batch_alter_table("providers") as batch:
        batch.add_column(sa.Column("search_key", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_providers_archived_at", ["archived_at"])
    bind = op.get_bind()
    providers = sa.table("providers", sa.column("id", sa.Integer), sa.column("code", sa.String), sa.column("name", sa.String),
                         sa.column("city", sa.String), sa.column("search_key", sa.Text))
    last = 0
    while True:
        rows = bind.execute(sa.select(providers.c.id, providers.c.code, providers.c.name, providers.c.city)
                            .where(providers.c.id > last).order_by(providers.c.id).limit(BATCH)).all()
        if not rows:
            break
        bind.execute(providers.update().where(providers.c.id == sa.bindparam("pid")).values(search_key=sa.bindparam("key")),
                     [{"pid": r.id, "key": "\n".join(_fold(part) for part in (r.code, r.name, r.city))} for r in rows])
        last = rows[-1].id
    # the empty default filled the existing rows; new rows get theirs from the application
    with op.batch_alter_table("providers") as batch:
        batch.alter_column("search_key", server_default=None, existing_type=sa.Text(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("providers") as batch:
        batch.drop_index("ix_providers_archived_at")
        batch.drop_column("archived_at")
        batch.drop_column("search_key")
