"""Merging concurrent edits of one record, field by field (optimistic concurrency).

Two people edit the same record from pages loaded at different times.  Each write names the values
it started from (as fingerprints); a field one side changed and the other did not is merged, a field
both changed to different values is a conflict the person resolves.  Nothing is overwritten
silently.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

from .scoring import CriterionAnswer

#: the fields of an answer a person edits; ``choice`` is a level 1..5, "na" or None
ANSWER_FIELDS = ("choice", "na_reason", "evidence", "target")


def fingerprint(value: Any) -> str:
    """A short, stable digest of a field value (the page sends it back instead of the value)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def fingerprints(values: Mapping[str, Any], fields: tuple[str, ...]) -> str:
    """The fingerprints of ``fields`` of ``values`` joined by dots, in field order."""
    return ".".join(fingerprint(values.get(f)) for f in fields)


def parse_fingerprints(text: str | None, fields: tuple[str, ...]) -> dict[str, str] | None:
    """The inverse of :func:`fingerprints`; None when ``text`` is missing or malformed."""
    parts = (text or "").split(".")
    if len(parts) != len(fields) or not all(len(p) == 16 and all(c in "0123456789abcdef" for c in p) for p in parts):
        return None
    return dict(zip(fields, parts))


@dataclass(frozen=True)
class FieldConflict:
    """A field both sides changed to different values."""

    field: str
    #: the value this writer sent
    mine: Any
    #: the value stored by the other writer
    theirs: Any


def merge_fields(stored: Mapping[str, Any], mine: Mapping[str, Any],
                 base: Mapping[str, str] | None) -> tuple[dict[str, Any], list[FieldConflict]]:
    """Three-way merge of one record.

    ``stored`` holds the current values, ``mine`` the fields this writer sends, ``base`` the
    fingerprints of the values the writer started from (None: the writer saw exactly ``stored``).
    Returns the fields to write (only those that change) and the conflicts.  A field the writer
    did not change (its value still matches ``base``) is left as stored.
    """
    changes: dict[str, Any] = {}
    conflicts: list[FieldConflict] = []
    for field, value in mine.items():
        current = stored.get(field)
        if value == current:
            continue
        if base is None:
            changes[field] = value
            continue
        seen = base.get(field)
        if seen == fingerprint(value):
            continue  # not changed by this writer: keep what is stored
        if seen == fingerprint(current):
            changes[field] = value  # only this writer changed it
        else:
            conflicts.append(FieldConflict(field, value, current))
    return changes, conflicts


def answer_fields(answer: CriterionAnswer | None) -> dict[str, Any]:
    """An answer as the fields a person edits (an absent answer is all empty)."""
    if answer is None:
        return {"choice": None, "na_reason": "", "evidence": "", "target": None}
    choice: Any = "na" if answer.not_applicable else answer.level
    return {"choice": choice, "na_reason": answer.na_reason or "", "evidence": answer.evidence or "", "target": answer.target}


def answer_from_fields(criterion_id: str, fields: Mapping[str, Any]) -> CriterionAnswer:
    """The answer the fields describe (``target`` None: the default that follows the level)."""
    choice = fields.get("choice")
    na = choice == "na"
    return CriterionAnswer(criterion_id, None if na or choice is None else int(choice), na, fields.get("na_reason") or "",
                           fields.get("target"), fields.get("evidence") or "")
