"""Import and export of the SDE provider registry (instrument 2) as CSV or Excel.

One row per provider, columns in this order:

    code, name, country, city, type, contact_name, contact_email, contact_phone,
    <one column per eligibility fact id>   yes / no (blank = no)
    <one column per item id>               0..4 (blank = not assessed)

Two optional columns, ``legal_representative`` and ``legal_representative_position`` (who signs the
commitment letter), may be added anywhere: a file without them imports as before and leaves a
provider's stored representative as it is. They are not part of the fixed layout (templates and
exports), which stays as it was for the files people already use; the form and the API edit them.

Importing is an upsert by ``code``: :func:`parse_file` checks the file and never raises on bad
input (every problem comes back with its row, column and value); :func:`plan_import` compares the
rows with the database; :func:`import_providers` writes the plan in one transaction, and writes
nothing at all when the file has a single problem.  Exports use the same layout, so an export
re-imports with no changes.  Text cells that a spreadsheet would run as a formula (starting with
``= + - @``) are exported behind an apostrophe, which the import takes off again.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import secrets
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ..domain.instruments import PROVIDER_SCALE, REQUIRED_LANGUAGES, ProviderInstrument
from ..i18n import is_country
from ..models import JOB_QUEUED, JOB_RUNNING, PROVIDER_TYPES, Job, PendingUpload, Provider, User, utcnow
from . import N_, Conflict, Invalid, PreconditionFailed, PreconditionRequired
from .providers import require_staff

#: the fixed columns, before the eligibility facts and the items
BASE_COLUMNS: tuple[str, ...] = (
    "code", "name", "country", "city", "type", "contact_name", "contact_email", "contact_phone",
)
#: columns a file may add to the layout (a missing one keeps the stored value)
OPTIONAL_COLUMNS: tuple[str, ...] = ("legal_representative", "legal_representative_position")
REQUIRED_COLUMNS: tuple[str, ...] = ("code", "name", "country", "type")
#: text columns and their maximum lengths (the database column sizes)
TEXT_LIMITS: dict[str, int] = {
    "name": 200, "city": 120, "contact_name": 200, "contact_email": 254, "contact_phone": 60,
    "legal_representative": 200, "legal_representative_position": 200,
}
#: the fields of a provider an import sets and compares
FIELDS: tuple[str, ...] = BASE_COLUMNS[1:] + ("facts", "item_scores")

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
SCORE_RE = re.compile(r"^[+-]?[0-9]+(?:\.0*)?$")
YES = frozenset({"yes", "sí", "si", "sim", "true", "1"})
NO = frozenset({"no", "não", "nao", "false", "0"})
#: first characters that make a spreadsheet treat a text as a formula
FORMULA_START = ("=", "+", "-", "@")

MAX_ROWS = 50_000
#: rows between two progress reports of a long import (a job's progress bar)
PROGRESS_ROWS = 1000
#: XLSX (zip) limits, checked before the workbook is opened
MAX_XLSX_UNCOMPRESSED = 50 * 1024 * 1024
MAX_XLSX_RATIO = 100
RATIO_CHECK_OVER = 1024 * 1024
MAX_XLSX_MEMBERS = 10_000

SHEET_NAME = "providers"
LEGEND_SHEET = "legend"
#: data validations cover the header's first this many data rows
VALIDATION_ROWS = MAX_ROWS

#: the fixed columns' explanations for the legend sheet
BASE_LABELS: dict[str, dict[str, str]] = {
    "code": {
        "es": "Código único y estable del proveedor (clave de la importación), p. ej. PE-014",
        "en": "Unique, stable provider code (the import key), e.g. PE-014",
        "pt": "Código único e estável do provedor (chave da importação), p. ex. PE-014",
    },
    "name": {"es": "Nombre del proveedor", "en": "Provider name", "pt": "Nome do provedor"},
    "country": {
        "es": "País: código ISO 3166 de dos letras (AR, CO, PE, DO...)",
        "en": "Country: two-letter ISO 3166 code (AR, CO, PE, DO...)",
        "pt": "País: código ISO 3166 de duas letras (AR, CO, PE, DO...)",
    },
    "city": {"es": "Ciudad", "en": "City", "pt": "Cidade"},
    "type": {
        "es": "Tipo: " + ", ".join(PROVIDER_TYPES),
        "en": "Type: " + ", ".join(PROVIDER_TYPES),
        "pt": "Tipo: " + ", ".join(PROVIDER_TYPES),
    },
    "contact_name": {"es": "Persona de contacto", "en": "Contact person", "pt": "Pessoa de contato"},
    "contact_email": {"es": "Correo electrónico de contacto", "en": "Contact e-mail", "pt": "E-mail de contato"},
    "contact_phone": {"es": "Teléfono de contacto", "en": "Contact phone", "pt": "Telefone de contato"},
    "legal_representative": {
        "es": "Representante legal (firma la carta de compromiso); columna opcional",
        "en": "Legal representative (signs the commitment letter); optional column",
        "pt": "Representante legal (assina a carta de compromisso); coluna opcional",
    },
    "legal_representative_position": {
        "es": "Cargo de la persona representante legal; columna opcional",
        "en": "Position of the legal representative; optional column",
        "pt": "Cargo da pessoa representante legal; coluna opcional",
    },
}
YES_NO_LABEL = {"es": "sí / no (vacío = no)", "en": "yes / no (blank = no)", "pt": "sim / não (vazio = não)"}
SCORE_LABEL = {"es": "puntaje 0..4 (vacío = no evaluado)", "en": "score 0..4 (blank = not assessed)",
               "pt": "pontuação 0..4 (vazio = não avaliado)"}


# --------------------------------------------------------------------------- data


@dataclass
class ImportProblem:
    """One thing wrong with an import file.

    ``row`` is the 1-based row of the file (the header is row 1; 0 for the whole file);
    ``column`` the column name ("" when the problem is not about one column).  ``message`` is
    the English text; ``msgid`` (marked with ``N_``) and ``params`` let the web layer show it
    translated: ``gettext(p.msgid) % p.params``.
    """

    row: int
    column: str
    value: str
    message: str
    msgid: str = ""
    params: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value, "message": self.message}

    def __str__(self) -> str:
        where = "file" if self.row == 0 else f"row {self.row}"
        if self.column:
            where += f", column {self.column}"
        value = f" ({self.value!r})" if self.value else ""
        return f"{where}{value}: {self.message}"


def _problem(row: int, column: str, value: Any, msgid: str, **params: Any) -> ImportProblem:
    return ImportProblem(row, column, "" if value is None else str(value), msgid % params if params else msgid, msgid, params)


@dataclass
class ProviderRow:
    code: str
    name: str
    country: str
    city: str
    type: str
    contact_name: str
    contact_email: str
    contact_phone: str
    #: eligibility fact id -> bool
    facts: dict
    #: item id -> 0..4 or None (not assessed)
    item_scores: dict
    #: None when the file has no such column (the stored value stays)
    legal_representative: str | None = None
    legal_representative_position: str | None = None


@dataclass
class ImportPlan:
    creates: list[ProviderRow] = field(default_factory=list)
    #: (row, {field: (old, new)}); for facts and item_scores old and new hold the changed keys only
    updates: list[tuple[ProviderRow, dict]] = field(default_factory=list)
    #: codes of the providers the file leaves as they are
    unchanged: list[str] = field(default_factory=list)
    #: code -> version of every provider of the file that exists already
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def has_changes(self) -> bool:
        return bool(self.creates or self.updates)

    @property
    def stamp(self) -> str:
        """What the plan was checked against: the file's codes that are new and the versions of the others.

        A dry run shows it; applying with it refuses to run if any of those providers changed meanwhile.
        """
        text = "|".join(sorted(f"{code}:{self.versions.get(code, 0)}" for code in
                               [r.code for r in self.creates] + [r.code for r, _c in self.updates] + self.unchanged))
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


# --------------------------------------------------------------------------- layout


def columns(instrument: ProviderInstrument) -> list[str]:
    """The file's columns in order: fixed columns, eligibility facts, items."""
    cols = list(BASE_COLUMNS) + [f.id for f in instrument.eligibility] + [i.id for i in instrument.items]
    if len(set(cols)) != len(cols):
        clashes = sorted({c for c in cols if cols.count(c) > 1})
        raise ValueError(f"instrument {instrument.id} {instrument.version}: column ids clash: {', '.join(clashes)}")
    return cols


def _escape(text: str) -> str:
    """Put an apostrophe before a text a spreadsheet would run as a formula."""
    return "'" + text if text.startswith(FORMULA_START) or re.match(r"'+[=+\-@]", text) else text


def _unescape(text: str) -> str:
    """Take off the apostrophe :func:`_escape` added."""
    return text[1:] if re.match(r"'+[=+\-@]", text) else text


def _export_row(p: Provider, instrument: ProviderInstrument) -> list[Any]:
    facts = p.facts or {}
    scores = p.item_scores or {}
    texts = [_escape(str(getattr(p, c) or "")) for c in BASE_COLUMNS]
    return (
        texts
        + ["yes" if facts.get(f.id) else "no" for f in instrument.eligibility]
        + [scores.get(i.id) for i in instrument.items]
    )


def _csv_bytes(rows: Iterable[list[Any]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return codecs.BOM_UTF8 + buf.getvalue().encode("utf-8")


def template_csv(instrument: ProviderInstrument) -> bytes:
    """An empty CSV file (UTF-8 with BOM, so spreadsheets read accents right): the header row."""
    return _csv_bytes([columns(instrument)])


def export_csv(providers: Iterable[Provider], instrument: ProviderInstrument) -> bytes:
    """The providers as CSV in the import layout (re-importing it changes nothing)."""
    return _csv_bytes([columns(instrument)] + [_export_row(p, instrument) for p in providers])


def template_xlsx(instrument: ProviderInstrument) -> bytes:
    """An empty workbook: the header row (bold, frozen), validations, and a legend sheet."""
    return _workbook_bytes(instrument, [])


def export_xlsx(providers: Iterable[Provider], instrument: ProviderInstrument) -> bytes:
    """The providers as an Excel workbook in the import layout, with the template's aids."""
    return _workbook_bytes(instrument, [_export_row(p, instrument) for p in providers])


def _column_width(column: str) -> float:
    wide = {"code": 14, "name": 40, "country": 9, "city": 20, "type": 16, "contact_name": 26,
            "contact_email": 30, "contact_phone": 18, "legal_representative": 26, "legal_representative_position": 26}
    return wide.get(column) or min(max(len(column) + 2, 8), 40)


def _workbook_bytes(instrument: ProviderInstrument, rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    cols = columns(instrument)
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_NAME
    ws.append(cols)
    bold = Font(bold=True)
    for cell in ws[1]:
        cell.font = bold
    for row in rows:
        ws.append(row)  # texts are escaped, so openpyxl never takes one for a formula
    ws.freeze_panes = "B2"
    for j, col in enumerate(cols, start=1):
        ws.column_dimensions[get_column_letter(j)].width = _column_width(col)

    last = max(VALIDATION_ROWS, len(rows)) + 1
    letter = {col: get_column_letter(j) for j, col in enumerate(cols, start=1)}
    type_dv = DataValidation(type="list", formula1='"' + ",".join(PROVIDER_TYPES) + '"', allow_blank=False)
    type_dv.add(f"{letter['type']}2:{letter['type']}{last}")
    ws.add_data_validation(type_dv)
    if instrument.eligibility:
        yes_no = DataValidation(type="list", formula1='"yes,no"', allow_blank=True)
        for fact in instrument.eligibility:
            yes_no.add(f"{letter[fact.id]}2:{letter[fact.id]}{last}")
        ws.add_data_validation(yes_no)
    lo, hi = PROVIDER_SCALE[0], PROVIDER_SCALE[-1]
    score_dv = DataValidation(type="whole", operator="between", formula1=str(lo), formula2=str(hi), allow_blank=True)
    score_dv.error = f"{lo}..{hi}"
    for item in instrument.items:
        score_dv.add(f"{letter[item.id]}2:{letter[item.id]}{last}")
    ws.add_data_validation(score_dv)

    legend = wb.create_sheet(LEGEND_SHEET)
    langs = list(REQUIRED_LANGUAGES)
    legend.append(["column"] + langs + ["values"])
    for col in BASE_COLUMNS + OPTIONAL_COLUMNS:
        legend.append([col] + [BASE_LABELS[col][lang] for lang in langs] + [", ".join(PROVIDER_TYPES) if col == "type" else ""])
    for fact in instrument.eligibility:
        legend.append([fact.id] + [fact.text(lang) for lang in langs] + [YES_NO_LABEL["en"]])
    for cat in instrument.categories:
        for item in cat.items:
            legend.append([item.id] + [f"{cat.name(lang)}: {item.text(lang)}" for lang in langs] + [SCORE_LABEL["en"]])
            if item.anchors:  # the item's own meaning of each score, where the generic scale does not fit
                for value, anchor in item.anchors.items():
                    legend.append([f"{item.id} = {value}"] + [anchor(lang) for lang in langs])
    legend.append([])
    legend.append(["scale"] + langs)
    scale_header_row = legend.max_row
    for point in instrument.scale:
        legend.append([point.value] + [point.name(lang) for lang in langs])
    for cell in list(legend[1]) + list(legend[scale_header_row]):
        cell.font = bold
    legend.freeze_panes = "B2"
    legend.column_dimensions["A"].width = 32
    wrap = Alignment(wrap_text=True, vertical="top")
    for j in range(2, 2 + len(langs)):
        legend.column_dimensions[get_column_letter(j)].width = 60
        for cell in legend[get_column_letter(j)]:
            cell.alignment = wrap
    legend.column_dimensions[get_column_letter(2 + len(langs))].width = 40

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --------------------------------------------------------------------------- parsing


class _FileProblem(Exception):
    """Internal: the file cannot be read at all."""

    def __init__(self, problem: ImportProblem):
        self.problem = problem


def _file_problem(value: Any, msgid: str, **params: Any) -> _FileProblem:
    return _FileProblem(_problem(0, "", value, msgid, **params))


def _cell_text(value: Any) -> str:
    """A cell as stripped text (numbers without a spurious ".0")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return str(value).strip()


def _is_formula(cell: Any) -> bool:
    value = getattr(cell, "value", None)
    return getattr(cell, "data_type", None) == "f" or (isinstance(value, str) and value.startswith("="))


@dataclass(frozen=True)
class _Formula:
    """A workbook cell holding a formula (refused: imports take values only)."""

    text: str


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        raise _file_problem("", N_("The file is not UTF-8 or Windows-1252 text; save it as CSV UTF-8.")) from None


def _sniff_delimiter(text: str) -> str:
    """',' or ';' (or a tab), whichever the first non-blank line uses most outside quotes."""
    for line in text.splitlines():
        if line.strip():
            unquoted = re.sub(r'"[^"]*"', "", line)
            counts = {d: unquoted.count(d) for d in (",", ";", "\t")}
            best = max(counts, key=lambda d: counts[d])
            return best if counts[best] else ","
    return ","


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    try:
        for number, row in enumerate(reader, start=1):
            yield number, row
    except csv.Error as exc:
        raise _file_problem(reader.line_num, N_("The CSV file is malformed: %(error)s"), error=str(exc)) from None


def _check_zip(data: bytes) -> None:
    """Refuse a workbook that is not a zip, or whose content would blow up when unpacked."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise _file_problem("", N_("The file is not a valid Excel (.xlsx) workbook.")) from None
    if len(infos) > MAX_XLSX_MEMBERS:
        raise _file_problem(len(infos), N_("The workbook has too many parts."))
    total = sum(i.file_size for i in infos)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise _file_problem(total, N_("The workbook is too large once unpacked (more than %(limit)s MB)."),
                            limit=MAX_XLSX_UNCOMPRESSED // (1024 * 1024))
    for info in infos:
        if info.file_size > RATIO_CHECK_OVER and info.file_size > MAX_XLSX_RATIO * max(info.compress_size, 1):
            raise _file_problem(info.filename, N_("The workbook is compressed suspiciously well (more than %(ratio)s times); it is refused."),
                                ratio=MAX_XLSX_RATIO)


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    _check_zip(data)
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            # openpyxl warns about Excel features it drops (extensions, styles); not our concern
            warnings.simplefilter("ignore")
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception:  # openpyxl raises many kinds on a damaged or foreign zip
        raise _file_problem("", N_("The file is not a valid Excel (.xlsx) workbook.")) from None
    try:
        if not wb.worksheets:
            raise _file_problem("", N_("The workbook has no sheet."))
        ws = wb.worksheets[0]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for number, cells in enumerate(ws.iter_rows(), start=1):
                    # read-only rows may be sparse: the row index is what counts
                    row_number = getattr(cells[0], "row", None) if cells else None
                    yield (row_number or number), [_Formula(str(c.value)) if _is_formula(c) else c.value for c in cells]
        except _FileProblem:
            raise
        except Exception:
            raise _file_problem("", N_("The workbook could not be read; it may be damaged.")) from None
    finally:
        wb.close()


def _rows_of(filename: str, data: bytes) -> Iterator[tuple[int, list[Any]]]:
    name = (filename or "").lower()
    if not data:
        raise _file_problem(filename, N_("The file is empty."))
    if name.endswith(".csv"):
        return _csv_rows(data)
    if name.endswith(".xlsx"):
        return _xlsx_rows(data)
    raise _file_problem(filename, N_("Unsupported file type; upload a .csv or .xlsx file."))


def _blank(cells: list[Any]) -> bool:
    return all(not isinstance(c, _Formula) and _cell_text(c) == "" for c in cells)


def _header(row_number: int, header: list[Any], expected: list[str],
            optional: Iterable[str] = ()) -> tuple[dict[str, int], list[ImportProblem]]:
    """Map column name -> index, and the header's problems (blank header cells are ignored)."""
    problems: list[ImportProblem] = []
    index: dict[str, int] = {}
    expected_set = set(expected) | set(optional)
    for j, raw in enumerate(header):
        if isinstance(raw, _Formula):
            problems.append(_problem(row_number, "", raw.text, N_("Formulas are not allowed; type the value instead.")))
            continue
        name = _cell_text(raw).lstrip("\ufeff").strip().lower()
        if not name:
            continue
        if name not in expected_set:
            problems.append(_problem(row_number, name, _cell_text(raw), N_("Unknown column.")))
        elif name in index:
            problems.append(_problem(row_number, name, _cell_text(raw), N_("Duplicated column.")))
        else:
            index[name] = j
    for col in expected:
        if col not in index:
            problems.append(_problem(row_number, col, "", N_("Missing column.")))
    return index, problems


def _parse_fact(text: str) -> bool | None:
    key = text.strip().lower()
    if key == "":
        return False
    if key in YES:
        return True
    if key in NO:
        return False
    return None


def _parse_score(text: str) -> tuple[bool, int | None]:
    """(valid, score): blank is a valid None (not assessed); "3", "3.0" are 3; 2.5, 5, -1 are invalid."""
    if text == "":
        return True, None
    if not SCORE_RE.match(text):
        return False, None
    value = int(text.split(".")[0])
    return (True, value) if value in PROVIDER_SCALE else (False, None)


@lru_cache(maxsize=512)
def _known_country(code: str) -> bool:
    return is_country(code)


def _parse_row(row_number: int, cells: list[Any], index: dict[str, int], instrument: ProviderInstrument) -> tuple[ProviderRow | None, list[ImportProblem]]:
    problems: list[ImportProblem] = []

    def raw(col: str) -> Any:
        j = index[col]
        return cells[j] if j < len(cells) else None

    texts: dict[str, str] = {}
    for col in index:
        value = raw(col)
        if isinstance(value, _Formula):
            problems.append(_problem(row_number, col, value.text, N_("Formulas are not allowed; type the value instead.")))
            continue
        texts[col] = _unescape(_cell_text(value))
    used = set(index.values())
    for j, value in enumerate(cells):
        if j in used:
            continue
        if isinstance(value, _Formula):
            problems.append(_problem(row_number, "", value.text, N_("Formulas are not allowed; type the value instead.")))
        elif _cell_text(value):
            problems.append(_problem(row_number, "", _cell_text(value), N_("Value in a column without a header (column %(position)s)."),
                                     position=j + 1))

    for col in REQUIRED_COLUMNS:
        if col in texts and texts[col] == "":
            problems.append(_problem(row_number, col, "", N_("A value is required.")))
    code = texts.get("code", "")
    if code and not CODE_RE.match(code):
        problems.append(_problem(row_number, "code", code, N_(
            "Invalid code: 1 to 40 letters, digits, dots, underscores or hyphens, starting with a letter or a digit.")))
    country = texts.get("country", "").upper()
    if country and not (len(country) == 2 and _known_country(country)):
        problems.append(_problem(row_number, "country", texts["country"], N_("Unknown country: use the two-letter ISO 3166 code, e.g. PE.")))
    ptype = texts.get("type", "").lower()
    if ptype and ptype not in PROVIDER_TYPES:
        problems.append(_problem(row_number, "type", texts["type"], N_("Unknown provider type; expected one of %(types)s."),
                                 types=", ".join(PROVIDER_TYPES)))
    for col, limit in TEXT_LIMITS.items():
        if len(texts.get(col, "")) > limit:
            problems.append(_problem(row_number, col, texts[col][:50] + "…", N_("Too long: at most %(limit)s characters."), limit=limit))
    email = texts.get("contact_email", "")
    if email and len(email) <= TEXT_LIMITS["contact_email"] and not EMAIL_RE.match(email):
        problems.append(_problem(row_number, "contact_email", email, N_("Not a valid e-mail address.")))

    facts: dict[str, bool] = {}
    for fact in instrument.eligibility:
        if fact.id not in texts:
            continue
        answer = _parse_fact(texts[fact.id])
        if answer is None:
            problems.append(_problem(row_number, fact.id, texts[fact.id], N_("Expected yes or no.")))
        else:
            facts[fact.id] = answer
    scores: dict[str, int | None] = {}
    for item in instrument.items:
        if item.id not in texts:
            continue
        valid, score = _parse_score(texts[item.id])
        if not valid:
            problems.append(_problem(row_number, item.id, texts[item.id], N_("The score must be a whole number from %(low)s to %(high)s."),
                                     low=PROVIDER_SCALE[0], high=PROVIDER_SCALE[-1]))
        else:
            scores[item.id] = score

    if problems:
        return None, problems
    return ProviderRow(
        code=code, name=texts["name"], country=country, city=texts["city"], type=ptype,
        contact_name=texts["contact_name"], contact_email=email, contact_phone=texts["contact_phone"],
        facts=facts, item_scores=scores,
        **{col: texts.get(col) for col in OPTIONAL_COLUMNS},
    ), []


def parse_file(filename: str, data: bytes, instrument: ProviderInstrument, *,
               max_rows: int = MAX_ROWS, progress: Callable[[int], None] | None = None) -> tuple[list[ProviderRow], list[ImportProblem]]:
    """Read and check a .csv or .xlsx provider file. Never raises on bad input.

    Returns the valid rows and every problem found; with a header problem, or a problem with
    the whole file (row 0), no rows are returned.  ``progress(rows read)`` is called every
    :data:`PROGRESS_ROWS` rows.
    """
    expected = columns(instrument)
    rows: list[ProviderRow] = []
    problems: list[ImportProblem] = []
    first_row: dict[str, int] = {}
    index: dict[str, int] | None = None
    count = 0
    source: Iterator[tuple[int, list[Any]]] | None = None
    try:
        source = _rows_of(filename, data)
        for row_number, cells in source:
            if _blank(cells):
                continue
            if index is None:
                index, header_problems = _header(row_number, cells, expected, OPTIONAL_COLUMNS)
                if header_problems:
                    return [], header_problems
                continue
            count += 1
            if progress is not None and count % PROGRESS_ROWS == 0:
                progress(count)
            if count > max_rows:
                return [], [_problem(0, "", count, N_("Too many rows: at most %(limit)s providers per file."), limit=max_rows)]
            row, row_problems = _parse_row(row_number, cells, index, instrument)
            problems.extend(row_problems)
            if row is None:
                continue
            if row.code in first_row:
                problems.append(_problem(row_number, "code", row.code, N_("Duplicate code: it is already used in row %(first_row)s."),
                                         first_row=first_row[row.code]))
                continue
            first_row[row.code] = row_number
            rows.append(row)
    except _FileProblem as exc:
        return [], [exc.problem]
    finally:
        if source is not None:
            source.close()  # closes the workbook when the loop stopped early
    if index is None:
        return [], [_problem(0, "", filename, N_("The file has no header row."))]
    return rows, problems


def count_rows(filename: str, data: bytes) -> int:
    """About how many provider rows a file holds (its non-blank lines, or the sheet's rows, less the
    header), found without checking them: it chooses between importing at once and as a job.
    0 for a file that cannot be read (importing it reports why)."""
    name = (filename or "").lower()
    try:
        if name.endswith(".csv"):
            lines = sum(1 for line in _decode(data).splitlines() if line.strip(" \t,;\"'"))
            return max(lines - 1, 0)
        if name.endswith(".xlsx"):
            _check_zip(data)
            from openpyxl import load_workbook

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
                try:
                    if not wb.worksheets:
                        return 0
                    sheet = wb.worksheets[0]
                    last = sheet.max_row  # from the sheet's stated dimension; None when it states none
                    if last is None:
                        last = sum(1 for _row in sheet.iter_rows(values_only=True))
                finally:
                    wb.close()
            return max(int(last) - 1, 0)
    except _FileProblem:
        return 0
    except Exception:  # noqa: BLE001 - a damaged workbook: importing it says what is wrong
        return 0
    return 0


# --------------------------------------------------------------------------- import


def _existing(session: Session, codes: list[str]) -> dict[str, Provider]:
    found: dict[str, Provider] = {}
    for start in range(0, len(codes), 500):
        chunk = codes[start:start + 500]
        found.update((p.code, p) for p in session.scalars(select(Provider).where(Provider.code.in_(chunk))))
    return found


def _changes(provider: Provider, row: ProviderRow) -> dict:
    """field -> (old, new) for what the row changes; facts and item_scores list changed keys only."""
    changes: dict = {}
    for name in BASE_COLUMNS[1:] + OPTIONAL_COLUMNS:
        old, new = getattr(provider, name) or "", getattr(row, name)
        if new is None:  # an optional column the file does not have
            continue
        if old != new:
            changes[name] = (old, new)
    old_facts = provider.facts or {}
    changed = {k: v for k, v in row.facts.items() if bool(old_facts.get(k)) != v}
    if changed:
        changes["facts"] = ({k: old_facts.get(k) for k in changed}, changed)
    old_scores = provider.item_scores or {}
    changed = {k: v for k, v in row.item_scores.items() if old_scores.get(k) != v}
    if changed:
        changes["item_scores"] = ({k: old_scores.get(k) for k in changed}, changed)
    return changes


def plan_import(session: Session, rows: list[ProviderRow]) -> ImportPlan:
    """Compare the rows with the registry by code: what to create, what to update, what stays."""
    codes = [r.code for r in rows]
    if len(set(codes)) != len(codes):
        raise Invalid(N_("The same provider code appears more than once."))
    existing = _existing(session, codes)
    plan = ImportPlan()
    for row in rows:
        provider = existing.get(row.code)
        if provider is None:
            plan.creates.append(row)
            continue
        plan.versions[row.code] = provider.version
        changes = _changes(provider, row)
        if changes:
            plan.updates.append((row, changes))
        else:
            plan.unchanged.append(row.code)
    return plan


def _apply(session: Session, plan: ImportPlan, progress: Callable[[int], None] | None = None) -> None:
    """Put the plan in the session (the caller commits). ``progress(providers prepared)`` is called
    while the new providers are built, before anything is added to the session (so a progress
    report may commit the session without writing half an import)."""
    created = []
    for done, row in enumerate(plan.creates, start=1):
        created.append(Provider(
            code=row.code, name=row.name, country=row.country, city=row.city, type=row.type,
            contact_name=row.contact_name, contact_email=row.contact_email, contact_phone=row.contact_phone,
            legal_representative=row.legal_representative or "", legal_representative_position=row.legal_representative_position or "",
            facts=dict(row.facts), item_scores=dict(row.item_scores), synthetic=False,
        ))
        if progress is not None and done % PROGRESS_ROWS == 0:
            progress(done)
    if progress is not None:
        progress(len(created))
    session.add_all(created)
    existing = _existing(session, [row.code for row, _ in plan.updates])
    for row, changes in plan.updates:
        provider = existing[row.code]
        for name in BASE_COLUMNS[1:] + OPTIONAL_COLUMNS:
            if name in changes:
                setattr(provider, name, getattr(row, name))
        # new dict objects, so the JSON columns are seen as changed; keys outside the file stay
        if "facts" in changes:
            provider.facts = {**(provider.facts or {}), **row.facts}
        if "item_scores" in changes:
            provider.item_scores = {**(provider.item_scores or {}), **row.item_scores}


def import_providers(session: Session, filename: str, data: bytes, instrument: ProviderInstrument, *,
                     dry_run: bool, expected_stamp: str | None = None, require_precondition: bool = False,
                     progress: Callable[[int, int], None] | None = None) -> tuple[ImportPlan | None, list[ImportProblem]]:
    """Check the file, plan the upsert and (unless ``dry_run``) apply it in one transaction.

    With any problem in the file nothing is written and the plan is None.  Importing the same
    file again plans no creates and no updates and writes nothing.  ``expected_stamp`` is the
    :attr:`ImportPlan.stamp` of the dry run the person checked: if any provider of the file changed
    since, nothing is written (:class:`PreconditionFailed`, with the new plan's stamp).  With
    ``require_precondition`` a file that updates existing providers needs that stamp.

    ``progress(done, total)`` (a job's progress) counts rows read, then (applying) new providers
    built; ``total`` is the rows once (dry run) or twice.  It is only called while the session holds
    no change of the import's, so it may commit the session.
    """
    steps = 1 if dry_run else 2
    reading = None
    if progress is not None:
        expected = max(count_rows(filename, data), 1)

        def reading(rows_read: int) -> None:
            progress(min(rows_read, expected), max(expected, rows_read) * steps)

        progress(0, expected * steps)
    rows, problems = parse_file(filename, data, instrument, progress=reading)
    if problems:
        return None, problems
    read = max(len(rows), 1)
    try:
        plan = plan_import(session, rows)
        if progress is not None:
            progress(read, read * steps)
        if not dry_run and expected_stamp is not None and expected_stamp != plan.stamp:
            raise PreconditionFailed(N_("Some providers in this file changed after it was checked; nothing was imported. "
                                        "Check the file again."), [{"field": "stamp", "current": plan.stamp}])
        if not dry_run and expected_stamp is None and require_precondition and plan.updates:
            raise PreconditionRequired("This file updates existing providers: run it with dry_run=1 first and send its "
                                       "\"stamp\" as If-Match.", [{"field": "If-Match", "current": plan.stamp}])
        if not dry_run and plan.has_changes:
            _apply(session, plan, (lambda built: progress(read + built, read * steps)) if progress is not None else None)
            session.commit()
        if progress is not None:
            progress(read * steps, read * steps)
    except (IntegrityError, StaleDataError):
        session.rollback()
        raise Conflict(N_("The providers changed while the file was imported; nothing was saved. Try again.")) from None
    except Exception:
        session.rollback()
        raise
    return plan, []


def plan_json(plan: ImportPlan, *, dry_run: bool) -> dict:
    """What an import created, updated and left unchanged (or would, in a dry run), as the API answers it."""
    return {
        "dry_run": dry_run,
        "created": [r.code for r in plan.creates],
        "updated": [{"code": r.code, "changes": {k: {"old": v[0], "new": v[1]} for k, v in changes.items()}} for r, changes in plan.updates],
        "unchanged": plan.unchanged,
        "stamp": plan.stamp,
    }


# --------------------------------------------------------------------------- uploads waiting to be applied

#: how long a checked upload waits to be applied before it is removed (seconds)
UPLOAD_MAX_AGE = 3600


def keep_upload(session: Session, user: User, filename: str, data: bytes, stamp: str, *,
                max_age: int = UPLOAD_MAX_AGE, now: datetime | None = None) -> str:
    """Keep a file ``user`` checked in a dry run until they apply it (at most ``max_age`` seconds) and
    return the token that names it. One pending upload per person: it replaces their earlier one,
    unless an unfinished job of theirs (a check or an import) is still to read that one.

    Kept in the database, so any app server can apply an upload another one checked.
    """
    require_staff(user)
    now = now or utcnow()
    forget_expired_uploads(session, now=now)
    in_use = [params.get("upload_id") for params in session.scalars(
        select(Job.params).where(Job.user_id == user.id, Job.status.in_((JOB_QUEUED, JOB_RUNNING)))) if isinstance(params, dict)]
    session.execute(delete(PendingUpload).where(PendingUpload.user_id == user.id,
                                                PendingUpload.id.not_in([i for i in in_use if isinstance(i, int)])))
    token = secrets.token_urlsafe(24)
    session.add(PendingUpload(token=token, user_id=user.id, filename=(filename or "upload")[:255], data=data, stamp=stamp or "",
                              created_at=now, expires_at=now + timedelta(seconds=max_age)))
    session.commit()
    return token


def pending_upload(session: Session, user: User, token: str | None, *, now: datetime | None = None) -> PendingUpload | None:
    """The upload ``user`` checked under ``token``, unless it expired or was applied; None as well for
    another person's token (they cannot apply it, nor learn that it exists)."""
    require_staff(user)
    if not token or len(token) > 64:
        return None
    return session.scalar(select(PendingUpload).where(PendingUpload.token == token, PendingUpload.user_id == user.id,
                                                      PendingUpload.expires_at > (now or utcnow())))


def pending_upload_by_id(session: Session, user: User, upload_id: int, *, now: datetime | None = None) -> PendingUpload | None:
    """As :func:`pending_upload`, by the upload's id (what a job keeps)."""
    require_staff(user)
    if isinstance(upload_id, bool) or not isinstance(upload_id, int) or not 0 < upload_id < 2**31:
        return None
    return session.scalar(select(PendingUpload).where(PendingUpload.id == upload_id, PendingUpload.user_id == user.id,
                                                      PendingUpload.expires_at > (now or utcnow())))


def restamp_upload(session: Session, user: User, token: str, stamp: str) -> None:
    """Record the stamp of a new dry run of ``user``'s pending upload (the registry changed since the first)."""
    upload = pending_upload(session, user, token)
    if upload is not None:
        upload.stamp = stamp
        session.commit()


def forget_upload(session: Session, user: User, token: str | None) -> None:
    """Remove ``user``'s pending upload ``token`` (applied, or found to have problems)."""
    require_staff(user)
    if token:
        session.execute(delete(PendingUpload).where(PendingUpload.token == token[:64], PendingUpload.user_id == user.id))
        session.commit()


def forget_expired_uploads(session: Session, *, now: datetime | None = None) -> int:
    """Remove every pending upload older than its expiry (nobody applied it); returns how many."""
    removed = session.execute(delete(PendingUpload).where(PendingUpload.expires_at <= (now or utcnow()))).rowcount
    session.commit()
    return removed or 0
