"""Direct path vs job path: the comparison export at 10,000 assessments and a 20,000-row provider import.

    python bench/export_import_jobs.py [--assessments 10000] [--providers 20000] [--runs 3]
                                       [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_jobs2_bench]

Fills a fresh database with `flask demo bulk` data (synthetic, via services.bulk) and a provider CSV
in the import layout, then, through the WSGI app (no network), as a reviewer and a staff member:

* export, direct: GET /compare/export.{csv,xlsx} with the job threshold raised, so the request
  builds the file (what a browser waits for);
* export, job: POST /compare/export.{csv,xlsx} (the time the request takes to answer 303), then the
  time until the job is done, polling its row (the embedded runner: a worker thread in this process);
* import, direct: the page's check (dry run) and then "Import now", each in the request;
* import, job: the same two as jobs, the time the request takes to answer and the time to done.

Jobs are polled every 0.1 s, so "ready after" may be up to 0.1 s late.

The comparison cache is emptied before every export, so each one computes the comparison anew.
Prints the figures; nothing is written outside a temporary folder (or the database named).
"""
from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rubric_app import create_app, schema  # noqa: E402
from rubric_app.extensions import db  # noqa: E402
from rubric_app.models import Base, Job  # noqa: E402
from rubric_app.services import accounts, provider_io  # noqa: E402
from rubric_app.services import comparison as cmp  # noqa: E402
from rubric_app.services import providers as prov  # noqa: E402
from rubric_app.services.bulk import bulk_assessments  # noqa: E402

BULK = ("AR", "BO", "BR", "CL", "CO", "CR", "DO", "EC", "ES", "GT", "HN", "MX", "NI", "PA", "PE", "PT", "PY", "SV", "UY", "VE")
PASSWORD = "bench-password-1"
LOW, HIGH = 2, 10**9


def fresh_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    Base.metadata.drop_all(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def provider_csv(instrument, prefix: str, n: int) -> bytes:
    cols = provider_io.columns(instrument)
    facts = {f.id for f in instrument.eligibility}
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(cols)
    countries = ("AR", "CO", "PE", "DO")
    for i in range(n):
        base = {"code": f"{prefix}-{i:06d}", "name": f"Proveedor sintético {i}", "country": countries[i % 4], "city": "Lima",
                "type": "ngo", "contact_name": "", "contact_email": f"p{i}@example.org", "contact_phone": ""}
        writer.writerow([base[c] if c in base else ("yes" if c in facts else str((i + len(c)) % 5)) for c in cols])
    return out.getvalue().encode("utf-8")


def wait_done(app, job_id: int, timeout: float = 900) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            s = db.new_session()
            try:
                job = s.get(Job, job_id)
                s.expunge(job)
            finally:
                s.close()
        if job.status in ("done", "failed"):
            return job
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job.status} after {timeout} s")
        time.sleep(0.1)


def job_id(response) -> int:
    assert response.status_code == 303, (response.status_code, response.get_data(as_text=True)[:300])
    return int(response.headers["Location"].rsplit("/", 1)[1])


def export_direct(app, client, fmt: str, query: str) -> float:
    app.config["EXPORT_JOB_THRESHOLD"] = HIGH
    with app.app_context():
        cmp.clear_cache()
    start = time.perf_counter()
    with client.get(f"/compare/export.{fmt}?{query}") as response:
        assert response.status_code == 200 and response.mimetype != "text/html", response.status_code
        response.get_data()
    return time.perf_counter() - start


def export_job(app, client, fmt: str, form: dict) -> tuple[float, float]:
    app.config["EXPORT_JOB_THRESHOLD"] = LOW
    with app.app_context():
        cmp.clear_cache()
    start = time.perf_counter()
    response = client.post(f"/compare/export.{fmt}", data=form)
    answered = time.perf_counter() - start
    job = wait_done(app, job_id(response))
    assert job.status == "done", job.error
    return answered, time.perf_counter() - start


def upload(client, data: bytes, dry_run: str):
    return client.post("/providers/import", data={"file": (io.BytesIO(data), "providers.csv"), "dry_run": dry_run},
                       content_type="multipart/form-data")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--assessments", type=int, default=10_000)
    parser.add_argument("--providers", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3, help="exports per format and path (medians)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        if args.database_url:
            fresh_database(url)
        schema.upgrade(url)
        app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": url, "REPORTS_DIR": f"{tmp}/reports", "WTF_CSRF_ENABLED": False})
        with app.app_context():  # the requests below run outside it: each pushes its own (its own signed-in user)
            s = db.new_session()
            for role in ("reviewer", "staff"):
                accounts.create_user(s, email=f"{role}@bench.example", password=PASSWORD, role=role)
            s.commit()
            rubric = app.extensions["instruments"].latest("ifp-migrant-inclusion")
            start = time.perf_counter()
            bulk_assessments(s, rubric, args.assessments, BULK, seed=args.assessments)
            print(f"{args.assessments} synthetic assessments in {len(BULK)} countries, filled in {time.perf_counter() - start:.1f} s "
                  f"({s.get_bind().dialect.name})")
            instrument = prov.provider_instrument(app.extensions["instruments"])
            s.close()

        reviewer, staff = app.test_client(), app.test_client()
        for client, role in ((reviewer, "reviewer"), (staff, "staff")):
            _ok(client.post("/login", data={"email": f"{role}@bench.example", "password": PASSWORD}), 302)
        form = {"instrument": rubric.id, "version": rubric.version}
        query = f"instrument={rubric.id}&version={rubric.version}"
        print(f"\nComparison export as a reviewer (one row per institution), medians of {args.runs}; cache emptied each time")
        for fmt in ("csv", "xlsx"):
            direct = [export_direct(app, reviewer, fmt, query) for _ in range(args.runs)]
            jobs = [export_job(app, reviewer, fmt, form) for _ in range(args.runs)]
            print(f"  {fmt:>4}: direct request {statistics.median(direct) * 1000:7.0f} ms | job: request answers in "
                  f"{statistics.median(a for a, _ in jobs) * 1000:5.0f} ms, file ready after {statistics.median(d for _, d in jobs) * 1000:7.0f} ms")

        print(f"\nProvider import of {args.providers} new rows (CSV) as staff")
        direct_file = provider_csv(instrument, "DIR", args.providers)
        job_file = provider_csv(instrument, "JOB", args.providers)
        print(f"  file: {len(direct_file) / 1e6:.1f} MB; counting its rows (the threshold's test) takes "
              f"{timed(lambda: provider_io.count_rows('p.csv', job_file)) * 1000:.0f} ms")
        app.config["IMPORT_JOB_THRESHOLD"] = HIGH
        start = time.perf_counter()
        page = _ok(upload(staff, direct_file, "1"), 200).get_data(as_text=True)
        check = time.perf_counter() - start
        token = page.split('name="token" value="', 1)[1].split('"', 1)[0]
        apply = timed(lambda: _ok(staff.post("/providers/import", data={"token": token}), 302))
        print(f"  direct: check (dry run) request {check:6.1f} s | \"Import now\" request {apply:6.1f} s")
        app.config["IMPORT_JOB_THRESHOLD"] = LOW
        start = time.perf_counter()
        response = upload(staff, job_file, "1")
        check_answer = time.perf_counter() - start
        check_job = wait_done(app, job_id(response))
        check_total = time.perf_counter() - start
        assert check_job.status == "done", check_job.error
        page = staff.get(f"/jobs/{check_job.id}").get_data(as_text=True)
        token = page.split('name="token" value="', 1)[1].split('"', 1)[0]
        start = time.perf_counter()
        response = staff.post("/providers/import", data={"token": token})
        apply_answer = time.perf_counter() - start
        apply_job = wait_done(app, job_id(response))
        apply_total = time.perf_counter() - start
        assert apply_job.status == "done", apply_job.error
        print(f"  job:    check request answers in {check_answer * 1000:5.0f} ms, checked after {check_total:6.1f} s | "
              f"\"Import now\" answers in {apply_answer * 1000:5.0f} ms, imported after {apply_total:6.1f} s")
        with app.app_context():
            from sqlalchemy import func, select

            from rubric_app.models import Provider

            s = db.new_session()
            print(f"  providers stored: {s.scalar(select(func.count(Provider.id)))} (both files)")
            s.close()
            app.extensions["jobs"].shutdown()
            db.engine.dispose()


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _ok(response, status: int):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    return response


if __name__ == "__main__":
    main()
