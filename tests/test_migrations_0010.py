"""Revision 0010: institutions get ``updated_at`` (filled from ``created_at``), and the data
stamp's parts are indexed; the stamp then moves when an institution changes, and a kept
comparison follows an institution's change of country.

Runs on SQLite, or on PostgreSQL when DATABASE_URL names it.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, inspect, select, text, update

from rubric_app import schema
from rubric_app.extensions import db
from rubric_app.models import Institution
from rubric_app.services import comparison as cmp
from rubric_app.services import stamps
from tests.conftest import ON_POSTGRES, PG_URL, drop_everything
from tests.test_migrations import ROWS_0001, all_rows, insert_rows

SCORE_TOKENS, CHANGE_STAMPS = "0009_score_tokens", "0010_change_stamps"


@pytest.fixture
def engine(tmp_path):
    if ON_POSTGRES:
        drop_everything(PG_URL)
        url = PG_URL
    else:
        url = f"sqlite:///{tmp_path / 'rubric.db'}"
    eng = create_engine(url)
    yield eng
    eng.dispose()
    if ON_POSTGRES:
        drop_everything(PG_URL)


def indexes(conn, table: str) -> dict[str, list[str]]:
    return {ix["name"]: ix["column_names"] for ix in inspect(conn).get_indexes(table)}


def test_upgrade_fills_updated_at_from_created_at_and_indexes_the_stamp(engine):
    schema.upgrade(engine, "0001_initial_schema")
    insert_rows(engine)
    schema.upgrade(engine, SCORE_TOKENS)
    before = all_rows(engine)
    result = schema.upgrade(engine, CHANGE_STAMPS)
    assert (result.before, result.after) == (SCORE_TOKENS, CHANGE_STAMPS)
    after = all_rows(engine)
    institutions = {row["id"]: row for row in after["institutions"]}
    assert len(institutions) == len(ROWS_0001["institutions"]) > 0
    for row in before["institutions"]:
        kept = dict(institutions[row["id"]])
        assert kept.pop("updated_at") == row["created_at"]
        assert kept == row
    assert {name: rows for name, rows in after.items() if name != "institutions"} == \
        {name: rows for name, rows in before.items() if name != "institutions"}
    with engine.connect() as conn:
        assert indexes(conn, "institutions")["ix_institutions_updated_at"] == ["updated_at"]
        assert indexes(conn, "assessments")["ix_assessments_updated_at"] == ["updated_at"]
    assert schema.downgrade(engine, SCORE_TOKENS).after == SCORE_TOKENS
    with engine.connect() as conn:
        assert "updated_at" not in {c["name"] for c in inspect(conn).get_columns("institutions")}
        assert "ix_assessments_updated_at" not in indexes(conn, "assessments")
    assert all_rows(engine) == before


def test_the_data_stamp_reads_indexes_only(app):
    """Each part of the stamp is the last entry of an index: no part reads the table (SQLite's plan)."""
    if ON_POSTGRES:
        pytest.skip("SQLite's query plan; PostgreSQL plans the same maxima as index scans")
    with app.app_context():
        compiled = str(stamps.DATA.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = [row[-1] for row in db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + compiled)]
    assert not any(step.startswith("SCAN") and step != "SCAN CONSTANT ROW" for step in plan), plan  # no table read
    assert sum("USING COVERING INDEX" in step or "USING INDEX" in step for step in plan) >= 2, plan


def test_an_institution_change_moves_the_stamp_and_a_kept_comparison_follows_it(app, factory, rubric):
    members = [factory.user("member", country="AR") for _ in range(6)]
    for member in members:
        factory.assessment(member, levels=3, submit=True)
    reviewer = factory.user("reviewer")
    filters = cmp.Filters(instrument=rubric.id, versions=(rubric.version,), countries=("AR",))
    with app.app_context():
        first = cmp.compare(db.session, app.extensions["instruments"], reviewer, filters, min_cell=5)
        assert first.country_counts.get("AR") == 6
        stamp = cmp.data_stamp(db.session)
        assert cmp.data_stamp(db.session) == stamp  # nothing changed: the same stamp
        db.session.execute(update(Institution).where(Institution.id == members[0].institution_id).values(country="UY"))
        db.session.commit()
        assert cmp.data_stamp(db.session) != stamp
        again = cmp.compare(db.session, app.extensions["instruments"], reviewer, filters, min_cell=5)
        assert again.country_counts.get("AR") == 5 and again.country_counts.get("UY") == 1
        moved = db.session.scalar(select(Institution.updated_at).where(Institution.id == members[0].institution_id))
        assert moved is not None and moved.replace(tzinfo=moved.tzinfo or timezone.utc) > datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_a_new_institution_has_updated_at(app, factory):
    member = factory.user("member")
    with app.app_context():
        row = db.session.execute(text("SELECT created_at, updated_at FROM institutions WHERE id = :id"),
                                 {"id": member.institution_id}).one()
    assert row.updated_at is not None
