"""Selection documents: the round report, commitment letters, and both in one zip (cached under reports/)."""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Callable

from ..domain.instruments import Registry
from ..models import SelectionRound
from ..reporting.selection_pdf import LetterInfo, RoundInfo, build_letter, build_round_report
from . import N_, NotFound
from .files import write_once
from .selection import final_results, round_instrument

LAYOUT_VERSION = "1"


def _fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps([LAYOUT_VERSION, *parts], sort_keys=True, default=str).encode()).hexdigest()[:20]


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


def commitment_letter(registry: Registry, rnd: SelectionRound, code: str, lang: str, reports_dir: str | os.PathLike) -> Path:
    """The commitment letter of one selected provider."""
    row = next((r for r in selected_rows(rnd) if r["code"] == code), None)
    if row is None:
        raise NotFound(N_("This provider is not selected in the round."))
    return _letter(registry, rnd, row, lang, Path(reports_dir))


def _letter(registry: Registry, rnd: SelectionRound, row: dict, lang: str, folder: Path) -> Path:
    instrument = round_instrument(registry, rnd)
    info = LetterInfo(rnd.id, rnd.name, row, instrument, _round_date(rnd))
    fields = {k: row.get(k) for k in ("code", "name", "country", "city", "contact_name")}
    key = _fingerprint(rnd.id, rnd.name, fields, instrument.hash, lang, str(info.letter_date))
    safe_code = "".join(c if c.isalnum() or c in "-_." else "_" for c in row["code"])
    return write_once(folder / f"round-{rnd.id}-letter-{safe_code}-{lang}-{key}.pdf", lambda fh: build_letter(info, lang, fh))


def round_documents_zip(registry: Registry, rnd: SelectionRound, lang: str, reports_dir: str | os.PathLike,
                        progress: Callable[[int, int], None] | None = None) -> Path:
    """The report and every selected provider's letter in one zip; ``progress(done, total)`` after each."""
    folder = Path(reports_dir)
    rows = selected_rows(rnd)
    total = len(rows) + 1
    files = [(f"report-{lang}.pdf", round_report(registry, rnd, lang, folder))]
    if progress:
        progress(1, total)
    for done, row in enumerate(rows, start=2):
        path = _letter(registry, rnd, row, lang, folder)
        safe_code = "".join(c if c.isalnum() or c in "-_." else "_" for c in row["code"])
        files.append((f"letters/{row['country']}/{safe_code}-{lang}.pdf", path))
        if progress:
            progress(done, total)
    key = _fingerprint([p.name for _, p in files])
    target = folder / f"round-{rnd.id}-documents-{lang}-{key}.zip"

    def build(fh):
        with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, path in files:
                zf.write(path, name)

    return write_once(target, build)
