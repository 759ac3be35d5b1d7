"""Letter templates: the texts of a formal commitment letter, as data (``rubric_defs/letters/``).

A template is a YAML file (one folder per letter, one file per version) checked against
``rubric_defs/schema/letter.schema.json`` and then semantically: every text in every required
language, and only known ``{placeholders}``.  Loaded once when the app starts (a bad file stops
the start with every problem listed) and frozen.  Pure Python: no Flask, no SQLAlchemy.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .instruments import (
    DefinitionError,
    Problem,
    Text,
    _common_problems,
    _text,
    _version_key,
    content_hash,
    read_definition_file,
    schema_problems,
)

LETTERS_FOLDER = "letters"
SCHEMA = "letter.schema.json"
IMESUN_LETTER = "imesun-commitment-letter"
#: the placeholders a letter text may use
PLACEHOLDERS = frozenset({"provider", "round", "representative", "months", "courses_per_year", "women_share", "facilitators", "issuer"})
TEXT_FIELDS = ("title", "issuer", "signatory_title", "salutation", "salutation_no_name", "introduction", "term", "targets_heading",
               "institution_heading", "ilo_heading", "clauses_heading", "acceptance", "closing")
LIST_FIELDS = ("targets", "ilo_commitments", "clauses")


@dataclass(frozen=True)
class Entry:
    id: str
    text: Text
    title: Text | None = None


@dataclass(frozen=True)
class LetterTemplate:
    id: str
    version: str
    languages: tuple[str, ...]
    texts: Mapping[str, Text]
    targets: tuple[Entry, ...]
    ilo_commitments: tuple[Entry, ...]
    clauses: tuple[Entry, ...]
    hash: str
    source: str

    def text(self, name: str, lang: str, **values: Any) -> str:
        """One text in ``lang`` with its placeholders filled (values are inserted as given)."""
        return fill(self.texts[name](lang), values)


def fill(text: str, values: Mapping[str, Any]) -> str:
    """``text`` with ``{name}`` replaced by ``values[name]`` (a missing value prints as empty)."""
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(text):
        out.append(literal)
        if name is not None:
            out.append(str(values.get(name, "")))
    return "".join(out)


def _placeholders(text: str) -> set[str]:
    try:
        return {name for _lit, name, _s, _c in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return {"{"}


def _problems(data: Any, file: str) -> list[Problem]:
    if not isinstance(data, dict):
        return [Problem(file, "", "a letter template must be a mapping at the top level")]
    problems = schema_problems(data, SCHEMA, file)
    if problems:
        return problems
    problems, text = _common_problems(data, file)

    def check(value: dict, path: str) -> None:
        text(value, path)
        for lang, value_text in value.items():
            unknown = _placeholders(value_text) - PLACEHOLDERS
            if unknown:
                problems.append(Problem(file, f"{path}/{lang}", f"unknown placeholders {sorted(unknown)}; "
                                                                 f"allowed: {sorted(PLACEHOLDERS)}"))

    for name in TEXT_FIELDS:
        check(data[name], f"/{name}")
    for name in LIST_FIELDS:
        ids: set[str] = set()
        for i, entry in enumerate(data[name]):
            if entry["id"] in ids:
                problems.append(Problem(file, f"/{name}/{i}/id", f"duplicate id '{entry['id']}'"))
            ids.add(entry["id"])
            check(entry["text"], f"/{name}/{i}/text")
            if "title" in entry:
                check(entry["title"], f"/{name}/{i}/title")
    return problems


def _entries(items: list[dict]) -> tuple[Entry, ...]:
    return tuple(Entry(e["id"], _text(e["text"]), _text(e.get("title"))) for e in items)


def load_letter(path: str | Path) -> LetterTemplate:
    """Load and check one template; raises :class:`DefinitionError` listing every problem."""
    path = Path(path)
    data, problems = read_definition_file(path)
    if not problems:
        problems = _problems(data, str(path))
    if problems:
        raise DefinitionError(problems)
    return LetterTemplate(
        id=data["id"], version=str(data["version"]), languages=tuple(data["languages"]),
        texts=MappingProxyType({name: _text(data[name]) for name in TEXT_FIELDS}),
        targets=_entries(data["targets"]), ilo_commitments=_entries(data["ilo_commitments"]), clauses=_entries(data["clauses"]),
        hash=content_hash(data), source=str(path),
    )


def load_letters(defs_root: str | Path) -> dict[str, LetterTemplate]:
    """The latest version of every letter template under ``<defs_root>/letters`` (id -> template)."""
    folder = Path(defs_root) / LETTERS_FOLDER
    problems: list[Problem] = []
    latest: dict[str, LetterTemplate] = {}
    for path in sorted(folder.rglob("*.yaml")) if folder.is_dir() else []:
        try:
            template = load_letter(path)
        except DefinitionError as exc:
            problems.extend(exc.problems)
            continue
        current = latest.get(template.id)
        if current is None or _version_key(template.version) > _version_key(current.version):
            latest[template.id] = template
    if problems:
        raise DefinitionError(problems)
    return latest
