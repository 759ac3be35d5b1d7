"""The comparison aggregated in the database equals the pure-Python domain path, and its cache.

* the frequency-table functions of the domain (``publish_counts``, ``aggregate_counts``,
  ``histogram_counts``, ``agreement_table_counts``) give exactly what the list-based ones give;
* ``services.comparison.compare`` (latest assessment per institution, counts and level pairs
  grouped in SQL) equals ``compute_in_python`` (every row loaded, domain functions) on
  randomized data with several rounds, missing scores and small countries, for several filters;
* the cache (Flask-Caching) is keyed by the data stamp: a new submission is seen at once;
* with a Redis URL the cache is shared: what one app computed, another app serves.
"""
from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from rubric_app import create_app
from rubric_app.domain import comparison as dom
from rubric_app.extensions import db
from rubric_app.models import SUBMITTED, VALIDATED, Assessment, Institution, User
from rubric_app.services import accounts
from rubric_app.services import comparison as svc
from rubric_app.services.bulk import bulk_assessments

REDIS_URL = "redis://127.0.0.1:6379/13"
COUNTRIES = ("AR", "CO", "PE", "DO", "CL", "EC")


# ----------------------------------------------------------------------------- domain: counts = lists


def _random_scores(rng: random.Random, n: int, scale: str) -> list:
    if scale == "index":
        return [None if rng.random() < 0.1 else Decimal(rng.randrange(0, 1001)) / 10 for _ in range(n)]
    grid = [Decimal(v) for v in ("1.00", "1.33", "1.50", "1.67", "2.00", "2.33", "2.50", "2.67", "3.00", "3.33", "3.50",
                                 "3.67", "4.00", "4.33", "4.50", "4.67", "5.00")]
    return [None if rng.random() < 0.1 else rng.choice(grid) for _ in range(n)]


def _counts(values) -> dict:
    out: dict = {}
    for v in values:
        if v is not None:
            out[v] = out.get(v, 0) + 1
    return out


@pytest.mark.parametrize("seed", range(40))
def test_publish_counts_equals_publish(seed):
    rng = random.Random(seed)
    scale = "index" if seed % 2 else "level"
    values = _random_scores(rng, rng.randrange(0, 60), scale)
    k = rng.choice([None, 5, 7])
    assert dom.publish_counts(_counts(values), scale, k) == dom.publish(values, scale, k)
    edges = svc.INDEX_EDGES if scale == "index" else svc.SCORE_EDGES
    assert dom.histogram_counts(_counts(values), edges) == dom.histogram(values, edges)


def test_publish_counts_merges_equal_decimals_and_floats():
    values = [Decimal("2.5"), Decimal("2.50"), Decimal("3"), 2.345, 4, Decimal("1.00")]
    counts = {Decimal("2.5"): 2, Decimal("3"): 1, 2.345: 1, 4: 1, Decimal("1.00"): 1}
    assert dom.publish_counts(counts, "level") == dom.publish(values, "level")


@pytest.mark.parametrize("seed", range(25))
def test_aggregate_and_agreement_counts_equal_the_list_functions(seed):
    rng = random.Random(seed)
    dims = ["policy", "access", "people"]
    observations, pair_rows = [], []
    for institution in range(rng.randrange(0, 80)):
        country = rng.choice(COUNTRIES[: rng.randrange(1, len(COUNTRIES) + 1)])
        scores = dict(zip(dims, _random_scores(rng, len(dims), "level"), strict=True))
        observations.append(dom.Observation(institution, country, scores, _random_scores(rng, 1, "index")[0]))
        if rng.random() < 0.4:
            for dim in dims:
                for _ in range(rng.randrange(0, 4)):
                    pair_rows.append((country, dim, institution, rng.randrange(1, 6), rng.randrange(1, 6)))
    counts: dict = {}
    for obs in observations:
        row = counts.setdefault(obs.country, {})
        for key in [*dims, "index"]:
            value = obs.index if key == "index" else obs.scores[key]
            if value is not None:
                row.setdefault(key, {})[value] = row.setdefault(key, {}).get(value, 0) + 1
    shown = rng.choice([None, {"AR"}, {"CO", "PE", "XX"}])
    k = rng.choice([None, 6])
    assert dom.aggregate_counts(counts, dims, countries=shown, min_cell=k) == dom.aggregate(observations, dims, countries=shown, min_cell=k)
    cells: dict = {}
    seen: dict = {}
    for country, dim, institution, own, checked in pair_rows:
        pairs, _ = cells.get((country, dim), ({}, 0))
        pairs[(own, checked)] = pairs.get((own, checked), 0) + 1
        seen.setdefault((country, dim), set()).add(institution)
        cells[(country, dim)] = (pairs, len(seen[(country, dim)]))
    expected = dom.agreement_table(pair_rows, countries=shown, min_cell=k)
    got = dom.agreement_table_counts(cells, countries=shown, dimension_ids=dims, min_cell=k)
    assert got == expected
    assert list(got) == sorted(got, key=lambda key: (key[0] == "ALL", key[0], dims.index(key[1])))


# ----------------------------------------------------------------------------- service: SQL = Python


def _reviewer(app) -> int:
    with app.app_context():
        s = db.new_session()
        user = accounts.create_user(s, email="reviewer@sql.example", password="correct-horse-1", role="reviewer")
        s.commit()
        user_id = user.id
        s.close()
    return user_id


def _later_rounds(app, rubric, seed: int) -> None:
    """Second rounds for some institutions (the latest must win), ties on the round broken by the
    submission date and the id, missing scores and level pairs stored as JSON null."""
    rng = random.Random(seed)
    with app.app_context():
        s = db.new_session()
        rows = s.execute(select(Assessment).where(Assessment.id % 4 == 0)).scalars().all()
        next_id = s.scalar(select(Assessment.id).order_by(Assessment.id.desc()).limit(1)) + 1
        records = []
        for a in rows:
            scores = dict(a.self_scores)
            if rng.random() < 0.5:
                scores[rubric.dimensions[0].id] = None
                scores["index"] = None
            else:
                scores = {key: (str(Decimal(value) + Decimal("0.33")) if value and key != "index" and Decimal(value) < 4 else value)
                          for key, value in scores.items()}
            same_round = rng.random() < 0.3
            records.append({"id": next_id, "institution_id": a.institution_id, "instrument_id": a.instrument_id,
                            "instrument_version": a.instrument_version, "instrument_hash": a.instrument_hash, "language": "es",
                            "status": rng.choice((SUBMITTED, VALIDATED)), "round_number": 1 if same_round else 2,
                            "created_at": a.created_at, "updated_at": a.updated_at,
                            "submitted_at": None if rng.random() < 0.1 else a.submitted_at + timedelta(days=rng.choice((-5, 5))),
                            "self_scores": scores, "validated_scores": scores if rng.random() < 0.5 else None,
                            "level_pairs": a.level_pairs if rng.random() < 0.5 else None})
            next_id += 1
        if records:
            s.execute(insert(Assessment), records)
        # a small country, below the threshold
        s.execute(insert(Institution), [{"id": 900_000 + i, "name": f"Pequeña {i}", "name_key": f"pequeña {i}", "country": "UY",
                                         "city": "", "type": "training_centre", "sector": "", "synthetic": False,
                                         "created_at": rows[0].created_at} for i in range(3)])
        s.execute(insert(Assessment), [{"id": next_id + i, "institution_id": 900_000 + i, "instrument_id": rubric.id,
                                        "instrument_version": rubric.version, "instrument_hash": rubric.hash, "language": "es",
                                        "status": VALIDATED, "round_number": 1, "created_at": rows[0].created_at,
                                        "updated_at": rows[0].updated_at, "submitted_at": rows[0].submitted_at,
                                        "self_scores": rows[i].self_scores, "validated_scores": rows[i].self_scores,
                                        "level_pairs": {rubric.dimensions[0].id: [[3, 2], [4, 4]]}} for i in range(3)])
        s.commit()
        s.close()


def _same(a: svc.Comparison, b: svc.Comparison) -> None:
    assert a.rubric == b.rubric
    assert a.table == b.table
    assert a.agreement == b.agreement
    assert a.index_histogram == b.index_histogram and a.index_edges == b.index_edges
    assert a.score_histograms == b.score_histograms and a.score_edges == b.score_edges
    assert a.institution_rows == b.institution_rows
    assert (a.region_institutions, a.institutions, a.synthetic) == (b.region_institutions, b.institutions, b.synthetic)
    assert a.agreement_rows() == b.agreement_rows()


@pytest.mark.parametrize("seed", [3, 11])
def test_sql_path_equals_python_path_on_random_data(app, rubric, seed):
    user_id = _reviewer(app)
    with app.app_context():
        s = db.new_session()
        bulk_assessments(s, rubric, 400, COUNTRIES, seed=seed)
        s.close()
    _later_rounds(app, rubric, seed)
    filters = [
        svc.Filters(instrument=rubric.id, versions=(rubric.version,)),
        svc.Filters(instrument=rubric.id, versions=(rubric.version,), countries=("AR", "CO", "UY")),
        svc.Filters(instrument=rubric.id, versions=(rubric.version,), basis="validated"),
        svc.Filters(instrument=rubric.id, versions=(rubric.version,), countries=("PE",), round_number=2),
        svc.Filters(instrument=rubric.id, versions=(rubric.version,), date_from=date.today() - timedelta(days=300),
                    type="training_centre"),
        svc.Filters(instrument=rubric.id, versions=(rubric.version,), countries=("ZZ",)),
    ]
    with app.test_request_context():
        s = db.session
        user = s.get(User, user_id)
        registry = app.extensions["instruments"]
        for f in filters:
            for k in (None, 8):
                fast = svc.compare(s, registry, user, f, with_institutions=True, use_cache=False, min_cell=k)
                slow = svc.compute_in_python(s, registry, f, with_institutions=True, min_cell=k)
                _same(fast, slow)
        everyone = svc.compare(s, registry, user, filters[0], use_cache=False)
        assert everyone.region_institutions == 403 and everyone.table["ALL"]["index"].n > 300
        assert "UY" in everyone.table and everyone.table["UY"]["index"].suppressed


# ----------------------------------------------------------------------------- cache


def test_cache_serves_until_a_new_submission_changes_the_data_stamp(app, rubric, monkeypatch):
    user_id = _reviewer(app)
    with app.app_context():
        s = db.new_session()
        bulk_assessments(s, rubric, 30, COUNTRIES, seed=5)
        s.close()
    calls = []
    compute = svc._compute
    monkeypatch.setattr(svc, "_compute", lambda *a, **kw: calls.append(1) or compute(*a, **kw))
    f = svc.Filters(instrument=rubric.id, versions=(rubric.version,))
    with app.test_request_context():
        registry = app.extensions["instruments"]
        user = db.session.get(User, user_id)
        first = svc.compare(db.session, registry, user, f)
        again = svc.compare(db.session, registry, user, f)
        assert len(calls) == 1 and again.rubric is first.rubric
        _same(first, again)
    with app.app_context():
        s = db.new_session()
        bulk_assessments(s, rubric, 1, ("AR",), seed=6)  # a new submission
        s.close()
    with app.test_request_context():
        user = db.session.get(User, user_id)
        after = svc.compare(db.session, app.extensions["instruments"], user, f)
        assert len(calls) == 2
        assert after.region_institutions == first.region_institutions + 1


def _redis_or_skip():
    redis = pytest.importorskip("redis")
    try:
        connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        connection.ping()
    except Exception:  # noqa: BLE001 - any failure to reach it means: not available here
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    return connection


def test_cache_is_shared_between_apps_through_redis(tmp_path, monkeypatch):
    from tests.conftest import make_app

    connection = _redis_or_skip()
    connection.flushdb()
    first = make_app(tmp_path, CACHE_REDIS_URL=REDIS_URL)
    second = create_app({key: first.config[key] for key in ("TESTING", "SECRET_KEY", "DATABASE_URL", "REPORTS_DIR",
                                                            "WTF_CSRF_ENABLED", "MAIL_BACKEND")} | {"REDIS_URL": REDIS_URL})
    try:
        rubric = first.extensions["instruments"].latest("ifp-migrant-inclusion")
        user_id = _reviewer(first)
        with first.app_context():
            s = db.new_session()
            bulk_assessments(s, rubric, 40, COUNTRIES, seed=9)
            s.close()
        f = svc.Filters(instrument=rubric.id, versions=(rubric.version,))
        with first.test_request_context():
            computed = svc.compare(db.session, first.extensions["instruments"], db.session.get(User, user_id), f)
            assert first.config["CACHE_TYPE"] == "RedisCache"
        assert connection.keys("rubric:comparison:*")

        def refuse(*args, **kwargs):
            raise AssertionError("the second app computed instead of reading the shared cache")

        monkeypatch.setattr(svc, "_compute", refuse)
        with second.test_request_context():
            served = svc.compare(db.session, second.extensions["instruments"], db.session.get(User, user_id), f)
            assert second.config["CACHE_TYPE"] == "RedisCache"
        _same(served, computed)
        # a submission through the first app's database is seen by the second: the stamp changed
        with first.app_context():
            s = db.new_session()
            bulk_assessments(s, rubric, 1, ("CO",), seed=10)
            s.close()
        with second.test_request_context(), pytest.raises(AssertionError, match="shared cache"):
            svc.compare(db.session, second.extensions["instruments"], db.session.get(User, user_id), f)
    finally:
        connection.flushdb()
        for application in (first, second):
            with application.app_context():
                db.engine.dispose()


# ----------------------------------------------------------------------------- latest assessment per institution


def test_the_latest_assessment_breaks_ties_as_the_reference_does(app, rubric):
    """Highest round, then latest submission (none counts as earliest; microseconds count), then
    highest id, whatever order the ids come in; drafts and other versions never count."""
    from datetime import datetime, timezone

    user_id = _reviewer(app)
    t0 = datetime(2025, 3, 4, 10, 30, 0, 500_000, tzinfo=timezone.utc)
    # per institution: (round, submitted_at, status, version) of its assessments in id order; the expected winner's place
    cases = [
        ([(1, t0, SUBMITTED, None), (1, t0, VALIDATED, None)], 1),                                # same time: the higher id
        ([(1, t0 + timedelta(microseconds=1), SUBMITTED, None), (1, t0, VALIDATED, None)], 0),    # one microsecond later
        ([(1, None, SUBMITTED, None), (1, t0 - timedelta(days=900), VALIDATED, None)], 1),         # no time counts as earliest
        ([(1, t0, SUBMITTED, None), (1, None, VALIDATED, None)], 0),
        ([(2, t0 - timedelta(days=30), SUBMITTED, None), (1, t0, VALIDATED, None)], 0),            # the round first
        ([(1, t0, SUBMITTED, None), (2, t0, "draft", None), (1, t0, VALIDATED, "0.9")], 0),        # a draft, another version
        ([(1, None, SUBMITTED, None), (1, None, VALIDATED, None)], 1),                             # both without a time
        ([(3, t0 + timedelta(hours=5), VALIDATED, None), (3, t0 + timedelta(hours=5, seconds=1), SUBMITTED, None)], 1),
    ]
    with app.app_context():
        s = db.new_session()
        bulk_assessments(s, rubric, 40, ("AR",), seed=2)  # enough institutions for published figures
        template = s.scalars(select(Assessment).where(Assessment.level_pairs.is_not(None)).limit(1)).one()
        next_id = s.scalar(select(Assessment.id).order_by(Assessment.id.desc()).limit(1)) + 1
        expected = {}
        for number, (assessments, winner) in enumerate(cases):
            institution_id = 800_000 + number
            s.execute(insert(Institution), [{"id": institution_id, "name": f"Empate {number}", "name_key": f"empate {number}",
                                             "country": "CO", "city": "", "type": "training_centre", "sector": "",
                                             "synthetic": False, "created_at": template.created_at}])
            for place, (round_number, submitted_at, status, version) in enumerate(assessments):
                scores = {**template.self_scores, "policy": f"{1 + place}.00"}
                s.execute(insert(Assessment), [{"id": next_id, "institution_id": institution_id, "instrument_id": rubric.id,
                                                "instrument_version": version or rubric.version, "instrument_hash": rubric.hash,
                                                "language": "es", "status": status, "round_number": round_number,
                                                "created_at": template.created_at, "updated_at": template.updated_at,
                                                "submitted_at": submitted_at, "self_scores": scores, "validated_scores": scores,
                                                "level_pairs": template.level_pairs}])
                if place == winner:
                    expected[f"Empate {number}"] = next_id
                next_id += 1
        s.commit()
        s.close()
    with app.test_request_context():
        s = db.session
        user = s.get(User, user_id)
        registry = app.extensions["instruments"]
        for basis in ("self", "validated"):
            filters = svc.Filters(instrument=rubric.id, versions=(rubric.version,), countries=("CO",), basis=basis)
            fast = svc.compare(s, registry, user, filters, with_institutions=True, use_cache=False)
            slow = svc.compute_in_python(s, registry, filters, with_institutions=True)
            _same(fast, slow)
            chosen = {row["institution"]: row["assessment"] for row in fast.institution_rows}
            if basis == "self":
                assert chosen == expected
            else:  # only validated assessments count on the validated basis
                assert set(chosen) <= set(expected) and chosen["Empate 0"] == expected["Empate 0"]
