"""The browser journeys, run again and again while both cores are kept busy.

    python bench/journeys_under_load.py [--runs 5] [--burners N] [--database-url URL] [-k EXPR]
                                        [--logs DIR] [--file tests/e2e/test_journeys.py]

Issue 11 asks the journeys to "pass 5 runs out of 5 under load": a test that passes only on an
idle machine waits on time instead of on a condition. This script starts N busy loops (default:
one per core, ``python -c "while True: pass"``), runs ``pytest tests/e2e/test_journeys.py``
``--runs`` times one after the other, then stops the busy loops it started (by their process ids).

For each run it prints whether it passed, its wall time, the tests that failed, and the 1-minute
load average (at the start, the highest seen during the run, at the end); at the end, runs passed
out of runs. Each run's pytest output is kept in ``--logs`` (default: a temporary folder) to find
the cause of a failure. With ``--database-url`` the journeys run on that database (PostgreSQL:
``postgresql+psycopg://postgres@127.0.0.1:5432/test_e2e``; never a database another suite uses,
the tests drop every table). Exit status 0 only when every run passed.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY_LOOP = "while True: pass"


def start_burners(count: int) -> list[subprocess.Popen]:
    """``count`` processes that each keep one core busy."""
    return [subprocess.Popen([sys.executable, "-c", BUSY_LOOP], stdin=subprocess.DEVNULL) for _ in range(count)]


def stop_burners(burners: list[subprocess.Popen]) -> None:
    for proc in burners:
        if proc.poll() is None:
            proc.terminate()
    for proc in burners:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class LoadWatch:
    """Samples the 1-minute load average every second while a run lasts."""

    def __init__(self):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(1.0)

    def __enter__(self) -> "LoadWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_once(index: int, args, log_dir: Path) -> dict:
    cmd = [sys.executable, "-m", "pytest", args.file, "-p", "no:cacheprovider", "-q", "-rf"]
    if args.k:
        cmd += ["-k", args.k]
    env = dict(os.environ)
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    log = log_dir / f"run-{index}.log"
    start_load = os.getloadavg()[0]
    started = time.monotonic()
    with LoadWatch() as watch, open(log, "w", encoding="utf-8") as out:
        rc = subprocess.call(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    text = log.read_text(encoding="utf-8", errors="replace")
    failed = sorted(set(re.findall(r"^(?:FAILED|ERROR) (\S+)", text, flags=re.M)))
    summary = next((line.strip("= ") for line in reversed(text.splitlines()) if re.search(r"\d+ (passed|failed|error)", line)), "?")
    return {"rc": rc, "seconds": seconds, "failed": failed, "summary": summary, "log": log,
            "load_start": start_load, "load_max": max(watch.samples or [start_load]), "load_end": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2, help="busy loops to start (default: one per core)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""), help="run the journeys on this database")
    parser.add_argument("-k", default="", help="pytest -k expression (default: every journey)")
    parser.add_argument("--file", default="tests/e2e/test_journeys.py")
    parser.add_argument("--logs", default="", help="folder for each run's pytest output (default: a temporary folder)")
    args = parser.parse_args(argv)

    log_dir = Path(args.logs) if args.logs else Path(tempfile.mkdtemp(prefix="journeys-under-load-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    db = re.sub(r"//[^@/]*@", "//***@", args.database_url) if args.database_url else "SQLite (a file per test)"
    print(f"{args.file} × {args.runs} runs, {args.burners} busy loop(s) on {os.cpu_count()} cores, database: {db}")
    print(f"pytest output of each run: {log_dir}")
    print(f"load average (1 min) before the busy loops: {os.getloadavg()[0]:.2f}")

    burners = start_burners(args.burners)
    results = []
    try:
        for i in range(1, args.runs + 1):
            r = run_once(i, args, log_dir)
            results.append(r)
            verdict = "passed" if r["rc"] == 0 else f"FAILED (exit {r['rc']})"
            print(f"run {i}/{args.runs}: {verdict} in {r['seconds']:.0f} s ({r['summary']}); "
                  f"load average {r['load_start']:.2f} at the start, {r['load_max']:.2f} at most, {r['load_end']:.2f} at the end",
                  flush=True)
            for name in r["failed"]:
                print(f"    failed: {name}  (see {r['log']})", flush=True)
    finally:
        stop_burners(burners)

    passed = sum(1 for r in results if r["rc"] == 0)
    times = [r["seconds"] for r in results]
    print(f"\nruns passed: {passed} / {len(results)}")
    if times:
        print(f"time per run: {', '.join(f'{t:.0f} s' for t in times)} (min {min(times):.0f}, max {max(times):.0f})")
        print(f"load average (1 min) during the runs: {min(r['load_start'] for r in results):.2f} to "
              f"{max(r['load_max'] for r in results):.2f}")
    return 0 if results and passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
