"""Revision 0008: the assessments' JSON scores and level pairs are copied into numeric rows
(``assessment_scores``, ``assessment_level_pairs``), and the comparison counted from those rows
gives the figures the JSON gave before the upgrade.

Runs on SQLite, or on PostgreSQL when DATABASE_URL names it.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, inspect, select, text

from rubric_app import create_app, schema
from rubric_app.domain.scoring import CriterionAnswer, score_rubric
from rubric_app.extensions import db
from rubric_app.models import AssessmentScore, LevelPair, User
from rubric_app.services import accounts
from rubric_app.services import comparison as cmp
from rubric_app.services.assessments import scores_record
from rubric_app.services.score_rows import score_value
from tests.conftest import ON_POSTGRES, PG_URL, drop_everything
from tests.test_migrations import app_config, dispose, reflected

PENDING_UPLOADS, SCORE_ROWS = "0007_pending_uploads", "0008_score_columns"
T0 = datetime(2025, 3, 4, 10, 30, tzinfo=timezone.utc)
COUNTRIES = ("AR", "CO", "PE", "DO")


@pytest.fixture
def db_url(tmp_path):
    if ON_POSTGRES:
        drop_everything(PG_URL)
        yield PG_URL
        drop_everything(PG_URL)
    else:
        yield f"sqlite:///{tmp_path / 'rubric.db'}"


@pytest.fixture
def engine(db_url):
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


def assessments_at_0007(rubric, count: int, seed: int) -> tuple[list[dict], list[dict]]:
    """Institutions and assessments as rubric stored them before 0008: scores only in JSON.

    Submitted, validated and draft (returned, its self scores kept) assessments; second rounds;
    a dimension without a score (no index then); the float index and the bare validated index of
    early versions; three institutions in a small country.
    """
    rng = random.Random(seed)
    institutions, assessments = [], []
    next_id = 1
    for number in range(1, count + 1):
        country = "UY" if number <= 3 else COUNTRIES[rng.randrange(len(COUNTRIES))]
        name = f"Institución {number:05d}"
        institutions.append({"id": number, "name": name, "name_key": name.casefold(), "country": country, "city": "",
                             "type": rng.choice(("training_centre", "university")), "sector": "public",
                             "synthetic": rng.random() < 0.5, "created_at": T0, "version": 1})
        for round_number in range(1, (3 if rng.random() < 0.15 else 2)):
            levels = {c.id: rng.randint(1, 5) for c in rubric.criteria}
            own = {cid: CriterionAnswer(cid, lvl) for cid, lvl in levels.items()}
            if rng.random() < 0.05:  # "not applicable" for two of three criteria: no score, no index
                for crit in rubric.dimensions[1].criteria[:2]:
                    own[crit.id] = CriterionAnswer(crit.id, None, True, "No aplica")
            status = rng.choice(("submitted", "submitted", "validated", "validated", "draft"))
            record = {"id": next_id, "institution_id": number, "instrument_id": rubric.id, "instrument_version": rubric.version,
                      "instrument_hash": rubric.hash, "language": "es", "status": status, "round_number": round_number,
                      "created_at": T0, "updated_at": T0, "version": 1,
                      "submitted_at": T0 + timedelta(days=rng.randrange(400)) if status != "draft" else None,
                      "self_scores": scores_record(score_rubric(rubric, own)), "validated_scores": None, "level_pairs": None}
            if status == "validated":
                checked = {cid: max(1, min(5, lvl - rng.choice((0, 0, 1)))) for cid, lvl in levels.items()}
                record["validated_scores"] = scores_record(score_rubric(rubric, {cid: CriterionAnswer(cid, lvl)
                                                                                 for cid, lvl in checked.items()}))
                pairs: dict[str, list[list[int]]] = {}
                for crit in rubric.criteria:
                    if own[crit.id].level is not None:
                        pairs.setdefault(crit.dimension_id, []).append([levels[crit.id], checked[crit.id]])
                record["level_pairs"] = pairs
            assessments.append(record)
            next_id += 1
    # the forms early versions stored (a float index, a validated record with the index only), on
    # drafts: copied, but not compared (the reference path would read the floats' binary expansion)
    assessments[0].update(status="draft", submitted_at=None, self_scores={**assessments[0]["self_scores"], "index": 41.7})
    assessments[1].update(status="draft", submitted_at=None, validated_scores={"index": 40.0},
                          level_pairs={rubric.dimensions[0].id: [[3, 2], [4, 4]]})
    return institutions, assessments


def fill(engine, institutions: list[dict], assessments: list[dict]) -> None:
    with engine.begin() as conn:
        tables = reflected(conn).tables
        conn.execute(tables["institutions"].insert(), institutions)
        conn.execute(tables["assessments"].insert(), assessments)
        if conn.dialect.name == "postgresql":
            for name in ("institutions", "assessments"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))


def stored_rows(engine) -> tuple[dict, dict]:
    """(scores[(assessment, basis)][measure] = Decimal | None, pairs[assessment][dimension] = [[self, validated], ...])."""
    scores: dict = {}
    pairs: dict = {}
    with engine.connect() as conn:
        for assessment_id, basis, measure, hundredths in conn.execute(
                select(AssessmentScore.assessment_id, AssessmentScore.basis, AssessmentScore.measure, AssessmentScore.hundredths)):
            scores.setdefault((assessment_id, basis), {})[measure] = score_value(measure, hundredths)
        for assessment_id, dimension_id, _position, own, checked in conn.execute(
                select(LevelPair.assessment_id, LevelPair.dimension_id, LevelPair.position, LevelPair.self_level,
                       LevelPair.validated_level).order_by(LevelPair.assessment_id, LevelPair.dimension_id, LevelPair.position)):
            pairs.setdefault(assessment_id, {}).setdefault(dimension_id, []).append([own, checked])
    return scores, pairs


FILTERS = [
    {},
    {"basis": "validated"},
    {"countries": ("AR", "CO", "UY")},
    {"countries": ("PE",), "round_number": 2},
    {"basis": "validated", "countries": ("DO",), "type": "university"},
]


def same_figures(a: cmp.Comparison, b: cmp.Comparison) -> None:
    assert a.rubric == b.rubric
    assert a.table == b.table
    assert a.agreement_rows() == b.agreement_rows()
    assert (a.index_edges, a.index_histogram) == (b.index_edges, b.index_histogram)
    assert (a.score_edges, a.score_histograms) == (b.score_edges, b.score_histograms)
    assert a.institution_rows == b.institution_rows
    assert (a.region_institutions, a.institutions, a.synthetic) == (b.region_institutions, b.institutions, b.synthetic)


def test_upgrade_copies_the_json_scores_into_rows_and_the_comparison_keeps_its_figures(engine, db_url, tmp_path, monkeypatch):
    schema.upgrade(engine, PENDING_UPLOADS)
    # the rubric the assessments are answered on, from an app that does not check the schema
    app = create_app(app_config(db_url, tmp_path), check_schema=False)
    rubric = app.extensions["instruments"].latest("ifp-migrant-inclusion")
    institutions, assessments = assessments_at_0007(rubric, 900, seed=8)
    assert len(assessments) > 1000  # more than one batch of the backfill
    fill(engine, institutions, assessments)
    try:
        with app.app_context():  # the figures before: the reference path, every row's JSON read in Python
            s = db.new_session()
            before = {i: cmp.compute_in_python(s, app.extensions["instruments"], cmp.Filters(versions=(rubric.version,), **f),
                                               with_institutions=True) for i, f in enumerate(FILTERS)}
            s.close()
    finally:
        dispose(app)
    assert before[0].region_institutions > 700 and before[1].agreement

    result = schema.upgrade(engine, SCORE_ROWS)
    assert (result.before, result.after) == (PENDING_UPLOADS, SCORE_ROWS)

    scores, pairs = stored_rows(engine)
    expected_scores = {(a["id"], basis): {k: (Decimal(str(v)) if v is not None else None) for k, v in a[column].items()}
                       for a in assessments for basis, column in (("self", "self_scores"), ("validated", "validated_scores"))
                       if a[column] is not None}
    assert scores == expected_scores
    assert pairs == {a["id"]: a["level_pairs"] for a in assessments if a["level_pairs"]}
    assert str(scores[(1, "self")]["index"]) == "41.7" and scores[(2, "validated")] == {"index": Decimal("40.0")}
    assert any(None in values.values() for values in scores.values())  # a dimension without a score stays without one

    # the comparison reads the tokens of revision 0009 (tests/test_migrations_0009.py), filled from the same JSON
    compare_after_upgrade(engine, db_url, tmp_path, monkeypatch, rubric, before, "rows", with_reference=True)

    # and back: the tables go, the JSON columns never changed
    assert schema.downgrade(engine, PENDING_UPLOADS).after == PENDING_UPLOADS
    with engine.connect() as conn:
        names = set(inspect(conn).get_table_names())
        stored = {row.id: (row.self_scores, row.validated_scores, row.level_pairs)
                  for row in conn.execute(select(reflected(conn).tables["assessments"]))}
    assert not {"assessment_scores", "assessment_level_pairs"} & names
    assert stored == {a["id"]: (a["self_scores"], a["validated_scores"], a["level_pairs"]) for a in assessments}


def test_upgrade_of_a_database_without_assessments(engine):
    schema.upgrade(engine, SCORE_ROWS)
    assert schema.current_revision(engine) == SCORE_ROWS
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM assessment_scores")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM assessment_level_pairs")).scalar() == 0


def compare_after_upgrade(engine, db_url, tmp_path, monkeypatch, rubric, before, copied: str, *, with_reference: bool = False,
                          with_aggregates: bool = False) -> None:
    """Upgrade to the head and check that the comparison gives ``before``'s figures for every one of
    FILTERS without writing any score data itself (the upgrade wrote the ``copied`` it reads);
    ``with_reference`` also checks them against the reference path (:func:`cmp.compute_in_python`),
    ``with_aggregates`` the aggregates-only answer too."""
    schema.upgrade(engine)  # the later revisions, for an app that checks the schema
    app = create_app(app_config(db_url, tmp_path))
    try:
        with app.app_context():
            s = db.new_session()
            accounts.create_user(s, email="reviewer@migration.example", password="correct-horse-1", role="reviewer")
            s.commit()
            user = s.scalar(select(User))

            def refuse(*args, **kwargs):
                raise AssertionError(f"the comparison had to copy {copied} the upgrade should have written")

            monkeypatch.setattr(cmp, "write_score_rows", refuse)
            registry = app.extensions["instruments"]
            for i, f in enumerate(FILTERS):
                filters = cmp.Filters(versions=(rubric.version,), **f)
                after = cmp.compare(s, registry, user, filters, with_institutions=True, use_cache=False)
                same_figures(after, before[i])
                if with_reference:
                    same_figures(after, cmp.compute_in_python(s, registry, filters, with_institutions=True))
                assert cmp.comparison_json(after, with_institutions=True) == cmp.comparison_json(before[i], with_institutions=True)
                if with_aggregates:
                    aggregates = cmp.compare(s, registry, user, filters, use_cache=False)
                    assert (aggregates.table, aggregates.agreement) == (before[i].table, before[i].agreement)
            s.close()
    finally:
        dispose(app)
