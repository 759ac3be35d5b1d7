"""Throughput and latency of the heavy pages, side by side with a hello-world Flask app.

    python bench/pages.py [--duration 10] [--connections 32] [--rounds 1] [--database-url URL] [--gunicorn-args ARGS]

Needs `wrk` (Debian: apt-get install wrk). Builds a fresh instance (SQLite in a temporary folder
unless --database-url names another database) with `db upgrade` and `demo seed`, then starts, one
after the other under the same gunicorn settings (rubric_app/gunicorn_conf.py: its gthread worker, the same
workers and threads, access log off for both):

* a hello-world Flask app answering "hello" (the ceiling of this machine and server);
* this app, hit with wrk -t2 -c<connections> on the member's dimension page (session cookie), the
  results page, and GET /api/v1/assessments/<id> (bearer token).

Prints req/s, p50 and p99 (from wrk --latency), non-2xx answers and socket errors, each page's
share of the hello-world req/s, the median of 30 sequential loads of the staff round page (209
providers) and the workers' resident memory after the load. Targets (issue 10): dimension page
>= 30 % of hello-world req/s, results and API >= 15 %, p99 <= 60 ms, 0 errors, round page
<= 150 ms median, worker RSS <= 150 MB.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "lazos-cinterfor-2026"
HELLO = '''from flask import Flask
app = Flask(__name__)


@app.get("/")
def hello():
    return "hello"
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def flask_cmd(env: dict, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "flask", "--app", "rubric_app", *args], env=env, cwd=ROOT,
                         check=True, capture_output=True, text=True)
    return out.stdout


class Server:
    def __init__(self, app: str, env: dict, cwd: Path, extra: list[str] | None = None):
        self.port = free_port()
        env = dict(env, PORT=str(self.port))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:rubric_app.gunicorn_conf", "--access-logfile", "/dev/null",
             "--max-requests", "0", *(extra or []), app], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn ended: {self.proc.stderr.read().decode()[-2000:]}")
            try:
                urllib.request.urlopen(self.base + "/", timeout=2)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not answer within 60 s")

    def worker_rss_mb(self) -> list[float]:
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        sizes = []
        for pid in children:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"VmRSS:\s+(\d+) kB", status)
            if match:
                sizes.append(int(match.group(1)) / 1024)
        return sizes

    def worker_cpu_ms(self) -> float:
        """CPU time (user + system) the workers have used so far."""
        total = 0
        for pid in subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total * 1000 / os.sysconf("SC_CLK_TCK")

    def measure(self, url: str, duration: int, connections: int, headers: dict[str, str]) -> dict:
        """wrk's figures, and the workers' CPU milliseconds per answer (moves far less than
        req/s when other work shares the machine)."""
        before = self.worker_cpu_ms()
        figures = wrk(url, duration, connections, headers)
        figures["cpu_ms"] = (self.worker_cpu_ms() - before) / max(figures["requests"], 1)
        return figures

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


#: the browser every request of the bench names (sign-in included): a session signed in from one
#: browser and used from another is marked not fresh and written back on every answer (Flask-Login)
USER_AGENT = "rubric-bench/1"


def wrk(url: str, duration: int, connections: int, headers: dict[str, str]) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    for name, value in {"User-Agent": USER_AGENT, **headers}.items():
        cmd += ["-H", f"{name}: {value}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": ms("50"), "p99": ms("99"),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "errors": (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)}


def login(base: str, email: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    page = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": PASSWORD}).encode()
    opener.open(base + "/login", data=data).read()
    cookies = "; ".join(f"{c.name}={c.value}" for c in jar)
    if "session=" not in cookies:
        raise SystemExit(f"could not sign in as {email}")
    return cookies


def get(base: str, path: str, headers: dict[str, str]) -> str:
    request = urllib.request.Request(base + path, headers={"User-Agent": USER_AGENT, **headers})
    with urllib.request.urlopen(request) as response:
        return response.read().decode()


def answered_draft(base: str, bearer: dict[str, str]) -> tuple[int, str]:
    """A new draft of the demo member's with every criterion answered (as a person mid-way would
    have it): its id and its first dimension's id. The dimension page of a submitted assessment
    only redirects to its results."""
    import json

    def call(method: str, path: str, body=None, headers=None):
        request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                         headers={"User-Agent": USER_AGENT, **bearer, "Content-Type": "application/json", **(headers or {})})
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read()), response.headers

    created, headers = call("POST", "/api/v1/assessments", {"instrument": "ifp-migrant-inclusion", "language": "es",
                                                           "from_previous": False})
    version = created["instrument"]["version"]
    definition, _ = call("GET", f"/api/v1/instruments/ifp-migrant-inclusion/{version}?lang=es")
    answers = [{"criterion": c["id"], "level": 2 + i % 3, "evidence": "Acta del comité, 2026. " * 10}
               for i, c in enumerate(c for d in definition["dimensions"] for c in d["criteria"])]
    call("PUT", f"/api/v1/assessments/{created['id']}/answers", answers, {"If-Match": headers["ETag"]})
    return created["id"], definition["dimensions"][0]["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--rounds", type=int, default=1, help="measure everything this many times; prints the medians too")
    parser.add_argument("--gunicorn-args", default="", help="more gunicorn options for both servers, e.g. '-k sync -w 3'")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    work = Path(tempfile.mkdtemp(prefix="rubric-bench-"))
    env = dict(os.environ, RUBRIC_INSTANCE_PATH=str(work / "instance"), REPORTS_DIR=str(work / "reports"),
               PYTHONPATH=str(ROOT))
    env.pop("DATABASE_URL", None)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    flask_cmd(env, "db", "upgrade")
    flask_cmd(env, "demo", "seed")
    token = flask_cmd(env, "users", "token", "--email", "member@demo.example").strip().split()[-1]
    (work / "hello.py").write_text(HELLO)

    extra = args.gunicorn_args.split()
    hello = Server("hello:app", dict(env, PYTHONPATH=str(work)), work, extra)
    app = None
    rounds: list[dict[str, dict]] = []
    try:
        app = Server("rubric_app:create_app()", env, ROOT, extra)
        member = {"Cookie": login(app.base, "member@demo.example")}
        bearer = {"Authorization": f"Bearer {token}"}
        home = get(app.base, "/", member)
        validated_id = re.search(r'href="/assessments/(\d+)/results', home).group(1)
        draft_id, dimension_id = answered_draft(app.base, bearer)
        targets = {
            "dimension page (member, cookie)": (f"/assessments/{draft_id}/d/{dimension_id}", member),
            "results page": (f"/assessments/{validated_id}/results", member),
            "GET /api/v1/assessments/<id>": (f"/api/v1/assessments/{validated_id}", bearer),
        }
        wrk(hello.base + "/", 2, args.connections, {})  # warm-up
        for path, headers in targets.values():
            get(app.base, path, headers)  # 200, or this raises
            wrk(app.base + path, 2, args.connections, headers)  # warm-up
        # both servers stay up (the idle one costs nothing); each round measures the ceiling then
        # the pages, so a slow spell of a shared machine falls on one round, not on one endpoint
        for _ in range(args.rounds):
            figures = {"hello-world Flask app": hello.measure(hello.base + "/", args.duration, args.connections, {})}
            for name, (path, headers) in targets.items():
                figures[name] = app.measure(app.base + path, args.duration, args.connections, headers)
            rounds.append(figures)
        rss = app.worker_rss_mb()

        staff = {"Cookie": login(app.base, "staff@demo.example")}
        listed = get(app.base, "/rounds", staff)
        round_id = re.search(r'href="/rounds/(\d+)"', listed).group(1)
        get(app.base, f"/rounds/{round_id}", staff)
        samples = []
        for _ in range(30):
            start = time.perf_counter()
            get(app.base, f"/rounds/{round_id}", staff)
            samples.append((time.perf_counter() - start) * 1000)
        round_median = statistics.median(samples)
    finally:
        hello.stop()
        if app is not None:
            app.stop()
        shutil.rmtree(work, ignore_errors=True)

    print(f"database: {'SQLite' if not args.database_url else args.database_url.split('@')[-1]}; "
          f"wrk -t2 -c{args.connections} -d{args.duration}s; {os.cpu_count()} cores; gunicorn settings: rubric_app/gunicorn_conf.py "
          f"{args.gunicorn_args}".rstrip())
    header = f"{'endpoint':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'share':>7} {'CPU ms':>7} {'CPU share':>9}"
    hello_name = "hello-world Flask app"

    def row(name: str, f: dict, share: float, cpu_share: float) -> str:
        return (f"{name:34} {f['rps']:8.0f} {f['p50']:8.1f} {f['p99']:8.1f} {f['errors']:7d} {share:7.1%} {f['cpu_ms']:7.2f} "
                f"{cpu_share:9.1%}")

    for number, figures in enumerate(rounds, 1):
        if len(rounds) > 1:
            print(f"round {number}")
        print(header)
        ceiling = figures[hello_name]
        for name, f in figures.items():
            print(row(name, f, f["rps"] / ceiling["rps"], ceiling["cpu_ms"] / f["cpu_ms"] if f["cpu_ms"] else 0))
    if len(rounds) > 1:
        print(f"median of {len(rounds)} rounds (each figure and each share is the median over the rounds)")
        print(header)
        for name in rounds[0]:
            med = {k: statistics.median(r[name][k] for r in rounds) for k in ("rps", "p50", "p99", "cpu_ms")}
            med["errors"] = sum(r[name]["errors"] for r in rounds)
            share = statistics.median(r[name]["rps"] / r[hello_name]["rps"] for r in rounds)
            cpu_share = statistics.median(r[hello_name]["cpu_ms"] / r[name]["cpu_ms"] for r in rounds if r[name]["cpu_ms"])
            print(row(name, med, share, cpu_share))
    print("share: req/s over the hello-world app's in the same round; CPU ms: the workers' CPU time per answer; "
          "CPU share: the hello-world app's CPU ms over the endpoint's")
    print(f"round page (staff, 209 providers), median of 30 sequential loads: {round_median:.0f} ms")
    print("worker RSS after the load: " + ", ".join(f"{mb:.0f} MB" for mb in rss))


if __name__ == "__main__":
    main()
