"""rubric_app.domain is the pure-Python core: no web framework, no ORM, no forms.

The check scans the source text (importing ``rubric_app`` would pull Flask in through the
package's own ``__init__``, so sys.modules cannot tell).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._support import PROJECT_ROOT

DOMAIN_DIR = PROJECT_ROOT / "rubric_app" / "domain"
FORBIDDEN = r"(?:flask|flask_\w+|sqlalchemy|werkzeug|wtforms)"

# "import flask", "import os, flask.json as j", "from flask import ...", "from sqlalchemy.orm import ...",
# and dynamic imports: importlib.import_module("flask"), __import__("wtforms")
IMPORT_RE = re.compile(
    rf"""^[ \t]*(?:
        from[ \t]+{FORBIDDEN}(?:\.[\w.]+)?[ \t]+import\b
      | import[ \t]+(?:[\w.]+(?:[ \t]+as[ \t]+\w+)?[ \t]*,[ \t]*)*{FORBIDDEN}(?:\.[\w.]+)?\b
    )""",
    re.MULTILINE | re.VERBOSE,
)
DYNAMIC_RE = re.compile(rf"""(?:import_module|__import__)\(\s*['"]{FORBIDDEN}(?:\.[\w.]+)?['"]""")


def forbidden_imports(source: str) -> list[str]:
    return [m.group(0).strip() for m in IMPORT_RE.finditer(source)] + [m.group(0) for m in DYNAMIC_RE.finditer(source)]


DOMAIN_FILES = sorted(DOMAIN_DIR.rglob("*.py"))


def test_domain_modules_found():
    names = {p.name for p in DOMAIN_FILES}
    assert {"__init__.py", "instruments.py", "scoring.py", "planning.py"} <= names


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(DOMAIN_DIR)))
def test_domain_module_imports_no_framework(path: Path):
    assert forbidden_imports(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "line",
    [
        "import flask",
        "from flask import current_app",
        "from flask_babel import gettext as _",
        "import flask_login",
        "    from sqlalchemy.orm import Session",
        "import os, sqlalchemy",
        "import json as j, werkzeug.exceptions",
        "from wtforms.validators import DataRequired",
        "mod = importlib.import_module('flask')",
        'x = __import__("sqlalchemy.orm")',
    ],
)
def test_scanner_catches_forbidden_imports(line):
    assert forbidden_imports(f'"""doc"""\nimport os\n{line}\n') != []


@pytest.mark.parametrize(
    "line",
    [
        "import flasker",
        "from .flask_like import x",
        "from rubric_app.domain.scoring import score_rubric",
        "# we never import flask here",
        "import yaml, jsonschema",
        "text = 'from flask import x'",
    ],
)
def test_scanner_allows_other_imports(line):
    assert forbidden_imports(f"{line}\n") == []
