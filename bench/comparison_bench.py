"""Median server time of the comparison page and API at 1,000 and 10,000 (or --sizes) assessments.

    python bench/comparison_bench.py [--runs 15] [--sizes 1000,10000,100000]
                                     [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

The requests ask for the version the bulk data is answered on (the latest), so the figures cover
real work (an unknown version gives an empty comparison).

Fills a fresh database with `flask demo bulk` data (synthetic), then times GET /compare and
GET /api/v1/comparison through the WSGI app (no network) and ``services.comparison.compare(...,
use_cache=False)`` alone, and prints medians and the ratios between sizes.
Target: the uncached comparison (API and compare() alone) at most 150 ms median at 10,000
assessments, growing no faster than linearly.
"Uncached" empties the comparison cache before every request (results and charts are computed anew).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rubric_app import create_app, schema  # noqa: E402
from rubric_app.extensions import db  # noqa: E402
from rubric_app.models import Base  # noqa: E402
from rubric_app.services import accounts  # noqa: E402
from rubric_app.services.bulk import bulk_assessments  # noqa: E402

CPU: dict = {}
BULK = ("AR", "BO", "BR", "CL", "CO", "CR", "DO", "EC", "ES", "GT", "HN", "MX", "NI", "PA", "PE", "PT", "PY", "SV", "UY", "VE")


def timed(client, url: str, runs: int, cold: bool = False) -> float:
    """Median milliseconds per request; ``cold`` empties the comparison cache before each one.
    Also keeps the median CPU time of this process per request in ``CPU[(url, cold)]``: on a shared
    machine it moves much less than the elapsed time (on SQLite it holds the database's work too)."""
    from rubric_app.services import comparison

    client.get(url)  # warm-up
    samples, cpu = [], []
    for _ in range(runs):
        if cold:
            clear = getattr(comparison, "clear_cache", None)
            clear() if clear else comparison._CACHE.clear()
        start, start_cpu = time.perf_counter(), time.process_time()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    CPU[(url, cold)] = statistics.median(cpu)
    return statistics.median(samples)


def timed_compare(session, registry, user, version: str, runs: int) -> tuple[float, float]:
    """Median elapsed and CPU milliseconds of ``services.comparison.compare(..., use_cache=False)``
    alone (aggregates only, as the API answers them): the comparison without HTTP, JSON or the
    data stamp."""
    from rubric_app.services import comparison

    filters = comparison.Filters(versions=(version,))
    comparison.compare(session, registry, user, filters, use_cache=False)  # warm-up
    samples, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        comparison.compare(session, registry, user, filters, use_cache=False)
        samples.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        session.rollback()
    return statistics.median(samples), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--sizes", default="1000,10000", help="assessment counts, ascending, comma-separated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        if args.database_url:
            from sqlalchemy import create_engine

            from sqlalchemy import text

            engine = create_engine(url)
            Base.metadata.drop_all(engine)
            with engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            engine.dispose()
        schema.upgrade(url)
        app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": url, "REPORTS_DIR": f"{tmp}/reports", "WTF_CSRF_ENABLED": False})
        with app.app_context():
            s = db.new_session()
            accounts.create_user(s, email="reviewer@bench.example", password="bench-password", role="reviewer")
            s.commit()
            rubric = app.extensions["instruments"].latest("ifp-migrant-inclusion")
            client = app.test_client()
            client.post("/login", data={"email": "reviewer@bench.example", "password": "bench-password"})
            results, cold_results, alone_results = {}, {}, {}
            from rubric_app.models import User
            from sqlalchemy import select

            reviewer = s.scalar(select(User).where(User.email == "reviewer@bench.example"))
            total = 0
            sizes = [int(v) for v in args.sizes.split(",")]
            version = rubric.version
            for target in sizes:
                start = time.perf_counter()
                bulk_assessments(s, rubric, target - total, BULK, seed=target)
                total = target
                fill = time.perf_counter() - start
                page = timed(client, f"/compare?version={version}", args.runs)
                api = timed(client, f"/api/v1/comparison?version={version}", args.runs)
                page_cold = timed(client, f"/compare?version={version}", args.runs, cold=True)
                api_cold = timed(client, f"/api/v1/comparison?version={version}", args.runs, cold=True)
                fresh = db.new_session()  # not the session that filled the database
                alone, alone_cpu = timed_compare(fresh, app.extensions["instruments"], fresh.merge(reviewer), version, args.runs)
                fresh.close()
                results[target] = (page, api)
                cold_results[target] = (page_cold, api_cold)
                alone_results[target] = alone
                print(f"{target:>6} assessments (filled in {fill:.1f} s): page median {page:6.1f} ms   API median {api:6.1f} ms   "
                      f"(uncached: page {page_cold:6.1f} ms, API {api_cold:6.1f} ms)")
                print(f"{'':>6} CPU time of this process, uncached: page {CPU[(f'/compare?version={version}', True)]:6.1f} ms, "
                      f"API {CPU[(f'/api/v1/comparison?version={version}', True)]:6.1f} ms")
                print(f"{'':>6} compare(use_cache=False) alone: median {alone:6.1f} ms (CPU {alone_cpu:6.1f} ms)")
            s.close()
            db.engine.dispose()
    for small, large in zip(sizes, sizes[1:]):
        (p1, a1), (p10, a10) = results[small], results[large]
        (c1, ca1), (c10, ca10) = cold_results[small], cold_results[large]
        factor = large / small
        print(f"uncached ratio {large}/{small} (data x{factor:g}): page {c10 / c1:.1f}x   API {ca10 / ca1:.1f}x "
              f"(linear growth would be {factor:g}x)")
        print(f"cached ratio {large}/{small} (data x{factor:g}): page {p10 / p1:.1f}x   API {a10 / a1:.1f}x")
        print(f"compare() alone ratio {large}/{small} (data x{factor:g}): {alone_results[large] / alone_results[small]:.1f}x")
    if 10_000 in cold_results:
        api, alone = cold_results[10_000][1], alone_results[10_000]
        print(f"uncached at 10,000: API {api:.1f} ms, compare() alone {alone:.1f} ms, target <= 150 ms "
              f"({'met' if max(api, alone) <= 150 else 'NOT met'}; the page also draws charts and lists institutions)")


if __name__ == "__main__":
    main()
