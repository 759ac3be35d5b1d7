"""Helpers and paths shared by the domain tests (imported relatively: ``from ._support import ...``)."""
from __future__ import annotations

from pathlib import Path

import yaml

from rubric_app.domain.scoring import CriterionAnswer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "tests" / "data"
VALID_DIR = DATA_DIR / "valid"
INVALID_DIR = DATA_DIR / "invalid"
MINI_PATH = VALID_DIR / "mini.yaml"
REAL_RUBRIC_PATH = PROJECT_ROOT / "rubric_defs" / "ifp_inclusion" / "1.0.yaml"


def load_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def dump_yaml(data: dict, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh, allow_unicode=True, **kwargs)
    return path


def answers(**spec) -> dict[str, CriterionAnswer]:
    """Answers keyed by criterion id.

    ``a1=3`` -> level 3 (target left unset); ``a1=(2, 4)`` -> level 2, target 4;
    ``a1="na"`` -> not applicable with a reason; ``a1=None`` -> present but unanswered.
    """
    out: dict[str, CriterionAnswer] = {}
    for cid, value in spec.items():
        if value == "na":
            out[cid] = CriterionAnswer(cid, not_applicable=True, na_reason="no aplica a esta institución")
        elif isinstance(value, tuple):
            out[cid] = CriterionAnswer(cid, level=value[0], target=value[1])
        else:
            out[cid] = CriterionAnswer(cid, level=value)
    return out
