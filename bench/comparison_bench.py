"""Median server time of the comparison page and API at 1,000 and 10,000 (or --sizes) assessments.

    python bench/comparison_bench.py [--runs 15] [--sizes 1000,10000,100000]
                                     [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

The requests ask for the version the bulk data is answered on (the latest), so the figures cover
real work (an unknown version gives an empty comparison).

Fills a fresh database with `flask demo bulk` data (synthetic), then times GET /compare and
GET /api/v1/comparison through the WSGI app (no network), and prints medians and the 10k/1k ratio.
Target: at most 150 ms median at 10,000 assessments, growing no faster than linearly.
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
            results, cold_results = {}, {}
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
                results[target] = (page, api)
                cold_results[target] = (page_cold, api_cold)
                print(f"{target:>6} assessments (filled in {fill:.1f} s): page median {page:6.1f} ms   API median {api:6.1f} ms   "
                      f"(uncached: page {page_cold:6.1f} ms, API {api_cold:6.1f} ms)")
                print(f"{'':>6} CPU time of this process, uncached: page {CPU[(f'/compare?version={version}', True)]:6.1f} ms, "
                      f"API {CPU[(f'/api/v1/comparison?version={version}', True)]:6.1f} ms")
            s.close()
            db.engine.dispose()
    for small, large in zip(sizes, sizes[1:]):
        (p1, a1), (p10, a10) = results[small], results[large]
        (c1, ca1), (c10, ca10) = cold_results[small], cold_results[large]
        factor = large / small
        print(f"uncached ratio {large}/{small} (data x{factor:g}): page {c10 / c1:.1f}x   API {ca10 / ca1:.1f}x "
              f"(linear growth would be {factor:g}x)")
        print(f"cached ratio {large}/{small} (data x{factor:g}): page {p10 / p1:.1f}x   API {a10 / a1:.1f}x")
    if 10_000 in cold_results:
        worst = max(cold_results[10_000])
        print(f"uncached at 10,000: {worst:.1f} ms, target <= 150 ms ({'met' if worst <= 150 else 'NOT met'})")


if __name__ == "__main__":
    main()
