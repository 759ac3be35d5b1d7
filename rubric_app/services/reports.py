"""PDF reports saved under reports/, regenerated only when their content changed."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from sqlalchemy.orm import Session

from ..domain.instruments import Registry
from ..domain.scoring import score_change
from ..i18n import catalog_stamp, country_name
from ..models import Assessment
from ..reporting.assessment_pdf import PlanNote, ReportInput, build_assessment_pdf
from . import assessments as svc
from .files import write_once

#: bump when the layout changes, so cached PDFs are redrawn
LAYOUT_VERSION = "3"


def report_input(registry: Registry, assessment: Assessment, lang: str, session: Session | None = None) -> ReportInput:
    """Gather what the report prints (the service's only database reads for a report)."""
    rubric = svc.rubric_for(registry, assessment)
    inst = assessment.institution
    when = assessment.submitted_at or assessment.updated_at or assessment.created_at
    notes = {e.criterion_id: PlanNote(e.responsible or "", e.due_date, e.status, e.note or "") for e in assessment.plan_items}
    from .comparison import benchmark

    bench = benchmark(session, registry, assessment) if session is not None else {"country": {}, "region": {}}

    def median(group: str, dim_id: str):
        cell = bench[group].get(dim_id)
        return cell.median if cell is not None and not cell.suppressed else None

    previous = svc.previous_scores(session, registry, assessment) if session is not None else None
    changes = {}
    if previous is not None:
        now, before = svc.answer_map(assessment), svc.answer_map(previous[0])
        changes = {d.id: score_change(d, now, before) for d in rubric.dimensions}
    validated_on = assessment.reviewed_at.date() if assessment.status == "validated" and assessment.reviewed_at else None
    return ReportInput(
        changes=changes,
        validated_on=validated_on,
        synthetic=bool(inst.synthetic),
        validated=svc.scores(registry, assessment, validated=True) if assessment.status == "validated" else None,
        review={r.criterion_id: (r.validated_level, r.review_comment or "") for r in assessment.answers
                if r.validated_level is not None or r.review_comment},
        benchmark={d.id: (median("country", d.id), median("region", d.id)) for d in rubric.dimensions} if session is not None else {},
        previous=(previous[0].round_number, previous[1]) if previous else None,
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
        "catalogs": catalog_stamp(),
        "lang": lang,
        "rubric": data.rubric.hash,
        "head": [data.institution, data.country, data.city, data.round_number, data.status, data.report_date.isoformat(),
                 data.validated_on.isoformat() if data.validated_on else None, data.synthetic],
        "changes": sorted((k, str(v)) for k, v in data.changes.items()),
        "answers": sorted((a.criterion_id, a.level, a.not_applicable, a.na_reason, a.target, a.evidence) for a in data.answers.values()),
        "notes": sorted((k, n.responsible, n.due_date.isoformat() if n.due_date else None, n.status, n.note) for k, n in data.plan_notes.items()),
        "review": sorted((k, v[0], v[1]) for k, v in data.review.items()),
        "validated": str(data.validated.index) if data.validated is not None else None,
        "benchmark": sorted((k, str(v[0]), str(v[1])) for k, v in data.benchmark.items()),
        "previous": [data.previous[0], sorted((k, str(v)) for k, v in data.previous[1].items())] if data.previous else None,
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:20]


def assessment_report(registry: Registry, assessment: Assessment, lang: str, reports_dir: str | os.PathLike,
                      session: Session | None = None) -> Path:
    """The report's path, drawing it only when no file for the same content exists.

    With a ``session`` the report also shows the country and region medians and the change since
    the previous round.
    """
    data = report_input(registry, assessment, lang, session)
    folder = Path(reports_dir)
    stem = f"assessment-{assessment.id}-{lang}-"
    path = write_once(folder / f"{stem}{_fingerprint(data, lang)}.pdf", lambda fh: build_assessment_pdf(data, lang, fh))
    for old in folder.glob(f"{stem}*.pdf"):
        if old != path:
            old.unlink(missing_ok=True)
    return path


def comparison_report(result, lang: str, reports_dir: str | os.PathLike) -> Path:
    """The comparison PDF for what the filters select (cached by content)."""
    from ..reporting.comparison_pdf import build_comparison_pdf
    from .comparison import comparison_json

    key = hashlib.sha256(json.dumps([LAYOUT_VERSION, catalog_stamp(), lang, comparison_json(result)], sort_keys=True, default=str).encode()).hexdigest()[:20]
    return write_once(Path(reports_dir) / f"comparison-{lang}-{key}.pdf", lambda fh: build_comparison_pdf(result, lang, fh))
