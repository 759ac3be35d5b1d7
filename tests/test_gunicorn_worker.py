"""The gunicorn worker (rubric_app/gunicorn_worker.py): a worker whose threads are all busy leaves new
connections to a worker with a free thread, and every connection is still served."""
from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.servers import free_port, wait_until

HOLDING_APP = '''
import os, threading, time
from pathlib import Path

FOLDER = Path(os.environ["HOLD_FOLDER"])


def app(environ, start_response):
    if environ["PATH_INFO"] == "/hold":
        (FOLDER / f"running-{os.getpid()}-{threading.get_ident()}-{time.monotonic_ns()}").touch()
        deadline = time.monotonic() + 60
        while not (FOLDER / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''


@pytest.fixture
def server(tmp_path):
    (tmp_path / "holding.py").write_text(HOLDING_APP)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(Path(__file__).resolve().parents[1])]),
               HOLD_FOLDER=str(tmp_path), WEB_CONCURRENCY="2", GUNICORN_THREADS="2", GUNICORN_ACCEPT_DELAY_MS="1000",
               PORT=str(port))
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:rubric_app.gunicorn_conf", "--access-logfile",
                                "/dev/null", "--max-requests", "0", "holding:app"], env=env, cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def answers() -> bool:
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    wait_until(answers, 60, "gunicorn to answer")
    yield port, tmp_path
    (tmp_path / "release").touch()
    process.terminate()
    process.wait(timeout=30)
    process.stderr.close()


def test_busy_workers_leave_new_connections_to_free_ones_and_every_connection_is_served(server):
    port, folder = server
    answers: list[str] = []

    def hold():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("GET", "/hold")
            response = connection.getresponse()
            if response.status == 200:
                answers.append(response.read().decode())
        finally:
            connection.close()

    threads = [threading.Thread(target=hold) for _ in range(8)]  # 8 connections for 2 workers x 2 threads
    for thread in threads:
        thread.start()

    def running() -> list[str]:
        return [p.name.split("-")[1] for p in folder.glob("running-*")]

    # every thread of both workers runs a request: no worker took connections it had no thread for
    # while the other had free threads
    wait_until(lambda: len(running()) == 4, 60, "both workers' threads to run a request each")
    assert sorted(running().count(pid) for pid in set(running())) == [2, 2]
    (folder / "release").touch()
    for thread in threads:
        thread.join(timeout=90)
    assert len(answers) == 8 and len(set(answers)) == 2  # the 4 waiting connections were served too, by both


@pytest.mark.parametrize("value, expected", [("", 0.01), ("0", 0.0), ("250", 0.25), ("1000", 1.0)])
def test_the_accept_delay_comes_from_the_environment(monkeypatch, value, expected):
    import importlib

    import rubric_app.gunicorn_worker as worker

    monkeypatch.setenv("GUNICORN_ACCEPT_DELAY_MS", value)
    assert importlib.reload(worker).ACCEPT_DELAY_WHEN_BUSY == expected
    monkeypatch.delenv("GUNICORN_ACCEPT_DELAY_MS")
    importlib.reload(worker)


@pytest.mark.parametrize("value", ["-1", "1001", "ten", "1.5"])
def test_an_accept_delay_out_of_bounds_stops_gunicorn_with_its_name(monkeypatch, value):
    import importlib

    import rubric_app.gunicorn_worker as worker

    monkeypatch.setenv("GUNICORN_ACCEPT_DELAY_MS", value)
    with pytest.raises(SystemExit, match="GUNICORN_ACCEPT_DELAY_MS must be a whole number from 0 to 1000"):
        importlib.reload(worker)
    monkeypatch.delenv("GUNICORN_ACCEPT_DELAY_MS")
    importlib.reload(worker)
