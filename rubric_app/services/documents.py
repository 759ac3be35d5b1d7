"""Selection documents: the round report, commitment letters, and both in one zip (cached under reports/).

Commitment letters are issued only for frozen rounds (an open round's selection can still change):
:func:`commitment_letter` and :func:`round_documents_zip` refuse an open round with
:class:`~rubric_app.services.Conflict` (409). A letter is written in its provider's language,
chosen from the provider's country (``LETTER_LANGUAGES``, else ``LETTER_DEFAULT_LANGUAGE``), not
in the language of the page that asked for it. The issuing office, signatory and logo come from
the instance configuration, the letter's texts from ``rubric_defs/letters/`` (docs/letters.md).
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

from ..domain.instruments import Registry
from ..i18n import catalog_stamp
from ..domain.letters import IMESUN_LETTER, LetterTemplate, load_letters
from ..models import ROUND_FROZEN, SelectionRound
from ..reporting.selection_pdf import LetterInfo, Office, RoundInfo, build_letter, build_round_report
from . import N_, Conflict, NotFound
from .files import write_once
from .selection import final_results, letter_terms, round_instrument

LAYOUT_VERSION = "2"
LETTER_LANGUAGE_CHOICES = ("es", "en", "pt")
#: Spanish-speaking countries (ISO 3166-1 alpha-2): their letters are in Spanish by default
SPANISH_SPEAKING = ("AR", "BO", "CL", "CO", "CR", "CU", "DO", "EC", "ES", "GQ", "GT", "HN", "MX", "NI", "PA", "PE", "PR", "PY",
                    "SV", "UY", "VE")
#: Portuguese-speaking countries: their letters are in Portuguese by default
PORTUGUESE_SPEAKING = ("AO", "BR", "CV", "GW", "MZ", "PT", "ST", "TL")
#: default of the LETTER_LANGUAGES setting: country -> language of its letters
DEFAULT_LETTER_LANGUAGES: dict[str, str] = {**{c: "es" for c in SPANISH_SPEAKING}, **{c: "pt" for c in PORTUGUESE_SPEAKING}}

#: the instance settings of the letters and their defaults (see docs/letters.md)
LETTER_SETTINGS: dict[str, Any] = {
    "LETTER_LANGUAGES": DEFAULT_LETTER_LANGUAGES,
    "LETTER_DEFAULT_LANGUAGE": "en",
    "LETTER_OFFICE_NAME": None,  # None: the template's issuer, in the letter's language; a text, or {lang: text}
    "LETTER_OFFICE_ADDRESS": "Las Flores 275, San Isidro",
    "LETTER_OFFICE_CITY": "Lima",
    "LETTER_OFFICE_COUNTRY": "PE",
    "LETTER_SIGNATORY_NAME": "",  # blank: a line to write the name on
    "LETTER_SIGNATORY_TITLE": None,  # None: the template's signatory title; a text, or {lang: text}
    "LETTER_LOGO_PATH": None,  # a PNG or JPEG; relative paths are read from the instance folder
    "LETTER_REFERENCE_PREFIX": "OIT-LAZOS",
}


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps([LAYOUT_VERSION, catalog_stamp(), *parts], sort_keys=True, default=str).encode()).hexdigest()[:20]


def _round_date(rnd: SelectionRound):
    return (rnd.frozen_at or rnd.run_at or rnd.created_at).date()


def _round_info(registry: Registry, rnd: SelectionRound, rows: list[dict]) -> RoundInfo:
    return RoundInfo(rnd.id, rnd.name, rnd.status, _round_date(rnd), rnd.settings, round_instrument(registry, rnd), rows)


def round_report(registry: Registry, rnd: SelectionRound, lang: str, reports_dir: str | os.PathLike) -> Path:
    """The selection report PDF, redrawn only when the round's content changed."""
    rows = final_results(rnd)
    key = _fingerprint(rnd.id, rnd.name, rnd.status, rnd.settings, rows, lang, str(_round_date(rnd)))
    path = Path(reports_dir) / f"round-{rnd.id}-report-{lang}-{key}.pdf"
    return write_once(path, lambda fh: build_round_report(_round_info(registry, rnd, rows), lang, fh))


def selected_rows(rnd: SelectionRound) -> list[dict]:
    return [r for r in final_results(rnd) if r["selected"]]


# --------------------------------------------------------------------------- letter settings


@dataclass(frozen=True)
class LetterSetup:
    """Everything a letter takes from the instance: its template, office and language rule."""

    template: LetterTemplate
    settings: Mapping[str, Any]
    instance_path: str = ""

    def language(self, country: str | None) -> str:
        """The language of a letter to a provider of ``country``."""
        mapping = self.settings.get("LETTER_LANGUAGES") or {}
        lang = mapping.get((country or "").upper()) or self.settings.get("LETTER_DEFAULT_LANGUAGE") or "en"
        return lang if lang in LETTER_LANGUAGE_CHOICES else "en"

    def office(self, lang: str) -> Office:
        def pick(name: str, fallback: str) -> str:
            value = self.settings.get(name)
            if isinstance(value, Mapping):
                value = value.get(lang) or value.get("es") or next(iter(value.values()), None)
            return str(value) if value else fallback

        logo = self.settings.get("LETTER_LOGO_PATH")
        if logo and not os.path.isabs(logo) and self.instance_path:
            logo = os.path.join(self.instance_path, logo)
        return Office(
            name=pick("LETTER_OFFICE_NAME", self.template.text("issuer", lang)),
            address=str(self.settings.get("LETTER_OFFICE_ADDRESS") or ""),
            city=str(self.settings.get("LETTER_OFFICE_CITY") or ""),
            country=str(self.settings.get("LETTER_OFFICE_COUNTRY") or ""),
            signatory_name=str(self.settings.get("LETTER_SIGNATORY_NAME") or ""),
            signatory_title=pick("LETTER_SIGNATORY_TITLE", self.template.text("signatory_title", lang)),
            logo=str(logo) if logo else None,
        )


@lru_cache(maxsize=8)
def _templates(defs_root: str, stamp: tuple) -> dict[str, LetterTemplate]:
    return load_letters(defs_root)


def letter_templates(defs_root: str | os.PathLike) -> dict[str, LetterTemplate]:
    """The letter templates under ``defs_root`` (checked; cached until a file changes)."""
    folder = Path(defs_root) / "letters"
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.rglob("*.yaml"))) if folder.is_dir() else ()
    return _templates(str(defs_root), stamp)


def letter_setup(config: Mapping[str, Any] | None = None, instance_path: str = "") -> LetterSetup:
    """The letter setup of an app's configuration (the current app's when ``config`` is None)."""
    if config is None:
        from flask import current_app

        config, instance_path = current_app.config, current_app.instance_path
    templates = letter_templates(config["RUBRIC_DEFS"])
    if IMESUN_LETTER not in templates:
        raise NotFound("No commitment letter template is loaded (rubric_defs/letters/).")
    settings = {name: config.get(name, default) for name, default in LETTER_SETTINGS.items()}
    return LetterSetup(templates[IMESUN_LETTER], settings, instance_path)


def reference_number(setup: LetterSetup, rnd: SelectionRound, row: dict) -> str:
    """The letter's reference, the same every time for a round and provider: PREFIX/<year>/R<round>-<country>-<code>."""
    prefix = setup.settings.get("LETTER_REFERENCE_PREFIX") or "OIT-LAZOS"
    return f"{prefix}/{_round_date(rnd).year}/R{rnd.id}-{row['country']}-{row['code']}"


def letter_language(setup: LetterSetup, row: dict) -> str:
    return setup.language(row.get("country"))


# --------------------------------------------------------------------------- letters


def require_frozen(rnd: SelectionRound) -> None:
    """Letters commit an institution to a selection that can no longer change: frozen rounds only."""
    if rnd.status != ROUND_FROZEN:
        raise Conflict(N_("Commitment letters are issued only for frozen rounds. Freeze the round first; "
                          "its selection can then no longer change."), [{"field": "status", "current": rnd.status}])


def commitment_letter(registry: Registry, rnd: SelectionRound, code: str, lang: str | None = None,
                      reports_dir: str | os.PathLike = "reports", setup: LetterSetup | None = None) -> Path:
    """The commitment letter of one selected provider of a frozen round, in the provider's language.

    ``lang`` is accepted for compatibility and ignored: the provider's country decides (see :class:`LetterSetup`).
    """
    require_frozen(rnd)
    row = next((r for r in selected_rows(rnd) if r["code"] == code), None)
    if row is None:
        raise NotFound(N_("This provider is not selected in the round."))
    setup = setup or letter_setup()
    return _letter(registry, rnd, row, setup, Path(reports_dir))


def _safe(code: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in code)


def _letter(registry: Registry, rnd: SelectionRound, row: dict, setup: LetterSetup, folder: Path) -> Path:
    instrument = round_instrument(registry, rnd)
    lang = letter_language(setup, row)
    office = setup.office(lang)
    terms = letter_terms(rnd)
    info = LetterInfo(rnd.id, rnd.name, row, instrument, _round_date(rnd), setup.template, office, terms,
                      reference_number(setup, rnd, row))
    fields = {k: row.get(k) for k in ("code", "name", "country", "city", "contact_name", "legal_representative",
                                        "legal_representative_position")}
    logo_stamp = None
    if office.logo and os.path.isfile(office.logo):
        logo_stamp = (os.path.getsize(office.logo), os.stat(office.logo).st_mtime_ns)
    key = _fingerprint(rnd.id, rnd.name, fields, instrument.hash, setup.template.hash, office, logo_stamp, terms, lang,
                       str(info.letter_date), info.reference)
    return write_once(folder / f"round-{rnd.id}-letter-{_safe(row['code'])}-{lang}-{key}.pdf", lambda fh: build_letter(info, lang, fh))


def round_documents_zip(registry: Registry, rnd: SelectionRound, lang: str, reports_dir: str | os.PathLike,
                        progress: Callable[[int, int], None] | None = None, setup: LetterSetup | None = None) -> Path:
    """The report (in ``lang``) and every selected provider's letter (each in its provider's language)
    in one zip; frozen rounds only; ``progress(done, total)`` after each document."""
    require_frozen(rnd)
    setup = setup or letter_setup()
    folder = Path(reports_dir)
    rows = selected_rows(rnd)
    total = len(rows) + 1
    files = [(f"report-{lang}.pdf", round_report(registry, rnd, lang, folder))]
    if progress:
        progress(1, total)
    for done, row in enumerate(rows, start=2):
        path = _letter(registry, rnd, row, setup, folder)
        files.append((f"letters/{row['country']}/{_safe(row['code'])}-{letter_language(setup, row)}.pdf", path))
        if progress:
            progress(done, total)
    key = _fingerprint([p.name for _, p in files])
    target = folder / f"round-{rnd.id}-documents-{lang}-{key}.zip"

    def build(fh):
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, path in files:
                zf.write(path, name)

    return write_once(target, build)
