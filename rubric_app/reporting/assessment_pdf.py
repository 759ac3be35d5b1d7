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
from flask_babel import pgettext
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ..domain.instruments import Rubric
from ..domain.planning import SUMMARY_ACTIONS, PlanItem, priority_actions
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
    #: dimension id -> change since the previous round, from the unrounded means (domain.scoring.score_change)
    changes: Mapping[str, Decimal | None] = field(default_factory=dict)
    #: the day a reviewer validated the assessment (when validated)
    validated_on: date | None = None
    #: the institution is demo data (labelled on every page)
    synthetic: bool = False


def _styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=FONT, fontSize=9.5, leading=12.5, alignment=TA_LEFT,
                          splitLongWords=1, allowWidows=0, allowOrphans=0)
    return {
        "body": body,
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#4a5866")),
        "cell": ParagraphStyle("cell", parent=body, fontSize=8.5, leading=10.5),
        "cellbold": ParagraphStyle("cellbold", parent=body, fontName=FONT_BOLD, fontSize=8.5, leading=10.5),
        "title": ParagraphStyle("title", parent=body, fontName=FONT_BOLD, fontSize=19, leading=23, spaceAfter=4),
        "subtitle": ParagraphStyle("subtitle", parent=body, fontSize=11, leading=14, textColor=colors.HexColor("#1f5fa8"), spaceAfter=4),
        "status": ParagraphStyle("status", parent=body, fontName=FONT_BOLD, fontSize=10.5, leading=14, spaceBefore=2, spaceAfter=6,
                                 textColor=colors.HexColor("#1d2733"), backColor=colors.HexColor("#eef3f8"), borderPadding=(4, 5, 4, 5)),
        "index": ParagraphStyle("index", parent=body, fontName=FONT_BOLD, fontSize=13, leading=17, spaceBefore=6, spaceAfter=4),
        "h1": ParagraphStyle("h1", parent=body, fontName=FONT_BOLD, fontSize=15, leading=19, spaceBefore=6, spaceAfter=8, keepWithNext=1),
        "h2": ParagraphStyle("h2", parent=body, fontName=FONT_BOLD, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4, keepWithNext=1),
        "h3": ParagraphStyle("h3", parent=body, fontName=FONT_BOLD, fontSize=9.5, leading=12.5, spaceBefore=7, spaceAfter=2, keepWithNext=1),
        "label": ParagraphStyle("label", parent=body, fontSize=8.5, leading=11, textColor=colors.HexColor("#4a5866"), keepWithNext=1),
    }


#: Dates in documents: English documents use British conventions (30 November 2026), like their spelling.
DATE_LOCALES = {"en": "en_GB"}


def date_text(value: date | None, lang: str, fmt: str = "long") -> str:
    return format_date(value, format=fmt, locale=DATE_LOCALES.get(lang, lang)) if value else "—"


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text: any markup in ``text`` is printed literally."""
    return Paragraph(escape(text or "").replace("\n", "<br/>"), style)


def _long(text: str, style: ParagraphStyle) -> list[Paragraph]:
    """A long text as one paragraph per line block, so it flows across pages (never a cell taller than a page)."""
    blocks = [b for b in (text or "").replace("\r\n", "\n").split("\n\n")]
    return [_p(b.strip("\n"), style) for b in blocks if b.strip()]


def _num(value, lang: str, places: int = 2) -> str:
    return "—" if value is None else format_decimal(value, format="#,##0." + "0" * places, locale=lang)


def _signed(value, lang: str, places: int = 2) -> str:
    if value is None:
        return "—"
    return ("+" if value > 0 else "") + _num(value, lang, places)


def status_label(status: str) -> str:
    return {"todo": _("Not started"), "in_progress": _("In progress"), "done": _("Done")}.get(status, status)


def validation_status(data: ReportInput, lang: str) -> str:
    """One line on who stands behind the levels: draft, self-assessed, or validated (and when)."""
    if data.status == "validated":
        if data.validated_on is not None:
            return _("Validated by CINTERFOR on %(date)s", date=date_text(data.validated_on, lang))
        return _("Validated by CINTERFOR")
    if data.status == "submitted":
        return _("Self-assessed, not yet validated")
    return _("Draft: self-assessment in progress, not submitted and not validated")


def build_assessment_pdf(data: ReportInput, lang: str, output) -> None:
    """Write the report in ``lang`` to ``output`` (a path or a binary file object)."""
    with force_locale(lang):
        _build(data, lang, output)


def _level_text(res, rubric: Rubric, lang: str) -> str:
    if res.score is not None:
        return f"{res.level} · {rubric.level_name(res.level, lang)}"
    if res.status == INSUFFICIENT:
        return _("Insufficient evidence")
    return _("Incomplete")


def _summary(data: ReportInput, lang: str, st, grid) -> list:
    """Page 1: what the director needs first, on one page."""
    rubric = data.rubric
    story: list = [_p(_("Self-assessment and improvement plan"), st["title"]), _p(rubric.title(lang), st["subtitle"])]
    place = ", ".join(x for x in (data.city, data.country) if x)
    story.append(_p(f"{data.institution} · {place}", st["h2"]))
    story.append(_p(_("Round %(n)s", n=data.round_number) + " · " + date_text(data.report_date, lang), st["body"]))
    story.append(Spacer(1, 2 * mm))
    story.append(_p(validation_status(data, lang), st["status"]))
    if data.synthetic:
        story.append(_p(_("Synthetic demonstration data: this institution is fictitious."), st["small"]))
    shown = data.validated if data.validated is not None else data.scores
    if shown.index is not None:
        label = _("Overall inclusion index (validated)") if data.validated is not None else _("Overall inclusion index")
        story.append(_p(f"{label}: {_num(shown.index, lang, 1)} / 100", st["index"]))
    else:
        story.append(_p(_("The overall inclusion index is not published: it needs a score in all six dimensions."), st["body"]))
    rows = [[_p(h, st["cellbold"]) for h in (_("Dimension"), _("Score"), _("Attained level"))]]
    for dim in rubric.dimensions:
        res = shown.dimensions[dim.id]
        rows.append([_p(dim.name(lang), st["cell"]), _p(_num(res.score, lang), st["cell"]), _p(_level_text(res, rubric, lang), st["cell"])])
    table = Table(rows, colWidths=[88 * mm, 29 * mm, 53 * mm])
    table.setStyle(grid)
    story += [table, Spacer(1, 4 * mm)]

    done = [cid for cid, note in data.plan_notes.items() if note.status == "done"]
    dim_scores = {d.id: data.scores.dimensions[d.id].score for d in rubric.dimensions}
    chosen = priority_actions(data.plan, dim_scores, done)
    story.append(_p(_("Five priority actions") if len(chosen) == SUMMARY_ACTIONS else _("Priority actions"), st["h2"]))
    if not chosen:
        story.append(_p(_("No open plan item: every criterion is at its target or its item is done."), st["body"]))
        return story
    rows = [[_p(h, st["cellbold"]) for h in ("#", _("Action"), _("Responsible"), _("Due date"), _("Status"))]]
    for number, item in enumerate(chosen, start=1):
        crit = rubric.criterion(item.criterion_id)
        actions = item.actions[0][1] if item.actions else ()
        action = actions[0](lang) if actions else item.target_descriptor(lang)
        note = data.plan_notes.get(item.criterion_id)
        responsible = (note.responsible if note else "") or "—"
        if len(responsible) > 80:
            responsible = responsible[:79] + "…"
        rows.append([
            _p(str(number), st["cell"]),
            [_p(crit.title(lang) + " (" + _("from level %(current)s to %(target)s", current=item.current, target=item.target) + ")", st["cellbold"]),
             _p(action, st["cell"])],
            _p(responsible, st["cell"]),
            _p(date_text(note.due_date, lang, "medium") if note else "—", st["cell"]),
            _p(status_label(note.status if note else "todo"), st["cell"]),
        ])
    table = Table(rows, colWidths=[7 * mm, 93 * mm, 30 * mm, 22 * mm, 18 * mm], repeatRows=1)
    table.setStyle(grid)
    story.append(table)
    story.append(_p(_("Open plan items with the highest priority; among equal priorities, the weaker dimension first, then the lower "
                      "current level. The full plan follows."), st["small"]))
    return story


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

    # Page 1: summary
    story += _summary(data, lang, st, grid)
    story.append(PageBreak())

    # Scores
    story.append(_p(_("Scores by dimension"), st["h1"]))
    story.append(assessment_radar(rubric, data.answers, lang, (_("Current"), _("Target")), size=330))
    rows = [[_p(_("Dimension"), st["cell"]), _p(_("Score"), st["cell"]), _p(_("Attained level"), st["cell"]), _p(_("Answered / not applicable"), st["cell"])]]
    for dim in rubric.dimensions:
        res = data.scores.dimensions[dim.id]
        rows.append([_p(dim.name(lang), st["cell"]), _p(_num(res.score, lang), st["cell"]), _p(_level_text(res, rubric, lang), st["cell"]),
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
        hidden = False
        for dim in rubric.dimensions:
            country, region = data.benchmark.get(dim.id, (None, None))
            hidden = hidden or country is None or region is None
            rows.append([_p(dim.name(lang), st["cell"]), _p(_num(data.scores.dimensions[dim.id].score, lang), st["cell"]),
                         _p(_num(country, lang) if country is not None else "—", st["cell"]),
                         _p(_num(region, lang) if region is not None else "—", st["cell"])])
        table = Table(rows, colWidths=[76 * mm, 30 * mm, 32 * mm, 32 * mm])
        table.setStyle(grid)
        story.append(table)
        notes = [_("A median is shown only when at least %(n)s other institutions have a score in that dimension; it is rounded to half a level.",
                   n=data.benchmark_min_cell)]
        if hidden:
            notes.append(_("—: not shown, because fewer than %(n)s other institutions have a score there.", n=data.benchmark_min_cell))
        for note in notes:
            story.append(_p(note, st["small"]))
        story.append(Spacer(1, 3 * mm))
        story.append(grouped_bars_drawing([d.name(lang) for d in rubric.dimensions], [
            (_("This institution"), [data.scores.dimensions[d.id].score for d in rubric.dimensions], CURRENT_COLOUR),
            (_("Country median"), [data.benchmark.get(d.id, (None, None))[0] for d in rubric.dimensions], TARGET_COLOUR),
            (_("Region median"), [data.benchmark.get(d.id, (None, None))[1] for d in rubric.dimensions], GREY)], lang=lang))
    if data.previous is not None:
        number_before, before = data.previous
        story.append(CondPageBreak(80 * mm))
        story.append(_p(_("Change since round %(n)s", n=number_before), st["h2"]))
        rows = [[_p(h, st["cell"]) for h in (_("Dimension"), _("Round %(n)s", n=number_before), _("Round %(n)s", n=data.round_number),
                                             pgettext("table column: difference between two rounds", "Change"))]]
        for dim in rubric.dimensions:
            now, then = data.scores.dimensions[dim.id].score, before.get(dim.id)
            if dim.id in data.changes:
                delta = data.changes[dim.id]
            else:
                delta = (now - then) if now is not None and then is not None else None
            rows.append([_p(dim.name(lang), st["cell"]), _p(_num(then, lang), st["cell"]), _p(_num(now, lang), st["cell"]),
                         _p(_signed(delta, lang), st["cell"])])
        then, now = before.get("index"), data.scores.index
        delta = (now - then) if now is not None and then is not None else None
        rows.append([_p(_("Overall inclusion index"), st["cell"]), _p(_num(then, lang, 1), st["cell"]), _p(_num(now, lang, 1), st["cell"]),
                     _p(_signed(delta, lang, 1), st["cell"])])
        table = Table(rows, colWidths=[76 * mm, 30 * mm, 32 * mm, 32 * mm])
        table.setStyle(grid)
        story.append(table)
        story.append(_p(_("Changes of dimension scores are computed from the unrounded means, so equal gains read the same."), st["small"]))
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
        note = data.plan_notes.get(item.criterion_id)
        head = [_p(f"{number}. {crit.title(lang)}", st["h2"]), _p(dim.name(lang), st["small"])]
        meta = Table([[_p(h, st["cellbold"]) for h in (_("Priority"), _("Responsible"), _("Due date"), _("Status"))],
                      [_p(_num(item.priority, lang, 1), st["cell"]), _p((note.responsible if note else "") or "—", st["cell"]),
                       _p(date_text(note.due_date, lang, "medium") if note else "—", st["cell"]),
                       _p(status_label(note.status if note else "todo"), st["cell"])]],
                     colWidths=[22 * mm, 80 * mm, 34 * mm, 34 * mm])
        meta.setStyle(grid)
        levels = Table([
            [_p(_("Current level %(level)s", level=f"{item.current} · {rubric.level_name(item.current, lang)}"), st["cellbold"]),
             _p(_("Target level %(level)s", level=f"{item.target} · {rubric.level_name(item.target, lang)}"), st["cellbold"])],
            [_p(item.current_descriptor(lang), st["cell"]), _p(item.target_descriptor(lang), st["cell"])],
        ], colWidths=[85 * mm, 85 * mm])
        levels.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#b8c2cc")), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(KeepTogether(head + [meta, Spacer(1, 1.5 * mm), levels]))
        for level, actions in item.actions:
            story.append(_p(_("Actions to reach level %(level)s", level=f"{level} · {rubric.level_name(level, lang)}"), st["label"]))
            for action in actions:
                story.append(_p("• " + action(lang), st["cell"]))
        if note is not None and note.note:
            story.append(_p(_("Note"), st["label"]))
            story += _long(note.note, st["cell"])
        story.append(Spacer(1, 3 * mm))

    # Answers: one block per criterion that flows across pages (long evidence never overflows a page)
    story += [PageBreak(), _p(_("Answers and evidence"), st["h1"])]
    for dim in rubric.dimensions:
        story.append(_p(dim.name(lang), st["h2"]))
        for crit in dim.criteria:
            ans = data.answers.get(crit.id)
            if ans is None or not ans.is_answered:
                level, label, text = _("No answer"), "", ""
            elif ans.not_applicable:
                level, label, text = _("Not applicable"), _("Reason"), ans.na_reason
            else:
                level, label, text = f"{ans.level} · {rubric.level_name(ans.level, lang)}", _("Evidence"), ans.evidence
            story.append(_p(crit.title(lang), st["h3"]))
            story.append(_p(_("Level") + f": {level}", st["label"] if text or crit.id in data.review else st["cell"]))
            if text:
                story.append(_p(label, st["label"]))
                story += _long(text, st["cell"])
            if crit.id in data.review:
                validated_level, comment = data.review[crit.id]
                shown = f"{validated_level} · {rubric.level_name(validated_level, lang)}" if validated_level is not None else "—"
                story.append(_p(_("Validated level") + f": {shown}", st["label"]))
                if comment:
                    story.append(_p(_("Reviewer's comment"), st["label"]))
                    story += _long(comment, st["cell"])

    # Annex: the instrument and the rules
    story += [PageBreak(), _p(_("Annex: instrument and scoring rules"), st["h1"])]
    annex = [[_("Instrument"), rubric.id], [_("Version"), rubric.version], [_("Definition hash (SHA-256)"), rubric.hash]]
    table = Table([[_p(k, st["cell"]), _p(v, st["cell"])] for k, v in annex], colWidths=[50 * mm, 120 * mm])
    table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.3, colors.HexColor("#d4dbe2")), ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [table, Spacer(1, 4 * mm), _p(_("Scoring rules"), st["h2"])]
    for rule in scoring_rules():
        story.append(_p("• " + rule, st["body"]))
        story.append(Spacer(1, 1.5 * mm))

    footer = data.institution[:60] + " · " + _("Round %(n)s", n=data.round_number) + f" · {rubric.id} v{rubric.version}"
    if data.synthetic:
        footer = _("Synthetic data") + " · " + footer

    def on_page(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#5c6b7a"))
        canvas.drawString(18 * mm, 10 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, _("Page %(number)d", number=doc.page))
        canvas.restoreState()

    doc = SimpleDocTemplate(output, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=_("Self-assessment and improvement plan") + f" — {data.institution}",
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
        _("Summary: the five open plan items with the highest priority; among equal priorities the item in the weaker dimension comes first, then the one with the lower current level, then rubric order."),
        _("Change between rounds: the difference of the unrounded dimension means, rounded half-up to two decimals."),
        _("Assessments are compared only when they were answered on the same instrument id and version; the definition's hash is printed on the cover."),
    ]
