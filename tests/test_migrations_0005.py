"""Revision 0005: providers get a folded search key (filled for existing rows) and an archive date.

Runs on SQLite, or on PostgreSQL when DATABASE_URL names it.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, inspect, text

from rubric_app import schema
from rubric_app.models import provider_search_key
from tests.conftest import ON_POSTGRES, PG_URL, drop_everything

LETTERS, SEARCH = "0004_letter_terms", "0005_provider_search_and_archive"
T0 = datetime(2025, 3, 4, 10, 30, tzinfo=timezone.utc)


@pytest.fixture
def engine(tmp_path):
    if ON_POSTGRES:
        drop_everything(PG_URL)
        eng = create_engine(PG_URL)
    else:
        eng = create_engine(f"sqlite:///{tmp_path / 'rubric.db'}")
    yield eng
    eng.dispose()
    if ON_POSTGRES:
        drop_everything(PG_URL)


def add_providers(engine, rows):
    with engine.begin() as conn:
        for pid, code, name, city in rows:
            conn.execute(text(
                "INSERT INTO providers (id, code, name, country, city, type, contact_name, contact_email, contact_phone, facts, "
                "item_scores, synthetic, version, created_at, updated_at, legal_representative, legal_representative_position) "
                "VALUES (:id, :code, :name, 'AR', :city, 'ngo', '', '', '', '{}', '{}', :syn, 1, :t, :t, '', '')"),
                {"id": pid, "code": code, "name": name, "city": city, "syn": False, "t": T0})


def test_upgrade_fills_the_search_key_of_every_provider_and_downgrade_removes_the_columns(engine):
    schema.upgrade(engine, LETTERS)
    rows = [(i, f"AR-{i:04d}", f"Fundación Córdoba Ñandú {i}", "Córdoba" if i % 2 else "São Paulo") for i in range(1, 2502)]
    add_providers(engine, rows)  # more than one batch of the backfill
    result = schema.upgrade(engine, SEARCH)
    assert (result.before, result.after) == (LETTERS, SEARCH)
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT id, search_key FROM providers")).all())
        archived = conn.execute(text("SELECT COUNT(*) FROM providers WHERE archived_at IS NOT NULL")).scalar()
        indexes = {ix["name"] for ix in inspect(conn).get_indexes("providers")}
    assert stored == {pid: provider_search_key(code, name, city) for pid, code, name, city in rows}
    assert stored[1] == "ar-0001\nfundacion cordoba nandu 1\ncordoba" and stored[2].endswith("\nsao paulo")
    assert archived == 0 and "ix_providers_archived_at" in indexes
    schema.downgrade(engine, LETTERS)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("providers")}
        assert conn.execute(text("SELECT COUNT(*) FROM providers")).scalar() == len(rows)
    assert "search_key" not in columns and "archived_at" not in columns


def test_upgrade_of_an_empty_registry(engine):
    schema.upgrade(engine, SEARCH)
    assert schema.current_revision(engine) == SEARCH
    with engine.connect() as conn:
        assert {"search_key", "archived_at"} <= {c["name"] for c in inspect(conn).get_columns("providers")}
