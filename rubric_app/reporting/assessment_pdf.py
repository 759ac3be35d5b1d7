"""The self-assessment report and improvement plan as a PDF (reportlab platypus)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Mapping
from xml.sax.saxutils import escape

from babel.dates import format_date
from babel.numbers import format_decimal
from flask_babel import force_locale
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ..domain.instruments import Rubric
from ..domain.planning import PlanItem
from ..domain.scoring import INSUFFICIENT, CriterionAnswer, RubricScores
from .charts import CURRENT_COLOUR, FONT, FONT_BOLD, GREY, TARGET_COLOUR, assessment_radar, grouped_bars_drawing, register_fonts


@dataclass(frozen=True)
class PlanNote:
    responsible: str
    due_date: date | None
    status: str
    note: str


@dataclass(frozen=True)
class ReportInput:
    """Everything printed in the report, gathered by the service layer."""

    institution: str
    country: str
    city: str
    round_number: int
    status: str
    report_date: date
    rubric: Rubric
    answers: Mapping[str, CriterionAnswer]
    scores: RubricScores
    plan: list[PlanItem]
    plan_notes: Mapping[str, PlanNote]
    #: the reviewer-validated scores (when validated)
    validated: RubricScores | None = None
    #: criterion id -> (validated level or None, reviewer's comment)
    review: Mapping[str, tuple[int | None, str]] = field(default_factory=dict)
    #: dimension id -> (country median, region median); None where suppressed
    benchmark: Mapping[str, tuple[Decimal | None, Decimal | None]] = field(default_factory=dict)
    #: a benchmark median covers at least this many institutions besides this one (docs/comparison.md)
    benchmark_min_cell: int = 5
    #: (previous round number, its scores by dimension id and "index")
    previous: tuple[int, Mapping[str, Decimal | None]] | None = None


def _styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=FONT, fontSize=9.5, leading=12.5, alignment=TA_LEFT)
    return {
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#4a5866")),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8.5, leading=10.5),
        "title": ParagraphStyle("title", parent=body, fontName=FONT_BOLD, fontSize=22, leading=27, spaceAfter=10),
        "subtitle": ParagraphStyle("subtitle", parent=body, fontSize=13, leading=17, textColor=colors.HexColor("#1f5fa8")),
        "h1": ParagraphStyle("h1", parent=body, fontName=FONT_BOLD, fontSize=15, leading=19, spaceBefore=6, spaceAfter=8),
        "h2": ParagraphStyle("h2", parent=body, fontName=FONT_BOLD, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text: any markup in ``text`` is printed literally."""
    return Paragraph(escape(text or "").replace("\n", "<br/>"), style)


def _num(value, lang: str, places: int = 2) -> str:
    return "—" if value is None else format_decimal(value, format="#,##0." + "0" * places, locale=lang)


def status_label(status: str) -> str:
    return {"todo": _("Not started"), "in_progress": _("In progress"), "done": _("Done")}.get(status, status)


def build_assessment_pdf(data: ReportInput, lang: str, output) -> None:
    """Write the report in ``lang`` to ``output`` (a path or a binary file object)."""
    with force_locale(lang):
        _build(data, lang, output)


def _build(data: ReportInput, lang: str, output) -> None:
    st = _styles()
    rubric = data.rubric
    story: list = []
    grid = TableStyle([
        ("FONT", (0, 0), (-1, -1), FONT, 8.5),
        ("FONT", (0, 0), (-1, 0), FONT_BOLD, 8.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b8c2cc")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ])

    # Cover
    story += [Spacer(1, 25 * mm), _p(_("Self-assessment and improvement plan"), st["title"]),
              _p(rubric.title(lang), st["subtitle"]), Spacer(1, 12 * mm)]
    cover_rows = [
        [_("Institution"), data.institution],
        [_("Country"), data.country],
        [_("City"), data.city or "—"],
        [_("Round"), str(data.round_number)],
        [_("Status"), {"submitted": _("Submitted"), "validated": _("Validated")}.get(data.status, _("Draft"))],
        [_("Date"), format_date(data.report_date, format="long", locale=lang)],
        [_("Instrument"), f"{rubric.id}"],
        [_("Version"), rubric.version],
        [_("Definition hash (SHA-256)"), rubric.hash],
    ]
    table = Table([[_p(k, st["cell"]), _p(v, st["cell"])] for k, v in cover_rows], colWidths=[50 * mm, 120 * mm])
    table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.3, colors.HexColor("#d4dbe2")), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [table, Spacer(1, 10 * mm)]
    if data.status == "draft":
        story.append(_p(_("This is a draft: the answers may still change."), st["small"]))
    story.append(PageBreak())

    # Scores
    story.append(_p(_("Scores by dimension"), st["h1"]))
    story.append(assessment_radar(rubric, data.answers, lang, (_("Current"), _("Target")), size=330))
    rows = [[_p(_("Dimension"), st["cell"]), _p(_("Score"), st["cell"]), _p(_("Attained level"), st["cell"]), _p(_("Answered / not applicable"), st["cell"])]]
    for dim in rubric.dimensions:
        res = data.scores.dimensions[dim.id]
        if res.score is not None:
            level = f"{res.level} · {rubric.level_name(res.level, lang)}"
        elif res.status == INSUFFICIENT:
            level = _("Insufficient evidence")
        else:
            level = _("Incomplete")
        rows.append([_p(dim.name(lang), st["cell"]), _p(_num(res.score, lang), st["cell"]), _p(level, st["cell"]),
                     _p(f"{res.answered} / {res.not_applicable}", st["cell"])])
    table = Table(rows, colWidths=[70 * mm, 22 * mm, 45 * mm, 33 * mm], repeatRows=1)
    table.setStyle(grid)
    story += [table, Spacer(1, 5 * mm)]
    if data.scores.index is not None:
        story.append(_p(_("Overall inclusion index: %(index)s out of 100", index=_num(data.scores.index, lang, 1)), st["h2"]))
    else:
        story.append(_p(_("The overall inclusion index is not published: it needs a score in all six dimensions."), st["body"]))

    if data.validated is not None:
        story.append(_p(_("Validated by the reviewer"), st["h2"]))
        rows = [[_p(_("Dimension"), st["cell"]), _p(_("Self-assessed"), st["cell"]), _p(_("Validated"), st["cell"])]]
        for dim in rubric.dimensions:
            rows.append([_p(dim.name(lang), st["cell"]), _p(_num(data.scores.dimensions[dim.id].score, lang), st["cell"]),
                         _p(_num(data.validated.dimensions[dim.id].score, lang), st["cell"])])
        rows.append([_p(_("Overall inclusion index"), st["cell"]), _p(_num(data.scores.index, lang, 1), st["cell"]),
                     _p(_num(data.validated.index, lang, 1), st["cell"])])
        table = Table(rows, colWidths=[90 * mm, 40 * mm, 40 * mm])
        table.setStyle(grid)
        story.append(table)

    if data.benchmark:
        story += [PageBreak(), _p(_("Where the institution stands"), st["h1"])]
        rows = [[_p(h, st["cell"]) for h in (_("Dimension"), _("This institution"), _("Country median"), _("Region median"))]]
        for dim in rubric.dimensions:
            country, region = data.benchmark.get(dim.id, (None, None))
            rows.append([_p(dim.name(lang), st["cell"]), _p(_num(data.scores.dimensions[dim.id].score, lang), st["cell"]),
                         _p(_num(country, lang) if country is not None else _("fewer than %(n)s others", n=data.benchmark_min_cell), st["cell"]),
                         _p(_num(region, lang) if region is not None else _("fewer than %(n)s others", n=data.benchmark_min_cell), st["cell"])])
        table = Table(rows, colWidths=[76 * mm, 30 * mm, 32 * mm, 32 * mm])
        table.setStyle(grid)
        story.append(table)
        story.append(_p(_("A median is shown only when at least %(n)s other institutions have a score in that dimension; it is rounded to half a level.",
                          n=data.benchmark_min_cell), st["small"]))
        story.append(Spacer(1, 3 * mm))
        story.append(grouped_bars_drawing([d.name(lang) for d in rubric.dimensions], [
            (_("This institution"), [data.scores.dimensions[d.id].score for d in rubric.dimensions], CURRENT_COLOUR),
            (_("Country median"), [data.benchmark.get(d.id, (None, None))[0] for d in rubric.dimensions], TARGET_COLOUR),
            (_("Region median"), [data.benchmark.get(d.id, (None, None))[1] for d in rubric.dimensions], GREY)], lang=lang))
    if data.previous is not None:
        number_before, before = data.previous
        story.append(_p(_("Change since round %(n)s", n=number_before), st["h2"]))
        rows = [[_p(h, st["cell"]) for h in (_("Dimension"), _("Round %(n)s", n=number_before), _("Round %(n)s", n=data.round_number), _("Change"))]]
        for dim in rubric.dimensions:
            now, then = data.scores.dimensions[dim.id].score, before.get(dim.id)
            delta = (now - then) if now is not None and then is not None else None
            rows.append([_p(dim.name(lang), st["cell"]), _p(_num(then, lang), st["cell"]), _p(_num(now, lang), st["cell"]),
                         _p(("+" if delta is not None and delta > 0 else "") + _num(delta, lang), st["cell"])])
        then, now = before.get("index"), data.scores.index
        delta = (now - then) if now is not None and then is not None else None
        rows.append([_p(_("Overall inclusion index"), st["cell"]), _p(_num(then, lang, 1), st["cell"]), _p(_num(now, lang, 1), st["cell"]),
                     _p(("+" if delta is not None and delta > 0 else "") + _num(delta, lang, 1), st["cell"])])
        table = Table(rows, colWidths=[76 * mm, 30 * mm, 32 * mm, 32 * mm])
        table.setStyle(grid)
        story.append(table)
        story.append(grouped_bars_drawing([d.name(lang) for d in rubric.dimensions], [
            (_("Round %(n)s", n=number_before), [before.get(d.id) for d in rubric.dimensions], GREY),
            (_("Round %(n)s", n=data.round_number), [data.scores.dimensions[d.id].score for d in rubric.dimensions], CURRENT_COLOUR)], lang=lang))

    # Plan
    story += [PageBreak(), _p(_("Improvement plan"), st["h1"])]
    if not data.plan:
        story.append(_p(_("No criterion has a target above its current level."), st["body"]))
    for number, item in enumerate(data.plan, start=1):
        crit = rubric.criterion(item.criterion_id)
        dim = rubric.dimension(item.dimension_id)
        block = [_p(f"{number}. {crit.title(lang)}", st["h2"]),
                 _p(f"{dim.name(lang)} · {_('Priority')}: {_num(item.priority, lang, 1)}", st["small"])]
        rows = [
            [_p(_("Current level %(level)s", level=f"{item.current} · {rubric.level_name(item.current, lang)}"), st["cell"]),
             _p(_("Target level %(level)s", level=f"{item.target} · {rubric.level_name(item.target, lang)}"), st["cell"])],
            [_p(item.current_descriptor(lang), st["cell"]), _p(item.target_descriptor(lang), st["cell"])],
        ]
        table = Table(rows, colWidths=[85 * mm, 85 * mm])
        table.setStyle(grid)
        block.append(table)
        for level, actions in item.actions:
            block.append(_p(_("Actions to reach level %(level)s", level=f"{level} · {rubric.level_name(level, lang)}"), st["body"]))
            for action in actions:
                block.append(_p("• " + action(lang), st["cell"]))
        note = data.plan_notes.get(item.criterion_id)
        if note is not None:
            due = format_date(note.due_date, format="medium", locale=lang) if note.due_date else "—"
            block.append(_p(f"{_('Responsible')}: {note.responsible or '—'} · {_('Due date')}: {due} · "
                            f"{_('Status')}: {status_label(note.status)}", st["small"]))
            if note.note:
                block.append(_p(f"{_('Note')}: {note.note}", st["small"]))
        block.append(Spacer(1, 3 * mm))
        story.append(KeepTogether(block[:3]))
        story += block[3:]

    # Answers
    story += [PageBreak(), _p(_("Answers and evidence"), st["h1"])]
    reviewed = bool(data.review)
    head = [_("Criterion"), _("Level"), _("Evidence or reason")] + ([_("Reviewer")] if reviewed else [])
    rows = [[_p(h, st["cell"]) for h in head]]
    for crit in rubric.criteria:
        ans = data.answers.get(crit.id)
        if ans is None or not ans.is_answered:
            level, text = _("No answer"), ""
        elif ans.not_applicable:
            level, text = _("Not applicable"), ans.na_reason
        else:
            level, text = f"{ans.level} · {rubric.level_name(ans.level, lang)}", ans.evidence
        row = [_p(crit.title(lang), st["cell"]), _p(level, st["cell"]), _p(text, st["cell"])]
        if reviewed:
            validated_level, comment = data.review.get(crit.id, (None, ""))
            row.append(_p(f"{validated_level if validated_level is not None else '—'} {comment}".strip(), st["cell"]))
        rows.append(row)
    widths = [52 * mm, 26 * mm, 52 * mm, 40 * mm] if reviewed else [62 * mm, 30 * mm, 78 * mm]
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(grid)
    story.append(table)

    # Appendix
    story += [PageBreak(), _p(_("Appendix: scoring rules"), st["h1"])]
    for rule in scoring_rules():
        story.append(_p("• " + rule, st["body"]))
        story.append(Spacer(1, 1.5 * mm))

    footer = f"{rubric.id} v{rubric.version} · {rubric.hash[:12]}"

    def on_page(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#5c6b7a"))
        canvas.drawString(18 * mm, 10 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, _("Page %(number)d", number=doc.page))
        canvas.restoreState()

    doc = SimpleDocTemplate(output, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=f"{_('Self-assessment and improvement plan')} — {data.institution}",
                            author="rubric", subject=rubric.title(lang), invariant=1, lang=lang)
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)


def scoring_rules() -> list[str]:
    """The published scoring rules, in the active language."""
    return [
        _("Each criterion is answered with a level from 1 to 5, or as not applicable with a mandatory reason."),
        _("Dimension score: the arithmetic mean of the levels of the criteria answered with a level, rounded half-up to two decimals."),
        _("A dimension with more than half of its criteria not applicable has no score (insufficient evidence)."),
        _("Attained level: the whole part of the dimension score (2.67 is level 2)."),
        _("Overall inclusion index from 0 to 100: the weighted mean of the six dimension scores s, mapped by (s − 1) / 4 × 100 and rounded half-up to one decimal. It is published only when all six dimensions have a score."),
        _("Targets: each criterion has a target level, by default the current level plus one (at most 5)."),
        _("Improvement plan: one item per criterion whose target is above its current level, with the recommended actions for every level up to the target; priority = (target − current) × dimension weight, higher first, ties in rubric order."),
        _("Assessments are compared only when they were answered on the same instrument id and version; the definition's hash is printed on the cover."),
    ]
