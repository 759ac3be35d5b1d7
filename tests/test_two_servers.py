"""Two app servers (gunicorn, two ports) over one PostgreSQL and one Redis, with one RQ worker:
nothing a person does depends on which server answers.

- an import checked (dry run) on one server is applied on the other;
- round documents prepared as a job started on one server are served by the other;
- a submission through one server changes the comparison the other serves (no stale cache).

Runs where DATABASE_URL names PostgreSQL and Redis answers (as in .ci/run); skipped elsewhere.
"""
from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from rubric_app import PROJECT_ROOT
from tests.conftest import ON_POSTGRES, PG_URL, drop_everything
from tests.servers import free_port, wait_until

REDIS_URL = os.environ.get("RUBRIC_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
PASSWORD = "lazos-cinterfor-proof-8391"
requests = pytest.importorskip("requests")

pytestmark = pytest.mark.skipif(not ON_POSTGRES, reason="two app servers share one PostgreSQL database: set DATABASE_URL "
                                                       "to a PostgreSQL URL (.ci/run does)")


def _redis():
    redis = pytest.importorskip("redis")
    try:
        connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        connection.ping()
    except Exception:  # noqa: BLE001
        pytest.skip(f"two app servers need Redis at {REDIS_URL} (set RUBRIC_TEST_REDIS_URL)")
    connection.flushdb()
    return connection


@pytest.fixture
def cluster(tmp_path):
    connection = _redis()
    drop_everything(PG_URL)
    secret = secrets.token_hex(32)
    shared = tmp_path / "shared-reports"
    env = dict(os.environ, DATABASE_URL=PG_URL, REDIS_URL=REDIS_URL, RATELIMIT_STORAGE_URI=REDIS_URL, REPORTS_DIR=str(shared),
               PYTHONPATH=str(PROJECT_ROOT), WEB_CONCURRENCY="1", GUNICORN_THREADS="4")
    envs = []
    for name in ("a", "b", "worker"):
        instance = tmp_path / name
        instance.mkdir()
        (instance / "config.py").write_text(f"SECRET_KEY = {secret!r}\n")
        envs.append(dict(env, RUBRIC_INSTANCE_PATH=str(instance)))

    def flask(*args, env=envs[0]):
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "rubric_app", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    flask("db", "upgrade")
    for email, role in (("staff@two.example", "staff"), ("reviewer@two.example", "reviewer")):
        flask("users", "create", "--email", email, "--password", PASSWORD, "--role", role)
    for i in range(3):
        flask("users", "create", "--email", f"member{i}@two.example", "--password", PASSWORD, "--role", "member",
              "--institution", f"Instituto Dos Servidores {i}", "--country", "PE")
    tokens = {email: flask("users", "token", "--email", email).strip().split()[-1]
              for email in ("staff@two.example", "reviewer@two.example", *(f"member{i}@two.example" for i in range(3)))}

    processes, bases = [], []
    logs = [open(tmp_path / f"{name}.log", "w") for name in ("a", "b", "worker")]
    try:
        for instance_env in envs[:2]:
            port = free_port()
            process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:rubric_app.gunicorn_conf",
                                        "--access-logfile", "/dev/null"], env=dict(instance_env, PORT=str(port)), cwd=tmp_path,
                                       stdout=subprocess.DEVNULL, stderr=logs[len(processes)], start_new_session=True)
            processes.append(process)
            bases.append(f"http://127.0.0.1:{port}")
        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "rubric_app", "worker"], env=envs[2], cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=logs[2], start_new_session=True)
        processes.append(worker)
        for base, process in zip(bases, processes):
            def up(base=base, process=process):
                assert process.poll() is None, Path(logs[0].name).read_text()[-3000:] + Path(logs[1].name).read_text()[-3000:]
                try:
                    return requests.get(base + "/healthz", timeout=5).status_code == 200
                except requests.RequestException:
                    return False
            wait_until(up, 60, f"gunicorn at {base}")
        yield {"a": bases[0], "b": bases[1], "tokens": tokens, "redis": connection}
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        for log in logs:
            log.close()
        connection.flushdb()
        connection.close()
        drop_everything(PG_URL)


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def sign_in(browser, base: str, email: str) -> None:
    page = browser.get(base + "/login").text
    response = browser.post(base + "/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf(page)},
                            allow_redirects=False)
    assert response.status_code == 302, response.text[:500]


def provider_csv(base: str, token: str) -> bytes:
    """Three eligible providers in Peru, written on the import template the server hands out."""
    import csv
    import io

    header = requests.get(base + "/api/v1/providers/template.csv", headers={"Authorization": f"Bearer {token}"}).content
    columns = next(csv.reader(io.StringIO(header.decode("utf-8-sig"))))
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    fixed = {"name": "", "country": "PE", "city": "Cusco", "type": "ngo", "contact_name": "Ana", "contact_email": "ana@example.org",
             "contact_phone": "+51 84 000000", "legal_representative": "Rosa Huamán", "legal_representative_position": "Gerenta"}
    for i in range(1, 4):
        row = []
        for column in columns:
            if column == "code":
                row.append(f"PE-{i:03d}")
            elif column == "name":
                row.append(f"Consultora Dos Servidores {i}")
            elif column in fixed:
                row.append(fixed[column])
            elif column.startswith(("entrepreneurship", "commitment", "facilitator")):
                row.append("yes")
            else:
                row.append(str(1 + i))  # item scores 2..4
        writer.writerow(row)
    return out.getvalue().encode("utf-8-sig")


def test_two_app_servers_share_everything_but_their_processes(cluster):
    a, b, tokens = cluster["a"], cluster["b"], cluster["tokens"]
    staff_token = tokens["staff@two.example"]

    # 1. an import checked on A is applied on B (same browser session; the file is not in A's folder only)
    browser = requests.Session()
    sign_in(browser, a, "staff@two.example")
    page = browser.get(a + "/providers/import").text
    checked = browser.post(a + "/providers/import", data={"csrf_token": csrf(page), "dry_run": "1"},
                           files={"file": ("providers.csv", provider_csv(a, staff_token), "text/csv")})
    assert checked.status_code == 200, checked.text[:2000]
    token = re.search(r'name="token" value="([^"]+)"', checked.text).group(1)
    applied = browser.post(b + "/providers/import", data={"csrf_token": csrf(checked.text), "token": token}, allow_redirects=False)
    assert applied.status_code == 302, applied.text[:2000]
    listed = requests.get(a + "/api/v1/providers", headers={"Authorization": f"Bearer {staff_token}"}).json()
    assert [p["code"] for p in listed["providers"]] == ["PE-001", "PE-002", "PE-003"]

    # 2. a round's documents: run on A, frozen on B, prepared by the worker, served by A and by B
    api = {"Authorization": f"Bearer {staff_token}"}
    rnd = requests.post(a + "/api/v1/selection-rounds", headers=api, json={
        "name": "Dos servidores", "rule": "quota", "quotas": {"PE": 2}, "draws": 0, "seed": 1}).json()
    frozen = requests.post(f"{b}/api/v1/selection-rounds/{rnd['id']}/freeze", headers={**api, "If-Match": f'"{rnd["version"]}"'})
    assert frozen.status_code == 200, frozen.text
    started = requests.post(f"{a}/api/v1/selection-rounds/{rnd['id']}/jobs", headers=api, json={"lang": "es"})
    assert started.status_code == 202, started.text
    job_url = started.headers["Location"]
    done = wait_until(lambda: (lambda j: j if j["status"] in ("done", "failed") else None)(
        requests.get(b + job_url, headers=api).json()), 120, "the worker to prepare the documents")
    assert done["status"] == "done" and done["done"] == done["total"] == 3, done
    for base in (a, b):
        result = requests.get(base + done["result"], headers=api)
        assert result.status_code == 200 and result.headers["Content-Type"] == "application/zip" and result.content[:2] == b"PK"

    # 3. a submission through A shows in the comparison B serves (B computed and cached it before)
    reviewer = {"Authorization": f"Bearer {tokens['reviewer@two.example']}"}

    def institutions_on_b() -> int:
        response = requests.get(b + "/api/v1/comparison", headers=reviewer, params={"instrument": "ifp-migrant-inclusion"})
        assert response.status_code in (200, 422), response.text
        return response.json().get("institutions", 0) if response.status_code == 200 else 0

    before = institutions_on_b()
    member = {"Authorization": f"Bearer {tokens['member0@two.example']}"}
    created = requests.post(a + "/api/v1/assessments", headers=member, json={"instrument": "ifp-migrant-inclusion", "language": "es"})
    assert created.status_code == 201, created.text
    assessment = created.json()
    definition = requests.get(f"{a}/api/v1/instruments/ifp-migrant-inclusion/{assessment['instrument']['version']}",
                              headers=member, params={"lang": "es"}).json()
    answers = [{"criterion": c["id"], "level": 3, "evidence": "Acta 2026"} for d in definition["dimensions"] for c in d["criteria"]]
    assert len(answers) == 18
    saved = requests.put(f"{a}/api/v1/assessments/{assessment['id']}/answers", headers={**member, "If-Match": created.headers["ETag"]},
                         json=answers)
    assert saved.status_code == 200, saved.text
    submitted = requests.post(f"{a}/api/v1/assessments/{assessment['id']}/submit", headers={**member, "If-Match": saved.headers["ETag"]})
    assert submitted.status_code == 200, submitted.text
    assert institutions_on_b() == before + 1
