"""Concurrent clients against a real threaded server: no acknowledged write is ever lost.

Each scenario runs a bounded number of requests from a few threads (on SQLite, and on PostgreSQL
when DATABASE_URL names one) and checks, from the final state, that every write acknowledged with
2xx is there (or was knowingly replaced by a writer that had read it), that the others were told
with 409/412/428, and that no answer was a 5xx.  Run with ``-s`` to see the figures.
"""
from __future__ import annotations

import http.cookiejar
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.serving import make_server

from rubric_app.extensions import db
from rubric_app.models import Assessment
from rubric_app.services import assessments as svc

from .conftest import PASSWORD
from .web.helpers import parse_form

#: a bound on every scenario's wall time, so a deadlock fails instead of hanging the suite
SCENARIO_SECONDS = 60


@contextmanager
def live_server(app):
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


class Client:
    """A tiny HTTP client: bearer token or session cookie, JSON in and out, every status returned."""

    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base, token
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, method: str, path: str, *, body=None, form: dict | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=SCENARIO_SECONDS) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, method: str, path: str, **kw):
        status, headers, raw = self.request(method, path, **kw)
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        return status, headers, payload

    def login(self, email: str) -> None:
        # no redirects followed: a 302 is the success
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        jar = next(h for h in self.opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor)).cookiejar
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())
        status, _h, _b = self.request("POST", "/login", form={"email": email, "password": PASSWORD})
        assert status == 302


def run_threads(workers) -> None:
    threads = [threading.Thread(target=w, daemon=True) for w in workers]
    deadline = time.monotonic() + SCENARIO_SECONDS
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "a client did not finish in time (deadlock or hung worker)"


def report(app, name: str, figures: dict) -> None:
    database = "postgresql" if app.config["DATABASE_URL"].startswith("postgresql") else "sqlite"
    print(f"\n[race] {name} ({database}): " + ", ".join(f"{k} {v}" for k, v in figures.items()))


def stored_answers(app, assessment_id: int) -> dict:
    with app.app_context():
        s = db.new_session()
        try:
            a = s.scalar(select(Assessment).options(selectinload(Assessment.answers), selectinload(Assessment.events))
                         .where(Assessment.id == assessment_id))
            return {r.criterion_id: r for r in a.answers}, a
        finally:
            s.close()


@pytest.fixture
def member_token(app, factory):
    user = factory.user()
    return user, factory.token(user)


def test_same_criterion_from_four_clients_loses_nothing(app, factory, member_token, rubric):
    """Four clients read, then write the same criterion with If-Match, retrying on 412."""
    user, token = member_token
    aid = factory.assessment(user)
    criterion = rubric.criteria[0].id
    acked: list[tuple[int, int, str]] = []  # (based on, new version, evidence)
    statuses: Counter = Counter()
    lock = threading.Lock()

    with live_server(app) as base:
        def worker(n: int):
            client = Client(base, token)
            for i in range(12):
                status, headers, _b = client.json("GET", f"/api/v1/assessments/{aid}")
                etag = headers.get("ETag")
                evidence = f"client {n} write {i}"
                status, headers, body = client.json("PUT", f"/api/v1/assessments/{aid}/answers", headers={"If-Match": etag},
                                                    body=[{"criterion": criterion, "level": 1 + (i % 5), "evidence": evidence}])
                with lock:
                    statuses[status] += 1
                    if status == 200:
                        acked.append((int(etag.strip('"')), body["version"], evidence))

        run_threads([lambda n=n: worker(n) for n in range(4)])

    answers, assessment = stored_answers(app, aid)
    acked.sort(key=lambda a: a[1])
    # every acknowledged write was based on the version the previous acknowledged write produced:
    # none overwrote a write it had not read
    lost = sum(1 for prev, cur in zip(acked, acked[1:]) if cur[0] != prev[1])
    report(app, "same criterion, 4 clients", {"attempts": sum(statuses.values()), "acknowledged": len(acked), "lost": lost,
                                         "conflicts": statuses[412] + statuses[409], "5xx": sum(v for k, v in statuses.items() if k >= 500)})
    assert not [k for k in statuses if k >= 500]
    assert set(statuses) <= {200, 409, 412}
    assert acked and lost == 0
    assert answers[criterion].evidence == acked[-1][2]
    assert assessment.version == acked[-1][1]


def test_first_write_of_a_criterion_by_four_clients_at_once(app, factory, member_token, rubric):
    """Creating the same answer at once: one wins, the others are told (never a unique-key 500)."""
    user, token = member_token
    aid = factory.assessment(user)
    criterion = rubric.criteria[1].id
    statuses: list[int] = []
    barrier = threading.Barrier(4)
    with live_server(app) as base:
        def worker(n: int):
            client = Client(base, token)
            barrier.wait(timeout=SCENARIO_SECONDS)
            status, _h, _b = client.json("PUT", f"/api/v1/assessments/{aid}/answers",
                                         body=[{"criterion": criterion, "level": 2, "evidence": f"first by {n}", "version": 0}])
            statuses.append(status)

        run_threads([lambda n=n: worker(n) for n in range(4)])
    report(app, "first write, 4 clients", dict(Counter(statuses)))
    assert sorted(statuses) == [200, 412, 412, 412]
    answers, _a = stored_answers(app, aid)
    assert answers[criterion].evidence.startswith("first by ")


def test_different_criteria_from_different_clients_all_land(app, factory, member_token, rubric):
    """Team work: each client writes its own criterion with that answer's version; all of them land."""
    user, token = member_token
    aid = factory.assessment(user)
    criteria = [c.id for c in rubric.criteria[:4]]
    last: dict[str, str] = {}
    statuses: Counter = Counter()
    lock = threading.Lock()
    with live_server(app) as base:
        def worker(cid: str):
            client = Client(base, token)
            version = 0
            for i in range(10):
                evidence = f"{cid} write {i}"
                status, _h, body = client.json("PUT", f"/api/v1/assessments/{aid}/answers",
                                               body=[{"criterion": cid, "level": 3, "evidence": evidence, "version": version}])
                with lock:
                    statuses[status] += 1
                if status == 200:
                    version = next(a["version"] for a in body["answers"] if a["criterion"] == cid)
                    last[cid] = evidence

        run_threads([lambda c=c: worker(c) for c in criteria])
    answers, _a = stored_answers(app, aid)
    lost = sum(1 for cid in criteria if answers[cid].evidence != last.get(cid))
    report(app, "different criteria, 4 clients", {"attempts": sum(statuses.values()), "acknowledged": statuses[200], "lost": lost,
                                             "conflicts": statuses[412] + statuses[409], "5xx": sum(v for k, v in statuses.items() if k >= 500)})
    assert statuses == Counter({200: 40})
    assert lost == 0


def test_stale_pages_merge_and_report_real_conflicts(app, factory, rubric):
    """Two browsers opened the same dimension page; each autosaves what it changed."""
    user = factory.user()
    aid = factory.assessment(user, levels={c.id: 2 for c in rubric.dimensions[0].criteria})
    dim = rubric.dimensions[0]
    first, second, third = (c.id for c in dim.criteria)
    url = f"/assessments/{aid}/d/{dim.id}"
    with live_server(app) as base:
        a, b = Client(base), Client(base)
        a.login(user.email)
        b.login(user.email)
        page_a = parse_form(a.request("GET", url)[2])
        page_b = parse_form(b.request("GET", url)[2])
        autosave = {"X-Requested-With": "fetch"}
        # A changes the evidence of the first criterion; B (stale page) the level of the second
        status_a, _h, body_a = a.json("POST", url, headers=autosave, form={**page_a, f"evidence_{first}": "Acta 12 (A)"})
        status_b, _h, body_b = b.json("POST", url, headers=autosave, form={**page_b, f"crit_{second}": "4"})
        assert (status_a, status_b) == (200, 200), (body_a, body_b)
        answers, _x = stored_answers(app, aid)
        assert answers[first].evidence == "Acta 12 (A)" and answers[second].level == 4
        assert answers[third].level == 2 and answers[first].level == 2  # nothing blanked
        # B's page took in A's change; both edit the evidence of the third criterion: one conflict
        page_b.update({f"ver_{cid}": str(s["version"]) for cid, s in body_b["criteria"].items()})
        page_b.update({f"base_{cid}": s["base"] for cid, s in body_b["criteria"].items()})
        page_a.update({f"ver_{cid}": str(s["version"]) for cid, s in body_a["criteria"].items()})
        page_a.update({f"base_{cid}": s["base"] for cid, s in body_a["criteria"].items()})
        assert a.json("POST", url, headers=autosave, form={**page_a, f"evidence_{first}": "Acta 12 (A)",
                                                             f"evidence_{third}": "Informe A"})[0] == 200
        status, _h, body = b.json("POST", url, headers=autosave, form={**page_b, f"evidence_{first}": "Acta 12 (A)",
                                                                       f"crit_{second}": "4", f"evidence_{third}": "Informe B"})
        assert status == 409
        (conflict,) = body["criteria"][third]["conflicts"]
        assert conflict["field"] == "evidence" and "Informe A" in conflict["theirs"] and "Informe B" in conflict["mine"]
        answers, _x = stored_answers(app, aid)
        assert answers[third].evidence == "Informe A"
        # keep mine: send again on the base the conflict reported
        page_b[f"base_{third}"] = body["criteria"][third]["base"]
        status, _h, body = b.json("POST", url, headers=autosave, form={**page_b, f"evidence_{first}": "Acta 12 (A)",
                                                                       f"crit_{second}": "4", f"evidence_{third}": "Informe B"})
        assert status == 200
        answers, _x = stored_answers(app, aid)
        assert answers[third].evidence == "Informe B"


def test_submit_racing_writes_scores_exactly_the_stored_answers(app, factory, member_token, rubric, registry):
    """Writes keep coming while the assessment is submitted: after it, writes are refused, and the
    stored scores are those of the stored answers."""
    user, token = member_token
    aid = factory.assessment(user, levels=3)
    criterion = rubric.criteria[2].id
    acked: list[tuple[int, str, int]] = []
    statuses: Counter = Counter()
    submitted = threading.Event()
    writing = threading.Event()  # set once the writer has had a few writes acknowledged
    lock = threading.Lock()
    with live_server(app) as base:
        def writer():
            client = Client(base, token)
            for i in range(30):
                status, headers, body = client.json("GET", f"/api/v1/assessments/{aid}")
                level = 1 + (i % 5)
                status, _h, body = client.json("PUT", f"/api/v1/assessments/{aid}/answers", headers={"If-Match": headers.get("ETag")},
                                               body=[{"criterion": criterion, "level": level, "evidence": f"w{i}"}])
                with lock:
                    statuses[status] += 1
                    if status == 200:
                        acked.append((body["version"], f"w{i}", level))
                        if len(acked) >= 3:
                            writing.set()
                if submitted.is_set() and status == 409:
                    break

        def submitter():
            client = Client(base, token)
            writing.wait(timeout=SCENARIO_SECONDS)  # submit while the writes keep coming; retry until it wins
            for _ in range(100):
                _s, headers, _b = client.json("GET", f"/api/v1/assessments/{aid}")
                status, _h, _b = client.json("POST", f"/api/v1/assessments/{aid}/submit", headers={"If-Match": headers["ETag"]})
                with lock:
                    statuses[f"submit {status}"] += 1
                if status == 200:
                    submitted.set()
                    return

        run_threads([writer, submitter])
    assert submitted.is_set()
    answers, assessment = stored_answers(app, aid)
    assert assessment.status == "submitted"
    with app.app_context():
        s = db.new_session()
        a = s.get(Assessment, aid)
        expected = svc.scores_record(svc.scores(registry, a))
        s.close()
    assert assessment.self_scores == expected
    if acked:
        acked.sort()
        assert answers[criterion].evidence == acked[-1][1]  # the last acknowledged write is there
        assert acked[-1][0] < assessment.version  # and it came before the submission
    report(app, "submit racing writes", {**{str(k): v for k, v in statuses.items()}, "acknowledged": len(acked)})
    assert not [k for k in statuses if isinstance(k, int) and k >= 500]


def test_two_reviewers_deciding_at_once_one_wins(app, factory, registry):
    """Validate and return the same assessment at the same moment: exactly one decision lands."""
    member = factory.user()
    aid = factory.assessment(member, levels=3, submit=True)
    outcomes: Counter = Counter()
    for trial in range(4):
        _rows, a = stored_answers(app, aid)
        if a.status == "draft":  # returned in the previous trial: submit it again
            with app.app_context():
                s = db.new_session()
                svc.submit(s, registry, s.merge(member), aid)
                s.close()
        elif a.status == "validated":  # validated in the previous trial: put it back under review
            with app.app_context():
                s = db.new_session()
                row = s.get(Assessment, aid)
                row.status, row.validated_scores, row.level_pairs, row.version = "submitted", None, None, row.version + 1
                s.commit()
                s.close()
        _rows, before = stored_answers(app, aid)
        decisions_before = sum(1 for e in before.events if e.action in ("validated", "returned"))
        r1, r2 = factory.user("reviewer"), factory.user("reviewer")
        results: dict[str, tuple[int, str]] = {}
        with live_server(app) as base:
            c1, c2 = Client(base), Client(base)
            c1.login(r1.email)
            c2.login(r2.email)
            f1 = parse_form(c1.request("GET", f"/review/{aid}")[2])
            f2 = parse_form(c2.request("GET", f"/review/{aid}")[2])
            levels = {f"level_{cid}": "3" for cid in _rows}
            barrier = threading.Barrier(2)

            def decide(client, fields, name, form):
                barrier.wait(timeout=SCENARIO_SECONDS)
                status, headers, _b = client.request("POST", f"/review/{aid}", form={**fields, **form})
                results[name] = (status, headers.get("Location", ""))

            run_threads([
                lambda: decide(c1, f1, "validate", {**levels, "action": "validate"}),
                lambda: decide(c2, f2, "return", {"action": "return", "return_comment": "Revisen la evidencia de acceso."}),
            ])
        _rows, after = stored_answers(app, aid)
        decisions = sum(1 for e in after.events if e.action in ("validated", "returned")) - decisions_before
        won = [name for name, (status, location) in results.items() if status == 302 and location.rstrip("/").endswith("/review")]
        lost = [name for name, (status, location) in results.items() if name not in won]
        assert decisions == 1 and len(won) == 1, results
        assert all(results[name][0] in (302, 409) for name in lost) and all(status < 500 for status, _l in results.values())
        if after.status == "validated":
            assert won == ["validate"] and after.validated_scores is not None
        else:
            assert won == ["return"] and after.status == "draft" and after.validated_scores is None and after.level_pairs is None
        outcomes[won[0]] += 1
    report(app, "two reviewers", {"trials": sum(outcomes.values()), **outcomes, "double decisions": 0})
