"""A full-page screenshot of every page the browser journeys visit, per role × width × language.

    python bench/screenshots.py [--out DIR] [--roles member,reviewer,staff,admin]
                                [--widths 1440,360] [--langs es,pt,en] [--database-url URL]

Runs tests/e2e/test_journeys.py with ``E2E_SCREENSHOTS=DIR`` (the journeys save a PNG of each page
they check; without that variable, as in CI, they save nothing), restricted to the roles, widths and
languages asked for, then writes DIR/index.html: one section per journey, its pages in the order
visited, to look at side by side. Files are named ``<role>-<width>-<lang>-<nn>-<page>.png``.
The journeys' own checks still run: a journey that fails stops at the failing step, and the script
says which (its screenshots up to that step are kept).
"""
from __future__ import annotations

import argparse
import html
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("member", "reviewer", "staff", "admin")


def selection(roles: list[str], widths: list[str], langs: list[str]) -> str:
    """The pytest -k expression for these journeys (ids are ``<width>-<lang>``)."""
    ids = " or ".join(f"{w}-{lang}" for w in widths for lang in langs)
    return f"({' or '.join(f'test_{r}_journey' for r in roles)}) and ({ids})"


def write_index(out: Path) -> Path:
    shots = sorted(out.glob("*.png"))
    groups: dict[str, list[Path]] = {}
    for shot in shots:
        m = re.match(r"([a-z]+-\d+-[a-z]{2})-(\d+)-", shot.name)
        groups.setdefault(m.group(1) if m else "other", []).append(shot)
    parts = ["<!doctype html><meta charset='utf-8'><title>rubric: journey screenshots</title>",
             "<style>body{font-family:sans-serif} figure{display:inline-block;vertical-align:top;margin:8px}"
             " img{max-width:360px;border:1px solid #999} figcaption{font-size:13px;max-width:360px}</style>"]
    for name, files in sorted(groups.items()):
        parts.append(f"<h2>{html.escape(name)} ({len(files)} pages)</h2>")
        for f in sorted(files, key=lambda p: p.name):
            parts.append(f"<figure><a href='{html.escape(f.name)}'><img src='{html.escape(f.name)}' loading='lazy' alt=''></a>"
                         f"<figcaption>{html.escape(f.stem)}</figcaption></figure>")
    index = out / "index.html"
    index.write_text("\n".join(parts), encoding="utf-8")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="screenshots", help="folder for the PNGs (created; default ./screenshots)")
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--widths", default="1440,360")
    parser.add_argument("--langs", default="es,pt,en")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args(argv)

    roles = [r for r in args.roles.split(",") if r]
    unknown = set(roles) - set(ROLES)
    if unknown:
        parser.error(f"unknown role(s): {', '.join(sorted(unknown))}; choose from {', '.join(ROLES)}")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, E2E_SCREENSHOTS=str(out))
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    expr = selection(roles, args.widths.split(","), args.langs.split(","))
    cmd = [sys.executable, "-m", "pytest", "tests/e2e/test_journeys.py", "-p", "no:cacheprovider", "-q", "-rf", "-k", expr]
    print("running:", " ".join(cmd))
    rc = subprocess.call(cmd, cwd=ROOT, env=env)
    index = write_index(out)
    print(f"{len(list(out.glob('*.png')))} screenshots in {out}; open {index}")
    if rc != 0:
        print("some journeys failed (see above): their screenshots stop at the failing step")
    return rc


if __name__ == "__main__":
    sys.exit(main())
