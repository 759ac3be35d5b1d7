"""Fixtures for the pure-Python domain tests (no Flask, no database)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from rubric_app.domain.instruments import Rubric, load_definition

from ._support import MINI_PATH, REAL_RUBRIC_PATH, dump_yaml, load_yaml


@pytest.fixture(scope="session")
def real_rubric() -> Rubric:
    return load_definition(REAL_RUBRIC_PATH)


@pytest.fixture(scope="session")
def mini() -> Rubric:
    return load_definition(MINI_PATH)


@pytest.fixture
def mini_variant(tmp_path: Path) -> Callable[..., Path]:
    """Write an edited copy of mini.yaml: ``mini_variant(edit, name=..., folder=...)``.

    ``edit`` receives the parsed data and changes it in place; the file goes to ``folder``
    (default: tmp_path).
    """

    def make(edit: Callable[[dict], None] | None = None, name: str = "variant.yaml", folder: Path | None = None) -> Path:
        data = load_yaml(MINI_PATH)
        if edit:
            edit(data)
        return dump_yaml(data, (folder or tmp_path) / name, sort_keys=False)

    return make
