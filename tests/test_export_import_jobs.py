"""Comparison exports and provider imports as jobs (issue 10): over EXPORT_JOB_THRESHOLD /
IMPORT_JOB_THRESHOLD (set to 2 here, so the data stays small) the pages start a job (POST, CSRF) and
show its page; the API starts them too (202). A job's file is the direct export of the same filters,
an import job applies what the direct import applies; refusals; progress; the embedded runner."""
from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from rubric_app.extensions import db
from rubric_app.models import JOB_DONE, JOB_FAILED, JOB_QUEUED, Job, PendingUpload, Provider, User
from rubric_app.services import jobs as jobs_svc
from rubric_app.services import provider_io
from tests.conftest import PASSWORD, Factory, _stop_jobs, login, make_app
from tests.web.helpers import bearer, count, csrf_token, hidden_fields, set_language, text, tr

API = "/api/v1"
INSTRUMENT = "ifp-migrant-inclusion"
COUNTRIES = ("AR", "CO", "PE")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# ----------------------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def app(tmp_path):
    application = make_app(tmp_path, EXPORT_JOB_THRESHOLD=2, IMPORT_JOB_THRESHOLD=2)
    yield application
    _stop_jobs(application)
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def csrf_app(tmp_path):
    application = make_app(tmp_path, WTF_CSRF_ENABLED=True, EXPORT_JOB_THRESHOLD=2, IMPORT_JOB_THRESHOLD=2)
    yield application
    _stop_jobs(application)
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def version(app):
    return app.extensions["instruments"].latest(INSTRUMENT).version


@pytest.fixture
def assessed(app):
    """Twelve synthetic institutions in three countries, each with a submitted assessment (a third validated)."""
    from rubric_app.services.bulk import bulk_assessments

    with app.app_context():
        s = db.new_session()
        try:
            bulk_assessments(s, app.extensions["instruments"].latest(INSTRUMENT), 12, COUNTRIES, seed=7)
        finally:
            s.close()
    return 12


@pytest.fixture
def reviewer(factory):
    return factory.user("reviewer")


@pytest.fixture
def staff(factory):
    return factory.user("staff")


@pytest.fixture
def inst(app):
    return app.extensions["instruments"].latest("sde-provider-assessment")


def signed_in(app, user, lang: str | None = None):
    client = app.test_client()
    login(client, user)
    if lang:
        set_language(client, lang)
    return client


from tests.test_jobs import wait_for_job  # noqa: E402 (the same wait, polling the job's row until a deadline)


def job_id_of(response) -> int:
    assert response.status_code in (202, 303), (response.status_code, response.get_data(as_text=True)[:500])
    match = re.search(r"/jobs/([0-9]+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def download(client, url, **kw) -> tuple[int, str, bytes]:
    with client.get(url, **kw) as response:
        return response.status_code, response.mimetype, response.get_data()


def sheets(data: bytes) -> dict[str, list[tuple]]:
    wb = load_workbook(io.BytesIO(data), read_only=True)
    try:
        return {ws.title: [tuple(row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    finally:
        wb.close()


def direct_export(app, client, fmt: str, query: str) -> bytes:
    """The export as the request makes it (the threshold raised for the call)."""
    app.config["EXPORT_JOB_THRESHOLD"] = 10**9
    try:
        status, _mime, body = download(client, f"/compare/export.{fmt}?{query}")
    finally:
        app.config["EXPORT_JOB_THRESHOLD"] = 2
    assert status == 200
    return body


def set_role(app, user, role: str) -> None:
    with app.app_context():
        s = db.new_session()
        s.execute(update(User).where(User.id == user.id).values(role=role))
        s.commit()
        s.close()


def jobs_of(app) -> list[Job]:
    with app.app_context():
        s = db.new_session()
        try:
            found = list(s.scalars(select(Job).order_by(Job.id)))
            s.expunge_all()
            return found
        finally:
            s.close()


def provider_file(inst, rows: list[dict]) -> bytes:
    """A provider CSV in the import layout; facts 'yes' and items '2' unless given."""
    cols = provider_io.columns(inst)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(cols)
    for row in rows:
        values = {"city": "", "type": "ngo", "contact_name": "", "contact_email": "", "contact_phone": "",
                  **{f.id: "yes" for f in inst.eligibility}, **{i.id: "2" for i in inst.items}, **row}
        writer.writerow([values.get(c, "") for c in cols])
    return out.getvalue().encode("utf-8")


def providers_file(inst, prefix: str, n: int = 6, **changes) -> bytes:
    countries = ("AR", "CO", "PE", "DO")
    return provider_file(inst, [{"code": f"{prefix}-{i:03d}", "name": f"Proveedor {i}", "country": countries[i % 4],
                                 "city": "Lima", "marketing_branding": str(i % 5), "commitment_letter": "no" if i % 3 else "yes",
                                 **changes} for i in range(n)])


def upload(client, data: bytes, filename="providers.csv", dry_run="1"):
    return client.post("/providers/import", data={"file": (io.BytesIO(data), filename), "dry_run": dry_run},
                       content_type="multipart/form-data")


def stored_providers(app, prefix: str) -> dict:
    """Providers whose code starts with ``prefix-``, keyed by the rest of the code, without ids and times."""
    with app.app_context():
        s = db.new_session()
        try:
            return {p.code[len(prefix) + 1:]: (p.name, p.country, p.city, p.type, p.contact_email, p.facts, p.item_scores, p.version)
                    for p in s.scalars(select(Provider).where(Provider.code.like(f"{prefix}-%")))}
        finally:
            s.close()


# ----------------------------------------------------------------------------- comparison exports on the page


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_large_export_is_a_job_whose_file_is_the_direct_export(app, reviewer, assessed, version, fmt):
    client = signed_in(app, reviewer)
    query = f"instrument={INSTRUMENT}&version={version}&countries=AR,CO,PE"
    page = client.get(f"/compare?{query}").get_data(as_text=True)
    assert 'id="export-job"' in page and 'form="export-job"' in page
    assert f"/compare/export.{fmt}?" not in page  # no GET link for what is now a job
    assert "/compare/export.json?" in page  # the JSON export stays in the request

    offer = client.get(f"/compare/export.{fmt}?{query}")  # an old link: a page offering the job, nothing started
    assert offer.status_code == 200 and f'action="/compare/export.{fmt}"' in offer.get_data(as_text=True)
    assert jobs_of(app) == []

    started = client.post(f"/compare/export.{fmt}", data=hidden_fields(offer.get_data(as_text=True)))
    assert started.status_code == 303
    job = wait_for_job(app, job_id_of(started))
    assert job.status == JOB_DONE and (job.done, job.total) == (3, 3), job.error
    assert job.params["institutions"] is True and job.params["filters"]["countries"] == "AR,CO,PE"
    shown = client.get(f"/jobs/{job.id}").get_data(as_text=True)
    assert f"/jobs/{job.id}/result" in shown and "data-job-poll" not in shown
    status, mime, body = download(client, f"/jobs/{job.id}/result")
    assert status == 200 and mime == ("text/csv" if fmt == "csv" else XLSX)
    direct = direct_export(app, client, fmt, query)
    if fmt == "csv":
        assert body == direct and "INSTITUTION-LEVEL DATA" in body.decode("utf-8-sig")
    else:  # a workbook carries its time of writing: compare what it holds
        assert sheets(body) == sheets(direct) and "institutions" in sheets(body)


def test_the_page_form_starts_the_job_with_the_pages_filters(app, reviewer, assessed, version):
    client = signed_in(app, reviewer)
    page = client.get(f"/compare?version={version}&countries=AR,CO&basis=validated").get_data(as_text=True)
    form = page[page.index('<form id="export-job"'):]
    form = form[:form.index("</form>")]
    fields = hidden_fields(form)
    assert fields["countries"] == "AR,CO" and fields["basis"] == "validated" and fields["version"] == version
    started = client.post(re.search(r'action="([^"]+)"', form).group(1), data=fields)
    job = wait_for_job(app, job_id_of(started))
    assert job.status == JOB_DONE and job.result_name == "comparison.csv"
    direct = direct_export(app, client, "csv", f"version={version}&countries=AR,CO&basis=validated&instrument={INSTRUMENT}")
    assert download(client, f"/jobs/{job.id}/result")[2] == direct


def test_staff_export_jobs_hold_the_aggregates_only(app, staff, assessed, version):
    client = signed_in(app, staff)
    query = f"instrument={INSTRUMENT}&version={version}"
    job = wait_for_job(app, job_id_of(client.post("/compare/export.csv", data={"instrument": INSTRUMENT, "version": version})))
    assert job.status == JOB_DONE and job.params["institutions"] is False
    body = download(client, f"/jobs/{job.id}/result")[2]
    assert body == direct_export(app, client, "csv", query) and b"INSTITUTION-LEVEL" not in body
    xlsx = wait_for_job(app, job_id_of(client.post("/compare/export.xlsx", data={"instrument": INSTRUMENT, "version": version})))
    assert list(sheets(download(client, f"/jobs/{xlsx.id}/result")[2])) == ["aggregates", "agreement"]


def test_under_the_threshold_the_export_is_downloaded_at_once(app, reviewer, assessed, version):
    app.config["EXPORT_JOB_THRESHOLD"] = 12  # the selection holds 12 institutions: not above it
    client = signed_in(app, reviewer)
    page = client.get(f"/compare?version={version}").get_data(as_text=True)
    assert 'id="export-job"' not in page and "/compare/export.csv?" in page
    status, mime, body = download(client, f"/compare/export.csv?instrument={INSTRUMENT}&version={version}")
    assert status == 200 and mime == "text/csv" and body.startswith("\ufeffgroup".encode())
    assert jobs_of(app) == []


def test_who_may_export_and_see_export_jobs(app, factory, reviewer, assessed, version):
    owner = signed_in(app, reviewer)
    job_id = job_id_of(owner.post("/compare/export.csv", data={"version": version}))
    wait_for_job(app, job_id)
    member = signed_in(app, factory.user("member"))
    assert member.post("/compare/export.csv", data={"version": version}).status_code == 403
    assert member.get(f"/compare/export.csv?version={version}").status_code == 403
    other = signed_in(app, factory.user("reviewer"))
    for url in (f"/jobs/{job_id}", f"/jobs/{job_id}/result", f"{API}/jobs/{job_id}", f"{API}/jobs/{job_id}/result"):
        assert other.get(url).status_code == 404, url
    anonymous = app.test_client()
    assert anonymous.post("/compare/export.csv", data={"version": version}).status_code == 302
    assert anonymous.get(f"/jobs/{job_id}/result").status_code == 302
    assert [j.id for j in jobs_of(app)] == [job_id]


def test_an_export_is_not_handed_over_once_the_role_no_longer_allows_it(app, reviewer, assessed, version):
    client = signed_in(app, reviewer)
    token = Factory(app).token(reviewer)
    job_id = job_id_of(client.post("/compare/export.csv", data={"version": version}))
    assert wait_for_job(app, job_id).status == JOB_DONE
    assert download(client, f"/jobs/{job_id}/result")[0] == 200
    set_role(app, reviewer, "staff")  # staff do not see institution rows: this file is no longer theirs to take
    assert client.get(f"/jobs/{job_id}/result").status_code == 403
    assert client.get(f"{API}/jobs/{job_id}/result", headers=bearer(token)).status_code == 403
    set_role(app, reviewer, "member")
    assert client.get(f"{API}/jobs/{job_id}/result", headers=bearer(token)).status_code == 403


def test_a_role_changed_before_the_job_runs_makes_it_fail(app, reviewer, assessed, version):
    with app.app_context():
        s = db.new_session()
        job = jobs_svc.create_job(s, s.merge(reviewer), jobs_svc.EXPORT_KIND, {"format": "csv", "filters": {"version": version}})
        job_id = job.id
        s.execute(update(User).where(User.id == reviewer.id).values(role="staff"))
        s.commit()
        jobs_svc.run(s, app.extensions["instruments"], job_id, app.config["REPORTS_DIR"])
        s.expire_all()
        failed = s.get(Job, job_id)
        assert failed.status == JOB_FAILED and "institution-level" in failed.error and failed.result_path is None
        s.close()


@pytest.mark.parametrize("url, form, status", [
    ("/compare/export.pdf", {}, 404),
    ("/compare/export.json", {}, 404),  # the JSON export stays in the request
    ("/compare/export.csv", {"round": "abc"}, 422),
    ("/compare/export.csv", {"round": "³"}, 422),
    ("/compare/export.csv", {"date_from": "31/01/2026"}, 422),
    ("/compare/export.csv", {"basis": "everything"}, 422),
    ("/compare/export.csv", {"countries": "XX9"}, 422),
])
def test_bad_export_requests_start_nothing(app, reviewer, url, form, status):
    client = signed_in(app, reviewer)
    assert client.post(url, data=form).status_code == status
    assert jobs_of(app) == []


def test_starting_an_export_job_needs_the_csrf_token(csrf_app):
    factory = Factory(csrf_app)
    reviewer = factory.user("reviewer")
    client = csrf_app.test_client()
    client.post("/login", data={"email": reviewer.email, "password": PASSWORD, "csrf_token": csrf_token(client.get("/login").data)})
    assert client.post("/compare/export.csv", data={"basis": "self"}).status_code == 400
    assert count(csrf_app, Job) == 0
    page = client.get("/compare").get_data(as_text=True)
    assert client.post("/compare/export.csv", data={"basis": "self", "csrf_token": csrf_token(page)}).status_code == 303
    assert count(csrf_app, Job) == 1


def test_mixed_instrument_versions_make_the_export_job_fail_with_the_reason(app, reviewer, assessed):
    from rubric_app.services.bulk import bulk_assessments

    registry = app.extensions["instruments"]
    older = [r for r in registry.rubrics() if r.id == INSTRUMENT and r.version != registry.latest(INSTRUMENT).version]
    if not older:
        pytest.skip("one version of the rubric only")
    with app.app_context():
        s = db.new_session()
        bulk_assessments(s, older[0], 3, COUNTRIES, seed=8)
        s.close()
    client = signed_in(app, reviewer, "en")
    job = wait_for_job(app, job_id_of(client.post("/compare/export.csv", data={"instrument": INSTRUMENT})))
    assert job.status == JOB_FAILED and job.error == jobs_svc.MIXED_VERSIONS
    page = text(client.get(f"/jobs/{job.id}"))
    assert "could not be prepared" in page and "cannot be compared" in page
    assert client.get(f"/jobs/{job.id}/result").status_code == 409


# ----------------------------------------------------------------------------- comparison exports over the API


def test_export_jobs_over_the_api(app, factory, reviewer, assessed, version):
    client = app.test_client()
    headers = bearer(factory.token(reviewer))
    started = client.post(f"{API}/comparison/exports", json={"format": "csv", "version": version, "countries": ["AR", "CO", "PE"]},
                          headers=headers)
    assert started.status_code == 202 and started.headers["Location"] == f"{API}/jobs/{started.get_json()['id']}"
    assert started.get_json()["kind"] == "comparison_export"
    wait_for_job(app, started.get_json()["id"])
    body = client.get(started.headers["Location"], headers=headers).get_json()
    assert body["status"] == "done" and body["done"] == body["total"] == 3
    status, mime, data = download(client, body["result"], headers=headers)
    assert status == 200 and mime == "text/csv"
    browser = signed_in(app, reviewer)
    assert data == direct_export(app, browser, "csv", f"version={version}&countries=AR,CO,PE")

    xlsx = client.post(f"{API}/comparison/exports", json={"format": "xlsx", "version": version, "round": 1, "basis": "validated"},
                       headers=headers)
    assert wait_for_job(app, job_id_of(xlsx)).status == JOB_DONE


@pytest.mark.parametrize("body, status", [
    ({"format": "pdf"}, 422),
    ({}, 422),
    ({"version": "1.1"}, 422),
    ([], 422),
    ({"format": "csv", "colour": "red"}, 422),
    ({"format": "csv", "round": "x"}, 422),
    ({"format": "csv", "round": 0}, 422),
    ({"format": "csv", "round": True}, 422),
    ({"format": "csv", "round": 2**40}, 422),
    ({"format": "csv", "countries": ["ARG"]}, 422),
    ({"format": "csv", "countries": [1, 2]}, 422),
    ({"format": "csv", "date_to": "yesterday"}, 422),
    ({"format": "csv", "type": "x" * 5000}, 422),
    ({"format": "csv", "basis": {"a": 1}}, 422),
    ({"format": ["csv"]}, 422),
])
def test_bad_api_export_requests_are_4xx_and_start_nothing(app, factory, reviewer, body, status):
    client = app.test_client()
    response = client.post(f"{API}/comparison/exports", json=body, headers=bearer(factory.token(reviewer)))
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["status"] == status
    assert jobs_of(app) == []


def test_api_export_refusals(app, factory, reviewer, assessed, version):
    client = app.test_client()
    member = bearer(factory.token(factory.user("member")))
    assert client.post(f"{API}/comparison/exports", json={"format": "csv"}, headers=member).status_code == 403
    assert client.post(f"{API}/comparison/exports", json={"format": "csv"}).status_code == 401
    assert client.post(f"{API}/comparison/exports", data="format=csv", headers=bearer(factory.token(reviewer))).status_code == 422
    with app.app_context():  # five unfinished jobs already: a sixth waits
        s = db.new_session()
        for _ in range(5):
            s.add(Job(kind=jobs_svc.EXPORT_KIND, params={"format": "csv", "filters": {}}, user_id=reviewer.id, status=JOB_QUEUED,
                      done=0, total=0))
        s.commit()
        s.close()
    assert client.post(f"{API}/comparison/exports", json={"format": "csv"}, headers=bearer(factory.token(reviewer))).status_code == 409
    assert len(jobs_of(app)) == 5


def test_api_sessions_need_the_csrf_token_to_start_an_export(csrf_app):
    factory = Factory(csrf_app)
    reviewer = factory.user("reviewer")
    client = csrf_app.test_client()
    client.post("/login", data={"email": reviewer.email, "password": PASSWORD, "csrf_token": csrf_token(client.get("/login").data)})
    assert client.post(f"{API}/comparison/exports", json={"format": "csv"}).status_code == 400
    assert count(csrf_app, Job) == 0


# ----------------------------------------------------------------------------- provider imports on the page


def test_a_large_file_is_checked_then_imported_as_jobs_like_the_direct_import(app, staff, inst):
    client = signed_in(app, staff, "en")
    checked = upload(client, providers_file(inst, "JOB"))
    assert checked.status_code == 303
    check = wait_for_job(app, job_id_of(checked))
    assert check.kind == jobs_svc.IMPORT_CHECK_KIND and check.status == JOB_DONE and check.done == check.total == 6
    assert count(app, Provider) == 0  # a check writes nothing
    page = text(client.get(f"/jobs/{check.id}"))
    assert "6 to create, 0 to update, 0 unchanged." in page and "JOB-001 · Proveedor 1" in page and "Import now" in page
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    assert 'action="/providers/import"' in page

    applied = client.post("/providers/import", data={"token": token})
    job = wait_for_job(app, job_id_of(applied))
    assert job.kind == jobs_svc.IMPORT_KIND and job.status == JOB_DONE and job.done == job.total == 12, job.error
    assert "Import done: 6 created, 0 updated, 0 unchanged." in text(client.get(f"/jobs/{job.id}"))
    assert count(app, PendingUpload) == 0  # applied: the kept file is gone

    app.config["IMPORT_JOB_THRESHOLD"] = 10**6  # the same rows through the request
    assert upload(client, providers_file(inst, "DIR"), dry_run="0").status_code == 302
    assert stored_providers(app, "JOB") == stored_providers(app, "DIR") and len(stored_providers(app, "JOB")) == 6

    # updates, as jobs and directly: the same again
    app.config["IMPORT_JOB_THRESHOLD"] = 2
    changed = wait_for_job(app, job_id_of(upload(client, providers_file(inst, "JOB", city="Quito", digital_payments="4"), dry_run="0")))
    assert changed.status == JOB_DONE
    assert "0 created, 6 updated, 0 unchanged." in text(client.get(f"/jobs/{changed.id}"))
    app.config["IMPORT_JOB_THRESHOLD"] = 10**6
    assert upload(client, providers_file(inst, "DIR", city="Quito", digital_payments="4"), dry_run="0").status_code == 302
    assert stored_providers(app, "JOB") == stored_providers(app, "DIR")
    assert {v[2] for v in stored_providers(app, "JOB").values()} == {"Quito"}


def test_the_import_job_result_is_the_direct_api_body(app, factory, staff, inst):
    client = app.test_client()
    headers = bearer(factory.token(staff))
    data = providers_file(inst, "API")
    started = client.post(f"{API}/providers/import/jobs?dry_run=1", data=data, headers=headers, content_type="text/csv")
    assert started.status_code == 202 and started.get_json()["kind"] == "provider_import_check"
    assert wait_for_job(app, started.get_json()["id"]).status == JOB_DONE
    status, mime, raw = download(client, f"{API}/jobs/{started.get_json()['id']}/result", headers=headers)
    assert status == 200 and mime == "application/json"
    result = json.loads(raw)
    direct = client.post(f"{API}/providers/import?dry_run=1", data=data, headers=headers, content_type="text/csv").get_json()
    assert {k: result[k] for k in direct} == direct and result["problems"] == []

    applied = client.post(f"{API}/providers/import/jobs?dry_run=0", data=data, headers={**headers, "If-Match": f'"{direct["stamp"]}"'},
                          content_type="text/csv")
    job = wait_for_job(app, job_id_of(applied))
    assert job.status == JOB_DONE, job.error
    result = json.loads(download(client, f"{API}/jobs/{job.id}/result", headers=headers)[2])
    assert result["dry_run"] is False and sorted(result["created"]) == sorted(direct["created"]) and count(app, Provider) == 6

    # updating existing providers needs the dry run's stamp: the job fails, nothing changes
    changed = providers_file(inst, "API", city="Cusco")
    unguarded = client.post(f"{API}/providers/import/jobs?dry_run=0", data=changed, headers=headers, content_type="text/csv")
    failed = wait_for_job(app, job_id_of(unguarded))
    assert failed.status == JOB_FAILED and "If-Match" in failed.error
    assert client.get(f"{API}/jobs/{failed.id}", headers=headers).get_json()["error"] == failed.error
    assert {v[2] for v in stored_providers(app, "API").values()} == {"Lima"}


@pytest.mark.parametrize("query, kw, status", [
    ("?dry_run=2", {"data": b"code\r\n", "content_type": "text/csv"}, 422),
    ("?dry_run=1", {"data": b"{}", "content_type": "application/json"}, 422),
    ("?dry_run=1", {"data": b"", "content_type": "text/csv"}, 422),
    ("?dry_run=0", {"data": b"code\r\n", "content_type": "text/csv", "headers": {"If-Match": '"nope"'}}, 412),
])
def test_bad_api_import_job_requests_are_4xx_and_start_nothing(app, factory, staff, query, kw, status):
    client = app.test_client()
    headers = {**bearer(factory.token(staff)), **kw.pop("headers", {})}
    response = client.post(f"{API}/providers/import/jobs{query}", headers=headers, **kw)
    assert response.status_code == status, response.get_data(as_text=True)
    assert jobs_of(app) == [] and count(app, PendingUpload) == 0


def test_only_staff_import_and_only_the_owner_sees_the_import(app, factory, staff, inst):
    client = signed_in(app, staff)
    job_id = job_id_of(upload(client, providers_file(inst, "OWN")))
    wait_for_job(app, job_id)
    reviewer = signed_in(app, factory.user("reviewer"))
    assert upload(reviewer, providers_file(inst, "REV")).status_code == 403
    reviewer_token = bearer(factory.token(factory.user("reviewer")))
    assert app.test_client().post(f"{API}/providers/import/jobs", data=b"x", headers=reviewer_token,
                                  content_type="text/csv").status_code == 403
    other_staff = signed_in(app, factory.user("staff"))
    for url in (f"/jobs/{job_id}", f"/jobs/{job_id}/result", f"{API}/jobs/{job_id}"):
        assert other_staff.get(url).status_code == 404, url
    token = re.search(r'name="token" value="([^"]+)"', client.get(f"/jobs/{job_id}").get_data(as_text=True)).group(1)
    assert other_staff.post("/providers/import", data={"token": token}).status_code == 302  # not theirs: "no longer available"
    assert [j.id for j in jobs_of(app)] == [job_id] and count(app, Provider) == 0
    set_role(app, staff, "reviewer")
    assert client.get(f"/jobs/{job_id}/result").status_code == 403


def test_a_file_with_problems_is_reported_by_its_job_and_imports_nothing(app, staff, inst):
    client = signed_in(app, staff, "en")
    rows = providers_file(inst, "BAD") + b"BAD-999,,ZZ,,ngo\r\n"
    job = wait_for_job(app, job_id_of(upload(client, rows, dry_run="0")))
    assert job.status == JOB_DONE
    page = text(client.get(f"/jobs/{job.id}"))
    assert "nothing was imported" in page and "A value is required." in page and "Unknown country" in page
    assert count(app, Provider) == 0 and count(app, PendingUpload) == 0


def test_a_file_changed_since_its_check_is_not_imported(app, staff, inst):
    client = signed_in(app, staff, "en")
    app.config["IMPORT_JOB_THRESHOLD"] = 10**6
    assert upload(client, providers_file(inst, "OLD"), dry_run="0").status_code == 302
    app.config["IMPORT_JOB_THRESHOLD"] = 2
    check = wait_for_job(app, job_id_of(upload(client, providers_file(inst, "OLD", city="Bogotá"))))
    token = re.search(r'name="token" value="([^"]+)"', client.get(f"/jobs/{check.id}").get_data(as_text=True)).group(1)
    with app.app_context():  # someone edits a provider of the file meanwhile
        s = db.new_session()
        provider = s.scalar(select(Provider).where(Provider.code == "OLD-001"))
        provider.name = "Renamed meanwhile"
        s.commit()
        s.close()
    job = wait_for_job(app, job_id_of(client.post("/providers/import", data={"token": token})))
    assert job.status == JOB_FAILED
    page = text(client.get(f"/jobs/{job.id}"))
    assert "changed after it was checked" in page and "Back to the provider import" in page
    assert {v[2] for v in stored_providers(app, "OLD").values()} == {"Lima"}


def test_a_spent_check_offers_no_import_now(app, staff, inst):
    client = signed_in(app, staff, "en")
    check = wait_for_job(app, job_id_of(upload(client, providers_file(inst, "GONE"))))
    with app.app_context():
        s = db.new_session()
        s.execute(PendingUpload.__table__.delete())
        s.commit()
        s.close()
    page = text(client.get(f"/jobs/{check.id}"))
    assert "6 to create" in page and "no longer available" in page and 'name="token"' not in page


def test_starting_an_import_job_needs_the_csrf_token(csrf_app):
    factory = Factory(csrf_app)
    staff = factory.user("staff")
    inst = csrf_app.extensions["instruments"].latest("sde-provider-assessment")
    client = csrf_app.test_client()
    client.post("/login", data={"email": staff.email, "password": PASSWORD, "csrf_token": csrf_token(client.get("/login").data)})
    assert upload(client, providers_file(inst, "CSRF")).status_code == 400
    assert count(csrf_app, Job) == 0 and count(csrf_app, PendingUpload) == 0
    page = client.get("/providers/import").get_data(as_text=True)
    started = client.post("/providers/import", data={"file": (io.BytesIO(providers_file(inst, "CSRF")), "p.csv"), "dry_run": "1",
                                                     "csrf_token": csrf_token(page)}, content_type="multipart/form-data")
    assert started.status_code == 303 and count(csrf_app, Job) == 1


def test_a_small_file_is_still_imported_in_the_request(app, staff, inst):
    client = signed_in(app, staff, "en")
    response = upload(client, providers_file(inst, "SMALL", n=2))
    assert response.status_code == 200 and "2 to create" in text(response)
    assert jobs_of(app) == []


def test_the_same_upload_twice_is_one_job(app, staff, inst):
    with app.app_context():
        s = db.new_session()
        user = s.merge(staff)
        token = provider_io.keep_upload(s, user, "p.csv", providers_file(inst, "TWICE"), "")
        upload_id = provider_io.pending_upload(s, user, token).id
        first = jobs_svc.create_job(s, user, jobs_svc.IMPORT_KIND, {"upload_id": upload_id, "stamp": None})
        second = jobs_svc.create_job(s, user, jobs_svc.IMPORT_KIND, {"upload_id": upload_id, "stamp": None})
        assert first.id == second.id
        with pytest.raises(jobs_svc.NotFound):
            jobs_svc.create_job(s, user, jobs_svc.IMPORT_KIND, {"upload_id": upload_id + 1})
        s.close()


def test_a_new_check_does_not_take_away_the_file_a_waiting_job_is_to_import(app, staff, inst):
    with app.app_context():
        s = db.new_session()
        user = s.merge(staff)
        token = provider_io.keep_upload(s, user, "p.csv", providers_file(inst, "WAIT"), "")
        waiting = jobs_svc.create_job(s, user, jobs_svc.IMPORT_KIND, {"upload_id": provider_io.pending_upload(s, user, token).id})
        provider_io.keep_upload(s, user, "q.csv", providers_file(inst, "NEXT"), "")  # checked meanwhile, in the request
        provider_io.keep_upload(s, user, "r.csv", providers_file(inst, "LAST"), "")  # replaces q.csv, not p.csv
        assert sorted(u.filename for u in s.scalars(select(PendingUpload))) == ["p.csv", "r.csv"]
        jobs_svc.run(s, app.extensions["instruments"], waiting.id, app.config["REPORTS_DIR"])
        s.expire_all()
        assert s.get(Job, waiting.id).status == JOB_DONE and len(stored_providers(app, "WAIT")) == 6
        s.close()


def test_no_job_no_kept_file(app, staff, inst):
    with app.app_context():  # five unfinished jobs already
        s = db.new_session()
        for _ in range(5):
            s.add(Job(kind=jobs_svc.EXPORT_KIND, params={}, user_id=staff.id, status=JOB_QUEUED, done=0, total=0))
        s.commit()
        s.close()
    client = signed_in(app, staff)
    assert upload(client, providers_file(inst, "FULL")).status_code == 409
    api = app.test_client().post(f"{API}/providers/import/jobs", data=providers_file(inst, "FULL"), content_type="text/csv",
                                 headers=bearer(Factory(app).token(staff)))
    assert api.status_code == 409 and api.get_json()["error"]["status"] == 409
    assert count(app, PendingUpload) == 0 and count(app, Job) == 5


# ----------------------------------------------------------------------------- progress, pages, runner


def test_progress_moves_while_a_file_is_imported(app, staff, inst, monkeypatch):
    monkeypatch.setattr(provider_io, "PROGRESS_ROWS", 2)
    seen: list[tuple[int, int]] = []
    real_set = jobs_svc._set

    def recording(session, job_id, **values):
        if "done" in values:
            seen.append((values["done"], values["total"]))
        real_set(session, job_id, **values)

    monkeypatch.setattr(jobs_svc, "_set", recording)
    with app.app_context():
        s = db.new_session()
        user = s.merge(staff)
        token = provider_io.keep_upload(s, user, "p.csv", providers_file(inst, "PRG", n=9), "")
        job = jobs_svc.create_job(s, user, jobs_svc.IMPORT_KIND, {"upload_id": provider_io.pending_upload(s, user, token).id})
        jobs_svc.run(s, app.extensions["instruments"], job.id, app.config["REPORTS_DIR"])
        s.expire_all()
        assert s.get(Job, job.id).status == JOB_DONE
        s.close()
    dones = [done for done, _total in seen]
    assert dones == sorted(dones) and len(set(dones)) >= 6  # rows read two at a time, then providers built, then written
    assert seen[-1] == (18, 18) and all(done <= total for done, total in seen)


def test_progress_of_an_export_and_its_page_while_it_runs(app, reviewer, assessed, version):
    with app.app_context():
        s = db.new_session()
        job = Job(kind=jobs_svc.EXPORT_KIND, params={"format": "xlsx", "filters": {"version": version}, "institutions": True},
                  user_id=reviewer.id, status="running", done=1, total=3)
        s.add(job)
        s.commit()
        job_id = job.id
        s.close()
    for lang in ("es", "en", "pt"):
        client = signed_in(app, reviewer, lang)
        page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
        assert f'<html lang="{lang}"' in page
        assert '<progress id="job-progress" max="3" value="1">' in page and "jobs.js" in page
        assert f'data-job-poll="/api/v1/jobs/{job_id}"' in page and 'role="status"' in page
        label = tr(lang, "%(percent)s done")
        assert f'data-progress-text="{label % {"percent": "{percent}"}}"' in page
        assert tr(lang, "Comparison export") + " (XLSX)" in text(client.get(f"/jobs/{job_id}"))
        assert f'href="/compare?version={version}"' in page
        assert client.get(f"/jobs/{job_id}/result").status_code == 409


def test_the_embedded_runner_runs_jobs_one_after_the_other(app, reviewer, assessed, version):
    from rubric_app.jobs import EmbeddedRunner

    assert isinstance(app.extensions["jobs"], EmbeddedRunner)
    client = signed_in(app, reviewer)
    ids = [job_id_of(client.post(f"/compare/export.{fmt}", data={"version": version})) for fmt in ("csv", "xlsx", "csv")]
    finished = [wait_for_job(app, job_id) for job_id in ids]
    assert [j.status for j in finished] == [JOB_DONE] * 3 and [j.result_name for j in finished] == ["comparison.csv", "comparison.xlsx",
                                                                                                    "comparison.csv"]
    assert len({j.result_path for j in finished}) == 3  # each job its own file


def test_the_openapi_document_describes_the_new_jobs(app, factory, reviewer):
    doc = app.test_client().get(f"{API}/openapi.json").get_json()
    export = doc["paths"]["/comparison/exports"]["post"]
    assert "202" in export["responses"] and export["requestBody"]["content"]["application/json"]["schema"]["additionalProperties"] is False
    assert doc["paths"]["/providers/import/jobs"]["post"]["responses"]["202"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/Job"}
    assert "comparison_export" in doc["components"]["schemas"]["Job"]["properties"]["kind"]["enum"]
    assert "text/csv" in doc["paths"]["/jobs/{job_id}/result"]["get"]["responses"]["200"]["content"]
