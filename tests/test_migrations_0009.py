"""Revision 0009: the assessments' JSON scores and level pairs are copied into one row of text tokens
per assessment (``assessment_score_tokens``), and the comparison counted from those tokens gives
the figures it gave before the upgrade (from the JSON and from the rows of revision 0008).

Runs on SQLite, or on PostgreSQL when DATABASE_URL names it.
"""
from __future__ import annotations

from sqlalchemy import inspect, select, text

from rubric_app import create_app, schema
from rubric_app.extensions import db
from rubric_app.models import ScoreTokens
from rubric_app.services import comparison as cmp
from rubric_app.services.score_rows import tokens_for
from tests.test_migrations import app_config, dispose, reflected
from tests.test_migrations_0008 import (FILTERS, PENDING_UPLOADS, SCORE_ROWS, assessments_at_0007, compare_after_upgrade, db_url, engine,
                                        fill)

__all__ = ["db_url", "engine"]  # fixtures shared with the 0008 test

SCORE_TOKENS = "0009_score_tokens"


def test_upgrade_writes_the_tokens_and_the_comparison_keeps_its_figures(engine, db_url, tmp_path, monkeypatch):
    schema.upgrade(engine, PENDING_UPLOADS)
    app = create_app(app_config(db_url, tmp_path), check_schema=False)
    rubric = app.extensions["instruments"].latest("ifp-migrant-inclusion")
    institutions, assessments = assessments_at_0007(rubric, 900, seed=21)
    assert len(assessments) > 1000  # more than one batch of the backfill
    fill(engine, institutions, assessments)
    assert schema.upgrade(engine, SCORE_ROWS).after == SCORE_ROWS  # a database holding the data of revision 0008
    try:
        with app.app_context():  # the figures before: the reference path, every row's JSON read in Python
            s = db.new_session()
            before = {i: cmp.compute_in_python(s, app.extensions["instruments"], cmp.Filters(versions=(rubric.version,), **f),
                                               with_institutions=True) for i, f in enumerate(FILTERS)}
            s.close()
    finally:
        dispose(app)
    assert before[0].region_institutions > 700 and before[1].agreement

    result = schema.upgrade(engine, SCORE_TOKENS)
    assert (result.before, result.after) == (SCORE_ROWS, SCORE_TOKENS)
    with engine.connect() as conn:
        stored = {row.assessment_id: {"assessment_id": row.assessment_id, "self_scores": row.self_scores,
                                      "validated_scores": row.validated_scores, "level_pairs": row.level_pairs}
                  for row in conn.execute(select(ScoreTokens.__table__))}
    assert stored == {a["id"]: tokens_for(a["id"], a["self_scores"], a["validated_scores"], a["level_pairs"]) for a in assessments}
    assert stored[1]["self_scores"].endswith("index=4170") and stored[2]["validated_scores"] == "index=4000"
    assert any(row["validated_scores"] is None for row in stored.values()) and any(row["level_pairs"] for row in stored.values())

    compare_after_upgrade(engine, db_url, tmp_path, monkeypatch, rubric, before, "tokens", with_aggregates=True)

    # and back: the table goes, the rows of 0008 and the JSON columns stay as they were
    assert schema.downgrade(engine, SCORE_ROWS).after == SCORE_ROWS
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        json_columns = {row.id: (row.self_scores, row.validated_scores, row.level_pairs)
                        for row in conn.execute(select(reflected(conn).tables["assessments"]))}
        score_rows = conn.execute(text("SELECT count(*) FROM assessment_scores")).scalar()
    assert "assessment_score_tokens" not in names and {"assessment_scores", "assessment_level_pairs"} <= names
    assert score_rows > 0
    assert json_columns == {a["id"]: (a["self_scores"], a["validated_scores"], a["level_pairs"]) for a in assessments}


def test_upgrade_of_a_database_without_assessments(engine):
    schema.upgrade(engine, SCORE_TOKENS)
    assert schema.current_revision(engine) == SCORE_TOKENS
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM assessment_score_tokens")).scalar() == 0
