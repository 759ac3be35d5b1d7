"""Long work as jobs: round documents prepared outside the request, with progress, on the page and
over the API; the embedded worker thread and RQ workers (Redis); refusals."""
from __future__ import annotations

import io
import os
import time
import zipfile
from datetime import timedelta

import pytest

from rubric_app.extensions import db
from rubric_app.models import JOB_DONE, JOB_FAILED, JOB_QUEUED, JOB_RUNNING, Job, utcnow
from tests.conftest import Factory, login
from tests.web.helpers import bearer, count, csrf_token
from tests.web.test_rounds import API, QUOTA_ROUND, add_provider, pool, staff  # noqa: F401 (fixtures)

REDIS_URL = os.environ.get("RUBRIC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def wait_for_job(app, job_id: int, timeout: float = 120) -> Job:
    """The job once it is finished (done or failed): waits on that condition, polling the database."""
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            s = db.new_session()
            try:
                job = s.get(Job, job_id)
                s.expunge(job)
            finally:
                s.close()
        if job.status in (JOB_DONE, JOB_FAILED):
            return job
        assert time.monotonic() < deadline, f"job {job_id} still {job.status} after {timeout} s"
        time.sleep(0.05)


def frozen_round(app, factory, staff_user) -> int:  # noqa: F811
    client = app.test_client()
    headers = bearer(factory.token(staff_user))
    body = client.post(f"{API}/selection-rounds", json=QUOTA_ROUND, headers=headers).get_json()
    frozen = client.post(f"{API}/selection-rounds/{body['id']}/freeze", json={"version": body["version"]}, headers=headers)
    assert frozen.status_code == 200, frozen.get_data(as_text=True)
    return body["id"]


def job_ids(app) -> list[int]:
    with app.app_context():
        s = db.new_session()
        try:
            return [j.id for j in s.query(Job).order_by(Job.id)]
        finally:
            s.close()


def test_round_documents_as_a_job_from_the_round_page(app, factory, staff, pool):  # noqa: F811
    rid = frozen_round(app, factory, staff)
    client = app.test_client()
    login(client, staff)
    started = client.post("/jobs", data={"kind": "round_documents", "round_id": str(rid), "lang": "es"})
    assert started.status_code == 303
    job_id = int(started.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    job = wait_for_job(app, job_id)
    assert job.status == JOB_DONE and job.total == 4 and job.done == 4  # the report and 3 selected providers' letters
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "El documento está listo." in page and f"/jobs/{job_id}/result" in page and "data-job-poll" not in page
    with client.get(f"/jobs/{job_id}/result") as result:
        assert result.status_code == 200 and result.mimetype == "application/zip"
        assert f"round-{rid}-documents-es.zip" in result.headers["Content-Disposition"]
        names = zipfile.ZipFile(io.BytesIO(result.get_data())).namelist()
    assert "report-es.pdf" in names and sum(n.startswith("letters/") for n in names) == 3


def test_a_job_in_progress_shows_its_progress_and_reloads(app, factory, staff, pool):  # noqa: F811
    rid = frozen_round(app, factory, staff)
    with app.app_context():
        s = db.new_session()
        user = s.merge(staff)
        job = Job(kind="round_documents", params={"round_id": rid, "lang": "pt"}, user_id=user.id, status=JOB_RUNNING, done=2, total=4)
        s.add(job)
        s.commit()
        job_id = job.id
        s.close()
    client = app.test_client()
    login(client, staff)
    client.post("/language", data={"lang": "pt"})
    page = client.get(f"/jobs/{job_id}?lang=pt").get_data(as_text=True)
    assert f'data-job-poll="/api/v1/jobs/{job_id}"' in page and '<progress id="job-progress" max="4" value="2">' in page
    assert 'role="status"' in page and "jobs.js" in page and 'http-equiv="refresh"' not in page  # WCAG 2.2.1: no timed reload
    assert 'data-progress-text="{done} de {total} documentos preparados"' in page
    assert f'href="/jobs/{job_id}" id="job-check"' in page  # without scripts: check again by hand
    assert client.get(f"/jobs/{job_id}/result").status_code == 409


def test_a_job_cut_off_while_running_is_reported_as_interrupted(app, factory, staff, pool):  # noqa: F811
    rid = frozen_round(app, factory, staff)
    with app.app_context():
        s = db.new_session()
        user = s.merge(staff)
        job = Job(kind="round_report", params={"round_id": rid, "lang": "es"}, user_id=user.id, status=JOB_RUNNING, done=0, total=1,
                  updated_at=utcnow() - timedelta(hours=1))
        s.add(job)
        s.commit()
        job_id = job.id
        s.close()
    client = app.test_client()
    login(client, staff)
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert "se interrumpió" in page and "data-job-poll" not in page
    body = client.get(f"{API}/jobs/{job_id}").get_json()
    assert body["status"] == "failed" and "interrupted" in body["error"]


def test_an_open_round_gets_no_job(app, factory, staff, pool):  # noqa: F811
    client = app.test_client()
    headers = bearer(factory.token(staff))
    rid = client.post(f"{API}/selection-rounds", json=QUOTA_ROUND, headers=headers).get_json()["id"]
    login(client, staff)
    refused = client.post("/jobs", data={"kind": "round_documents", "round_id": str(rid), "lang": "es"})
    assert refused.status_code == 409 and "congelad" in refused.get_data(as_text=True)
    assert job_ids(app) == []
    # the report of an open round may be prepared
    ok = client.post("/jobs", data={"kind": "round_report", "round_id": str(rid), "lang": "en"})
    assert ok.status_code == 303
    job = wait_for_job(app, job_ids(app)[0])
    assert job.status == JOB_DONE and job.result_name == f"round-{rid}-en.pdf"


@pytest.mark.parametrize("form, status", [
    ({"kind": "round_documents", "round_id": "abc", "lang": "es"}, 400),
    ({"kind": "round_documents", "round_id": "99999999999999999999", "lang": "es"}, 400),
    ({"kind": "round_documents", "round_id": "³", "lang": "es"}, 400),
    ({"kind": "delete_everything", "round_id": "1", "lang": "es"}, 400),
    ({"kind": "round_report", "round_id": "1", "lang": "xx"}, 422),
    ({"kind": "round_report", "round_id": "999", "lang": "es"}, 404),
])
def test_bad_job_requests_are_refused_and_write_nothing(app, staff, pool, form, status):  # noqa: F811
    client = app.test_client()
    login(client, staff)
    assert client.post("/jobs", data=form).status_code == status
    assert job_ids(app) == []


def test_jobs_are_private_and_staff_only(app, factory, staff, pool):  # noqa: F811
    rid = frozen_round(app, factory, staff)
    owner = app.test_client()
    login(owner, staff)
    job_id = int(owner.post("/jobs", data={"kind": "round_report", "round_id": str(rid), "lang": "es"}).headers["Location"].rsplit("/", 1)[1])
    wait_for_job(app, job_id)
    other_staff = app.test_client()
    login(other_staff, factory.user("staff"))
    for url in (f"/jobs/{job_id}", f"/jobs/{job_id}/result", f"{API}/jobs/{job_id}", f"{API}/jobs/{job_id}/result"):
        assert other_staff.get(url).status_code == 404, url
    member = app.test_client()
    login(member, factory.user("member"))
    assert member.post("/jobs", data={"kind": "round_report", "round_id": str(rid), "lang": "es"}).status_code == 403
    assert member.get(f"/jobs/{job_id}").status_code == 404
    anonymous = app.test_client()
    assert anonymous.get(f"/jobs/{job_id}").status_code == 302
    assert anonymous.post("/jobs", data={"kind": "round_report", "round_id": str(rid)}).status_code == 302
    assert len(job_ids(app)) == 1


def test_starting_a_job_needs_the_csrf_token(csrf_app):
    factory = Factory(csrf_app)
    staff_user = factory.user("staff")
    client = csrf_app.test_client()
    page = client.get("/login").data
    client.post("/login", data={"email": staff_user.email, "password": "correct-horse-1", "csrf_token": csrf_token(page)})
    refused = client.post("/jobs", data={"kind": "round_report", "round_id": "1", "lang": "es"})
    assert refused.status_code == 400 and count(csrf_app, Job) == 0


def test_at_most_five_unfinished_jobs_per_person(app, factory, staff, pool):  # noqa: F811
    rid = frozen_round(app, factory, staff)
    with app.app_context():
        s = db.new_session()
        user = s.merge(staff)
        for _ in range(5):
            s.add(Job(kind="round_report", params={"round_id": rid, "lang": "es"}, user_id=user.id, status=JOB_QUEUED, done=0, total=0))
        s.commit()
        s.close()
    client = app.test_client()
    login(client, staff)
    assert client.post("/jobs", data={"kind": "round_report", "round_id": str(rid), "lang": "es"}).status_code == 409
    assert len(job_ids(app)) == 5


def test_round_documents_over_the_api(app, factory, staff, pool):  # noqa: F811
    rid = frozen_round(app, factory, staff)
    client = app.test_client()
    headers = bearer(factory.token(staff))
    started = client.post(f"{API}/selection-rounds/{rid}/jobs", json={"kind": "round_documents", "lang": "pt"}, headers=headers)
    assert started.status_code == 202, started.get_data(as_text=True)
    location = started.headers["Location"]
    assert location == f"/api/v1/jobs/{started.get_json()['id']}" and started.get_json()["status"] in ("queued", "running", "done")
    wait_for_job(app, started.get_json()["id"])
    body = client.get(location, headers=headers).get_json()
    assert body["status"] == "done" and body["done"] == body["total"] == 4 and body["result"].endswith("/result")
    with client.get(body["result"], headers=headers) as result:
        assert result.status_code == 200 and "report-pt.pdf" in zipfile.ZipFile(io.BytesIO(result.get_data())).namelist()
    assert client.post(f"{API}/selection-rounds/{rid}/jobs", json={"kind": "x"}, headers=headers).status_code == 422
    assert client.post(f"{API}/selection-rounds/{rid}/jobs", json={"lang": "xx"}, headers=headers).status_code == 422
    assert client.post(f"{API}/selection-rounds/99999/jobs", json={}, headers=headers).status_code == 404


def test_a_job_runs_once_even_when_two_workers_take_it(app, factory, staff, pool):  # noqa: F811
    from rubric_app.services import jobs as svc

    rid = frozen_round(app, factory, staff)
    with app.app_context():
        s = db.new_session()
        job = svc.create_job(s, s.merge(staff), "round_report", {"round_id": rid, "lang": "es"})
        svc.run(s, app.extensions["instruments"], job.id, app.config["REPORTS_DIR"])
        s.expire_all()
        first = (s.get(Job, job.id).status, s.get(Job, job.id).finished_at)
        svc.run(s, app.extensions["instruments"], job.id, app.config["REPORTS_DIR"])  # a second worker: nothing to claim
        s.expire_all()
        assert first[0] == JOB_DONE and (s.get(Job, job.id).status, s.get(Job, job.id).finished_at) == first
        s.close()


def _redis_or_skip():
    redis = pytest.importorskip("redis")
    try:
        connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        connection.ping()
    except Exception:  # noqa: BLE001
        pytest.skip(f"RQ workers: no Redis at {REDIS_URL} (set RUBRIC_TEST_REDIS_URL); .ci/run has one")
    connection.flushdb()
    return connection


def test_with_redis_jobs_go_to_rq_workers_and_any_app_server_serves_the_result(tmp_path, app, factory, staff, pool):  # noqa: F811
    """Two app servers over one database, one Redis and one shared documents folder: a job started on
    one is run by an RQ worker and its result is served by the other."""
    connection = _redis_or_skip()
    from rubric_app import jobs

    rid = frozen_round(app, factory, staff)
    shared = {"DATABASE_URL": app.config["DATABASE_URL"], "REPORTS_DIR": app.config["REPORTS_DIR"], "REDIS_URL": REDIS_URL,
              "DATABASE_AUTO_CREATE": False}
    first = _second_app(tmp_path / "a", shared)
    second = _second_app(tmp_path / "b", shared)
    assert isinstance(first.extensions["jobs"], jobs.RQRunner)
    client = first.test_client()
    login(client, staff)
    started = client.post("/jobs", data={"kind": "round_documents", "round_id": str(rid), "lang": "es"})
    job_id = int(started.headers["Location"].rsplit("/", 1)[1])
    assert connection.llen("rq:queue:rubric") == 1
    assert "Esperando" in client.get(f"/jobs/{job_id}").get_data(as_text=True)
    jobs.work(second, burst=True)  # a worker (here: in this process) takes it and stops when the queue is empty
    job = wait_for_job(first, job_id, timeout=5)
    assert job.status == JOB_DONE
    other = second.test_client()
    login(other, staff)
    with other.get(f"/jobs/{job_id}/result") as result:
        assert result.status_code == 200 and result.mimetype == "application/zip"
    connection.flushdb()
    connection.close()
    for application in (first, second):
        application.extensions["jobs"].connection.close()
        with application.app_context():
            db.engine.dispose()


def _second_app(folder, shared):
    from rubric_app import create_app

    folder.mkdir(parents=True, exist_ok=True)
    config = {"TESTING": True, "SECRET_KEY": "test-secret", "WTF_CSRF_ENABLED": False, "SERVER_NAME": None,
              "MAIL_BACKEND": "memory", **shared}
    return create_app(config)


def test_the_worker_command_needs_redis(app):
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL is not set" in result.output


def test_the_round_page_offers_the_documents_as_a_job_once_frozen(app, factory, staff, pool):  # noqa: F811
    client = app.test_client()
    headers = bearer(factory.token(staff))
    open_round = client.post(f"{API}/selection-rounds", json=QUOTA_ROUND, headers=headers).get_json()["id"]
    rid = frozen_round(app, factory, staff)
    login(client, staff)
    assert 'action="/jobs"' not in client.get(f"/rounds/{open_round}").get_data(as_text=True)
    page = client.get(f"/rounds/{rid}").get_data(as_text=True)
    form = page[page.index('action="/jobs"'):]
    form = form[:form.index("</form>")]
    assert 'name="kind" value="round_documents"' in form and f'name="round_id" value="{rid}"' in form and 'name="lang" value="es"' in form
