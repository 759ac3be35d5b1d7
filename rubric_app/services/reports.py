"""PDF reports saved under reports/, regenerated only when their content changed."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from ..domain.instruments import Registry
from ..i18n import country_name
from ..models import Assessment
from ..reporting.assessment_pdf import PlanNote, ReportInput, build_assessment_pdf
from . import assessments as svc

#: bump when the layout changes, so cached PDFs are redrawn
LAYOUT_VERSION = "1"


def report_input(registry: Registry, assessment: Assessment, lang: str) -> ReportInput:
    """Gather what the report prints (the service's only database reads for a report)."""
    rubric = svc.rubric_for(registry, assessment)
    inst = assessment.institution
    when = assessment.submitted_at or assessment.updated_at or assessment.created_at
    notes = {e.criterion_id: PlanNote(e.responsible or "", e.due_date, e.status, e.note or "") for e in assessment.plan_items}
    return ReportInput(
        institution=inst.name,
        country=country_name(inst.country, lang),
        city=inst.city or "",
        round_number=assessment.round_number,
        status=assessment.status,
        report_date=when.date(),
        rubric=rubric,
        answers=svc.answer_map(assessment),
        scores=svc.scores(registry, assessment),
        plan=svc.plan(registry, assessment),
        plan_notes=notes,
    )


def _fingerprint(data: ReportInput, lang: str) -> str:
    content = {
        "layout": LAYOUT_VERSION,
        "lang": lang,
        "rubric": data.rubric.hash,
        "head": [data.institution, data.country, data.city, data.round_number, data.status, data.report_date.isoformat()],
        "answers": sorted((a.criterion_id, a.level, a.not_applicable, a.na_reason, a.target, a.evidence) for a in data.answers.values()),
        "notes": sorted((k, n.responsible, n.due_date.isoformat() if n.due_date else None, n.status, n.note) for k, n in data.plan_notes.items()),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:20]


def assessment_report(registry: Registry, assessment: Assessment, lang: str, reports_dir: str | os.PathLike) -> Path:
    """The report's path, drawing it only when no file for the same content exists."""
    data = report_input(registry, assessment, lang)
    folder = Path(reports_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"assessment-{assessment.id}-{lang}-"
    path = folder / f"{stem}{_fingerprint(data, lang)}.pdf"
    if path.exists():
        return path
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            build_assessment_pdf(data, lang, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for old in folder.glob(f"{stem}*.pdf"):
        if old != path:
            old.unlink(missing_ok=True)
    return path
