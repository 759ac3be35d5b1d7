"""Instrument definitions: load data files, validate them, freeze them.

A definition is a YAML file under ``rubric_defs/`` (one folder per instrument, one file per
version).  Loading runs the JSON Schema first, then semantic checks; every problem is reported
with the file and the path inside it.  A loaded definition is an immutable tree of dataclasses
carrying the SHA-256 hash of its canonical content, so an assessment can pin exactly what it was
answered on.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import jsonschema
import yaml

#: Languages every instrument text must be available in (the first is the default).
REQUIRED_LANGUAGES: tuple[str, ...] = ("es", "en", "pt")
DEFAULT_LANGUAGE = REQUIRED_LANGUAGES[0]
#: The rubric's level scale.
LEVELS: tuple[int, ...] = (1, 2, 3, 4, 5)

#: the JSON schemas: ``rubric_defs/schema`` in a source checkout, the copy shipped inside a built package otherwise
SCHEMA_DIR = next((p for p in (Path(__file__).resolve().parents[2] / "rubric_defs" / "schema",
                               Path(__file__).resolve().parents[1] / "defs" / "schema") if p.is_dir()),
                  Path(__file__).resolve().parents[2] / "rubric_defs" / "schema")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a definition file."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path or '/'}: {self.message}"


class DefinitionError(Exception):
    """Raised when a definition cannot be loaded; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Text:
    """A text in several languages; ``text(lang)`` falls back to the default language."""

    values: Mapping[str, str]

    def __call__(self, lang: str | None = None) -> str:
        return self.values.get(lang or DEFAULT_LANGUAGE) or self.values.get(DEFAULT_LANGUAGE, "")

    def as_dict(self) -> dict[str, str]:
        return dict(self.values)


@dataclass(frozen=True)
class Level:
    level: int
    name: Text
    summary: Text | None


@dataclass(frozen=True)
class Criterion:
    id: str
    dimension_id: str
    title: Text
    #: level -> descriptor of that level
    descriptors: Mapping[int, Text]
    #: level -> actions recommended to reach that level from the one below
    actions: Mapping[int, tuple[Text, ...]]
    #: how to read the criterion (e.g. "a level is reached only when all its elements are present")
    guidance: Text | None = None
    #: means of verification: what a reviewer asks to see (empty in definitions without them)
    verification: tuple[Text, ...] = ()
    #: False: the criterion always applies; "not applicable" is refused
    not_applicable_allowed: bool = True


@dataclass(frozen=True)
class Dimension:
    id: str
    weight: Decimal
    name: Text
    description: Text | None
    criteria: tuple[Criterion, ...]


@dataclass(frozen=True)
class Rubric:
    """A frozen rubric definition (instrument 1)."""

    id: str
    version: str
    title: Text
    description: Text | None
    languages: tuple[str, ...]
    levels: tuple[Level, ...]
    dimensions: tuple[Dimension, ...]
    #: SHA-256 of the canonical JSON of the definition's content
    hash: str
    source: str
    _criteria: Mapping[str, Criterion] = field(repr=False, compare=False, default_factory=lambda: MappingProxyType({}))
    #: country annex: ISO 3166-1 alpha-2 code -> criterion id -> note (e.g. the documents of that country)
    country_notes: Mapping[str, Mapping[str, Text]] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def criteria(self) -> tuple[Criterion, ...]:
        """All criteria in rubric order."""
        return tuple(self._criteria.values())

    def country_note(self, country: str | None, criterion_id: str) -> Text | None:
        """The annex note for one criterion in one country (None when the annex has none)."""
        if not country:
            return None
        return self.country_notes.get(country.upper(), {}).get(criterion_id)

    def criterion(self, criterion_id: str) -> Criterion:
        return self._criteria[criterion_id]

    def has_criterion(self, criterion_id: str) -> bool:
        return criterion_id in self._criteria

    def dimension(self, dimension_id: str) -> Dimension:
        for dim in self.dimensions:
            if dim.id == dimension_id:
                return dim
        raise KeyError(dimension_id)

    def level_name(self, level: int, lang: str | None = None) -> str:
        for lvl in self.levels:
            if lvl.level == level:
                return lvl.name(lang)
        raise KeyError(level)

    @property
    def key(self) -> tuple[str, str]:
        return (self.id, self.version)


# --------------------------------------------------------------------------- loading


def content_hash(data: Any) -> str:
    """SHA-256 of the canonical JSON form of ``data`` (key order and formatting do not matter)."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@lru_cache(maxsize=None)
def _schema(name: str) -> dict:
    with open(SCHEMA_DIR / name, encoding="utf-8") as fh:
        return json.load(fh)


def _json_path(parts: Iterable[Any]) -> str:
    return "/" + "/".join(str(p) for p in parts)


def read_definition_file(path: Path) -> tuple[Any, list[Problem]]:
    """Parse a YAML file; returns the data and any parse problem."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [Problem(str(path), where, f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), "", f"cannot be read: {exc}")]


def schema_problems(data: Any, schema_name: str, file: str) -> list[Problem]:
    """Every JSON Schema violation of ``data``, with its path."""
    validator = jsonschema.Draft202012Validator(_schema(schema_name))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    return [Problem(file, _json_path(e.absolute_path), e.message) for e in errors]


def text_problems(value: Any, path: str, file: str, languages: Iterable[str]) -> list[Problem]:
    """Problems with one translated text: every language must be present and non-blank."""
    if not isinstance(value, dict):
        return [Problem(file, path, "must be a mapping of language to text")]
    return [
        Problem(file, f"{path}/{lang}", f"missing text in language '{lang}'")
        for lang in languages
        if not str(value.get(lang) or "").strip()
    ]


def _common_problems(data: dict, file: str) -> tuple[list[Problem], Any]:
    """Checks shared by every kind: required languages, title and description texts.

    Returns the problem list and a ``text(value, path)`` function that appends a translated
    text's problems to it.
    """
    problems: list[Problem] = []
    langs = list(data.get("languages") or [])
    for lang in REQUIRED_LANGUAGES:
        if lang not in langs:
            problems.append(Problem(file, "/languages", f"language '{lang}' is required"))
    langs = sorted(set(langs) | set(REQUIRED_LANGUAGES))

    def text(value: Any, path: str) -> None:
        problems.extend(text_problems(value, path, file, langs))

    text(data.get("title"), "/title")
    if "description" in data:
        text(data["description"], "/description")
    return problems, text


def _rubric_semantic_problems(data: dict, file: str) -> list[Problem]:
    problems, text = _common_problems(data, file)

    level_numbers = [lvl.get("level") for lvl in data.get("levels", [])]
    if sorted(level_numbers) != list(LEVELS):
        problems.append(Problem(file, "/levels", f"levels must be exactly {list(LEVELS)}, found {level_numbers}"))
    for i, lvl in enumerate(data.get("levels", [])):
        text(lvl.get("name"), f"/levels/{i}/name")
        if "summary" in lvl:
            text(lvl["summary"], f"/levels/{i}/summary")

    seen_dims: set[str] = set()
    seen_crits: dict[str, str] = {}
    for d, dim in enumerate(data.get("dimensions", [])):
        dpath = f"/dimensions/{d}"
        if dim["id"] in seen_dims:
            problems.append(Problem(file, f"{dpath}/id", f"duplicate dimension id '{dim['id']}'"))
        seen_dims.add(dim["id"])
        weight = dim.get("weight", 1)
        if isinstance(weight, bool) or not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
            problems.append(Problem(file, f"{dpath}/weight", f"weight must be a positive number, found {weight!r}"))
        text(dim.get("name"), f"{dpath}/name")
        if "description" in dim:
            text(dim["description"], f"{dpath}/description")
        for c, crit in enumerate(dim.get("criteria", [])):
            cpath = f"{dpath}/criteria/{c}"
            if crit["id"] in seen_crits:
                problems.append(Problem(file, f"{cpath}/id", f"duplicate criterion id '{crit['id']}' (also in {seen_crits[crit['id']]})"))
            seen_crits.setdefault(crit["id"], cpath)
            text(crit.get("title"), f"{cpath}/title")
            descriptors = {int(k): v for k, v in crit.get("descriptors", {}).items()}
            if sorted(descriptors) != list(LEVELS):
                problems.append(Problem(file, f"{cpath}/descriptors", f"needs a descriptor for each level {list(LEVELS)}, found {sorted(descriptors)}"))
            for lvl, value in sorted(descriptors.items()):
                text(value, f"{cpath}/descriptors/{lvl}")
            actions = {int(k): v for k, v in crit.get("actions", {}).items()}
            if sorted(actions) != list(LEVELS[1:]):
                problems.append(Problem(file, f"{cpath}/actions", f"needs recommended actions for each level {list(LEVELS[1:])}, found {sorted(actions)}"))
            for lvl, items in sorted(actions.items()):
                for a, item in enumerate(items):
                    text(item, f"{cpath}/actions/{lvl}/{a}")
            if "guidance" in crit:
                text(crit["guidance"], f"{cpath}/guidance")
            for v, item in enumerate(crit.get("verification", [])):
                text(item, f"{cpath}/verification/{v}")
    problems.extend(_country_note_problems(data, file, seen_crits, text))
    return problems


def _known_countries() -> set[str]:
    """ISO 3166-1 alpha-2 codes (CLDR territories that are countries, from Babel)."""
    from babel import Locale

    # the same exclusions as the country lists of the interface (rubric_app.i18n): groupings and placeholders
    not_countries = {"EU", "EZ", "UN", "QO", "XA", "XB", "XK", "ZZ"}
    return {code for code in Locale.parse("en").territories if len(code) == 2 and code.isalpha() and code not in not_countries}


def _country_note_problems(data: dict, file: str, criteria: Mapping[str, str], text: Any) -> list[Problem]:
    """The country annex names real countries and existing criteria, in every language."""
    problems: list[Problem] = []
    notes = data.get("country_notes") or {}
    known = _known_countries() if notes else set()
    for country, by_criterion in notes.items():
        npath = f"/country_notes/{country}"
        if country not in known:
            problems.append(Problem(file, npath, f"'{country}' is not an ISO 3166-1 alpha-2 country code"))
        for cid, value in (by_criterion or {}).items():
            if cid not in criteria:
                problems.append(Problem(file, f"{npath}/{cid}", f"unknown criterion '{cid}'"))
                continue
            text(value, f"{npath}/{cid}")
    return problems


def _text(value: dict | None) -> Text | None:
    return Text(MappingProxyType(dict(value))) if value is not None else None


def _build_rubric(data: dict, source: str) -> Rubric:
    dimensions = []
    criteria: dict[str, Criterion] = {}
    for dim in data["dimensions"]:
        crits = []
        for crit in dim["criteria"]:
            criterion = Criterion(
                id=crit["id"],
                dimension_id=dim["id"],
                title=_text(crit["title"]),
                descriptors=MappingProxyType({int(k): _text(v) for k, v in sorted(crit["descriptors"].items(), key=lambda kv: int(kv[0]))}),
                actions=MappingProxyType({int(k): tuple(_text(a) for a in v) for k, v in sorted(crit["actions"].items(), key=lambda kv: int(kv[0]))}),
                guidance=_text(crit.get("guidance")),
                verification=tuple(_text(v) for v in crit.get("verification", [])),
                not_applicable_allowed=bool(crit.get("not_applicable_allowed", True)),
            )
            crits.append(criterion)
            criteria[criterion.id] = criterion
        dimensions.append(
            Dimension(
                id=dim["id"],
                weight=Decimal(str(dim.get("weight", 1))),
                name=_text(dim["name"]),
                description=_text(dim.get("description")),
                criteria=tuple(crits),
            )
        )
    levels = tuple(
        Level(level=lvl["level"], name=_text(lvl["name"]), summary=_text(lvl.get("summary")))
        for lvl in sorted(data["levels"], key=lambda lvl: lvl["level"])
    )
    return Rubric(
        id=data["id"],
        version=str(data["version"]),
        title=_text(data["title"]),
        description=_text(data.get("description")),
        languages=tuple(data["languages"]),
        levels=levels,
        dimensions=tuple(dimensions),
        hash=content_hash(data),
        source=source,
        _criteria=MappingProxyType(criteria),
        country_notes=MappingProxyType({
            country: MappingProxyType({cid: _text(value) for cid, value in (by_criterion or {}).items()})
            for country, by_criterion in (data.get("country_notes") or {}).items()
        }),
    )


@dataclass(frozen=True)
class ScalePoint:
    value: int
    name: Text
    description: Text | None


@dataclass(frozen=True)
class Item:
    id: str
    category_id: str
    text: Text
    #: scale value -> what that value means for this item, where the generic 0..4 scale does not fit
    #: (e.g. infrastructure: having premises is not a frequency); empty when the generic scale applies
    anchors: Mapping[int, Text] = field(default_factory=lambda: MappingProxyType({}))

    def anchor(self, value: int, lang: str | None = None) -> str | None:
        """The item's own wording of a scale value, or None when the generic scale applies."""
        text = self.anchors.get(value)
        return text(lang) if text is not None else None


@dataclass(frozen=True)
class Category:
    id: str
    weight: Decimal
    name: Text
    description: Text | None
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Fact:
    """An eligibility fact (yes/no) or a commitment of the letter."""

    id: str
    text: Text
    #: eligibility facts: the reason printed when a provider fails this knock-out (a negative
    #: sentence, "The institution has no staff available..."); None in definitions without it
    failed: Text | None = None
    #: commitments: ISO 3166-1 alpha-2 code -> a sentence added for providers of that country only
    #: (country-specific examples such as Peru's CPP)
    country_notes: Mapping[str, Text] = field(default_factory=lambda: MappingProxyType({}))

    def country_note(self, country: str | None) -> Text | None:
        return self.country_notes.get((country or "").upper())


@dataclass(frozen=True)
class ProviderInstrument:
    """A frozen SDE provider assessment definition (instrument 2)."""

    id: str
    version: str
    title: Text
    description: Text | None
    languages: tuple[str, ...]
    scale: tuple[ScalePoint, ...]
    categories: tuple[Category, ...]
    eligibility: tuple[Fact, ...]
    commitments: tuple[Fact, ...]
    hash: str
    source: str

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(item for cat in self.categories for item in cat.items)

    @property
    def max_value(self) -> int:
        return self.scale[-1].value

    def category(self, category_id: str) -> Category:
        for cat in self.categories:
            if cat.id == category_id:
                return cat
        raise KeyError(category_id)

    @property
    def key(self) -> tuple[str, str]:
        return (self.id, self.version)


#: the provider scale (DOMAIN.md): 0 none .. 4 regular, adapted to women migrants, evaluated
PROVIDER_SCALE: tuple[int, ...] = (0, 1, 2, 3, 4)


def _provider_semantic_problems(data: dict, file: str) -> list[Problem]:
    problems, text = _common_problems(data, file)
    values = [point.get("value") for point in data.get("scale", [])]
    if values != list(PROVIDER_SCALE):
        problems.append(Problem(file, "/scale", f"scale values must be exactly {list(PROVIDER_SCALE)} in order, found {values}"))
    for i, point in enumerate(data.get("scale", [])):
        text(point.get("name"), f"/scale/{i}/name")
        if "description" in point:
            text(point["description"], f"/scale/{i}/description")
    seen: dict[str, str] = {}
    for c, cat in enumerate(data.get("categories", [])):
        cpath = f"/categories/{c}"
        if cat["id"] in seen:
            problems.append(Problem(file, f"{cpath}/id", f"duplicate id '{cat['id']}' (also at {seen[cat['id']]})"))
        seen.setdefault(cat["id"], cpath)
        weight = cat.get("weight", 1)
        if isinstance(weight, bool) or not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
            problems.append(Problem(file, f"{cpath}/weight", f"weight must be a positive number, found {weight!r}"))
        text(cat.get("name"), f"{cpath}/name")
        if "description" in cat:
            text(cat["description"], f"{cpath}/description")
        for i, item in enumerate(cat.get("items", [])):
            ipath = f"{cpath}/items/{i}"
            if item["id"] in seen:
                problems.append(Problem(file, f"{ipath}/id", f"duplicate id '{item['id']}' (also at {seen[item['id']]})"))
            seen.setdefault(item["id"], ipath)
            text(item.get("text"), f"{ipath}/text")
            if "anchors" in item:
                anchors = item["anchors"] or {}
                if sorted(_int_key(k) for k in anchors) != list(PROVIDER_SCALE):
                    problems.append(Problem(file, f"{ipath}/anchors", f"anchors need a text for each scale value {list(PROVIDER_SCALE)}, "
                                                                      f"found {sorted(anchors, key=str)}"))
                for value, anchor in anchors.items():
                    text(anchor, f"{ipath}/anchors/{value}")
    for section in ("eligibility", "commitments"):
        ids: set[str] = set()
        for i, fact in enumerate(data.get(section, [])):
            if fact["id"] in ids:
                problems.append(Problem(file, f"/{section}/{i}/id", f"duplicate id '{fact['id']}'"))
            ids.add(fact["id"])
            text(fact.get("text"), f"/{section}/{i}/text")
            if "failed" in fact:
                text(fact["failed"], f"/{section}/{i}/failed")
            for country, note in (fact.get("country_notes") or {}).items():
                if not _iso_country(country):
                    problems.append(Problem(file, f"/{section}/{i}/country_notes/{country}",
                                            f"'{country}' is not an ISO 3166-1 alpha-2 country code"))
                text(note, f"/{section}/{i}/country_notes/{country}")
    return problems


def _int_key(key: Any) -> int | None:
    try:
        return int(key)
    except (TypeError, ValueError):
        return None


def _iso_country(code: Any) -> bool:
    """An ISO 3166-1 alpha-2 code Babel (CLDR) knows as a territory."""
    from babel import Locale

    return isinstance(code, str) and len(code) == 2 and code.isalpha() and code.isupper() and code in Locale.parse("en").territories


def _fact(data: dict) -> Fact:
    return Fact(data["id"], _text(data["text"]), _text(data.get("failed")),
                MappingProxyType({c: _text(v) for c, v in (data.get("country_notes") or {}).items()}))


def _item(data: dict, category_id: str) -> Item:
    anchors = MappingProxyType({int(k): _text(v) for k, v in sorted((data.get("anchors") or {}).items(), key=lambda kv: int(kv[0]))})
    return Item(data["id"], category_id, _text(data["text"]), anchors)


def _build_providers(data: dict, source: str) -> ProviderInstrument:
    categories = tuple(
        Category(
            id=cat["id"],
            weight=Decimal(str(cat.get("weight", 1))),
            name=_text(cat["name"]),
            description=_text(cat.get("description")),
            items=tuple(_item(item, cat["id"]) for item in cat["items"]),
        )
        for cat in data["categories"]
    )
    return ProviderInstrument(
        id=data["id"],
        version=str(data["version"]),
        title=_text(data["title"]),
        description=_text(data.get("description")),
        languages=tuple(data["languages"]),
        scale=tuple(ScalePoint(p["value"], _text(p["name"]), _text(p.get("description"))) for p in data["scale"]),
        categories=categories,
        eligibility=tuple(_fact(f) for f in data["eligibility"]),
        commitments=tuple(_fact(f) for f in data["commitments"]),
        hash=content_hash(data),
        source=source,
    )


#: kind -> (schema file, semantic check, builder); other instrument kinds register here.
KINDS: dict[str, tuple[str, Any, Any]] = {
    "rubric": ("rubric.schema.json", _rubric_semantic_problems, _build_rubric),
    "providers": ("providers.schema.json", _provider_semantic_problems, _build_providers),
}


def check_data(data: Any, file: str) -> list[Problem]:
    """All problems of an already-parsed definition (schema first, then semantics)."""
    if not isinstance(data, dict):
        return [Problem(file, "", "a definition must be a mapping at the top level")]
    kind = data.get("kind")
    if kind not in KINDS:
        return [Problem(file, "/kind", f"unknown instrument kind {kind!r}; expected one of {sorted(KINDS)}")]
    schema_name, semantic, _ = KINDS[kind]
    problems = schema_problems(data, schema_name, file)
    if problems:
        return problems
    return semantic(data, file)


def load_definition(path: str | Path) -> Rubric | ProviderInstrument:
    """Load and validate one definition file; raises :class:`DefinitionError` on any problem."""
    path = Path(path)
    data, problems = read_definition_file(path)
    if not problems:
        problems = check_data(data, str(path))
    if problems:
        raise DefinitionError(problems)
    return KINDS[data["kind"]][2](data, str(path))


def definition_files(root: str | Path) -> list[Path]:
    """Definition files below ``root`` (or ``root`` itself when it is a file); the schema folder and
    the letter templates (``letters/``, loaded by :mod:`rubric_app.domain.letters`) are not instruments."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*.y*ml") if p.suffix in (".yaml", ".yml")
                  and not {"schema", "letters"} & set(p.relative_to(root).parts))


def validate_path(root: str | Path) -> list[Problem]:
    """Every problem in every definition below ``root``, plus clashes of id and version."""
    problems: list[Problem] = []
    seen: dict[tuple[str, str], str] = {}
    files = definition_files(root)
    if not files:
        return [Problem(str(root), "", "no definition files found")]
    for path in files:
        data, file_problems = read_definition_file(path)
        if not file_problems:
            file_problems = check_data(data, str(path))
        problems.extend(file_problems)
        if not file_problems:
            key = (data["id"], str(data["version"]))
            if key in seen:
                problems.append(Problem(str(path), "/version", f"{key[0]} version {key[1]} is also defined in {seen[key]}"))
            seen[key] = str(path)
    return problems


class Registry:
    """The loaded instruments, by id and version. Immutable once built."""

    def __init__(self, instruments: Iterable[Rubric | ProviderInstrument]):
        self._by_key = {inst.key: inst for inst in instruments}

    def get(self, instrument_id: str, version: str) -> Rubric | None:
        return self._by_key.get((instrument_id, version))

    def all(self) -> list[Rubric]:
        return sorted(self._by_key.values(), key=lambda i: (i.id, _version_key(i.version)))

    def latest(self, instrument_id: str) -> Rubric | None:
        versions = [i for i in self._by_key.values() if i.id == instrument_id]
        return max(versions, key=lambda i: _version_key(i.version)) if versions else None

    def rubrics(self) -> list[Rubric]:
        return [i for i in self.all() if isinstance(i, Rubric)]

    def provider_instruments(self) -> list[ProviderInstrument]:
        return [i for i in self.all() if isinstance(i, ProviderInstrument)]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def load_registry(root: str | Path) -> Registry:
    """Load every definition below ``root``; raises :class:`DefinitionError` listing all problems."""
    problems = validate_path(root)
    if problems:
        raise DefinitionError(problems)
    return Registry(load_definition(p) for p in definition_files(root))


@lru_cache(maxsize=8)
def cached_registry(root: str, stamp: tuple) -> Registry:
    """Registry cached per folder and file stamps (see :func:`registry_stamp`)."""
    return load_registry(root)


def registry_stamp(root: str | Path) -> tuple:
    """Names, sizes and modification times of the definition files: the cache key."""
    return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in definition_files(root))
