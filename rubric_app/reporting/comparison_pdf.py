"""Comparison charts (shared by the page and the PDF) and the comparison report."""
from __future__ import annotations

from xml.sax.saxutils import escape

from babel.numbers import format_decimal
from flask_babel import force_locale
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..domain.comparison import MIN_CELL, heatmap_cells
from ..i18n import country_name
from .charts import FONT, FONT_BOLD, boxes_drawing, heatmap_drawing, histogram_drawing, register_fonts

INDEX_EDGES = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]


def chart_drawings(result, lang: str) -> dict:
    """key -> (drawing, title): the heatmap, one quartile chart per dimension, the index histogram."""
    dims = [d.id for d in result.rubric.dimensions]
    groups = result.countries + ["ALL"]
    labels = {g: (country_name(g, lang) if g != "ALL" else _("Region")) for g in groups}
    values = {(labels[c], result.rubric.dimension(d).name(lang)): (float(v) if v is not None else None)
              for c, d, v in heatmap_cells(result.table, dims)}
    drawings = {"heatmap": (heatmap_drawing([labels[g] for g in groups], [result.rubric.dimension(d).name(lang) for d in dims], values,
                                            suppressed_label=_("<3"), lang=lang), _("Median score by country and dimension"))}
    for d in dims:
        rows = []
        for g in groups:
            s = result.table[g][d]
            rows.append((labels[g], *(float(v) if v is not None else None for v in (s.q1, s.median, s.q3)), s.n))
        drawings[f"box_{d}"] = (boxes_drawing(rows, suppressed_label=_("<3")),
                                _("Quartiles of %(dimension)s", dimension=result.rubric.dimension(d).name(lang)))
    drawings["index"] = (histogram_drawing(INDEX_EDGES, result.index_histogram), _("Distribution of the overall index"))
    return drawings


def _p(text, style) -> Paragraph:
    return Paragraph(escape(str(text or "")), style)


def _num(value, lang: str, places: int = 2) -> str:
    return "—" if value is None else format_decimal(value, format="#,##0." + "0" * places, locale=lang)


def build_comparison_pdf(result, lang: str, output) -> None:
    with force_locale(lang):
        _build(result, lang, output)


def _build(result, lang: str, output) -> None:
    register_fonts()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=FONT, fontSize=9, leading=12)
    cell = ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9)
    h1 = ParagraphStyle("h1", parent=body, fontName=FONT_BOLD, fontSize=15, leading=19, spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=body, fontName=FONT_BOLD, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4)
    grid = TableStyle([("FONT", (0, 0), (-1, -1), FONT, 7.5), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                       ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#b8c2cc")), ("VALIGN", (0, 0), (-1, -1), "TOP")])
    f = result.filters
    drawings = chart_drawings(result, lang)
    story = [_p(_("Comparison of institutions and countries"), h1),
             _p(f"{result.rubric.title(lang)} — {result.rubric.id} {result.rubric.version}", body),
             _p(_("Basis: %(basis)s · %(n)s institutions · countries: %(countries)s",
                  basis=_("validated levels") if f.basis == "validated" else _("self-assessed levels"), n=len(result.observations),
                  countries=", ".join(country_name(c, lang) for c in result.countries) or "—"), body),
             Spacer(1, 4 * mm), _p(_("Median by country and dimension"), h2), drawings["heatmap"][0]]
    rows = [[_p(h, cell) for h in (_("Country"), _("Dimension"), "n", _("Median"), "Q1", "Q3", _("Mean"))]]
    for group, cells in result.table.items():
        for key, s in cells.items():
            name = result.rubric.dimension(key).name(lang) if key != "index" else _("Overall index")
            label = country_name(group, lang) if group != "ALL" else _("Region")
            if s.suppressed:
                rows.append([_p(label, cell), _p(name, cell), _p(s.n, cell), _p(_("fewer than 3"), cell), "", "", ""])
            else:
                rows.append([_p(v, cell) for v in (label, name, s.n, _num(s.median, lang), _num(s.q1, lang), _num(s.q3, lang), _num(s.mean, lang))])
    table = Table(rows, colWidths=[30 * mm, 62 * mm, 12 * mm, 17 * mm, 15 * mm, 15 * mm, 17 * mm], repeatRows=1)
    table.setStyle(grid)
    story += [PageBreak(), _p(_("Aggregates"), h2), table, PageBreak(), _p(_("Distribution per dimension"), h2)]
    for dim in result.rubric.dimensions:
        story += [_p(dim.name(lang), body), drawings[f"box_{dim.id}"][0]]
    story += [_p(_("Overall index"), h2), drawings["index"][0], PageBreak(), _p(_("Agreement between self-assessed and validated levels"), h2)]
    rows = [[_p(h, cell) for h in (_("Country"), _("Dimension"), "n", _("Kappa"), _("Mean difference"))]]
    for (country, dim), a in sorted(result.agreement.items()):
        label = country_name(country, lang) if country != "ALL" else _("Region")
        if a.suppressed:
            rows.append([_p(label, cell), _p(result.rubric.dimension(dim).name(lang), cell), _p(a.n, cell), _p(_("fewer than 3"), cell), ""])
        else:
            rows.append([_p(v, cell) for v in (label, result.rubric.dimension(dim).name(lang), a.n, _num(a.kappa, lang, 3),
                                               _num(a.mean_signed_difference, lang))])
    table = Table(rows, colWidths=[32 * mm, 70 * mm, 14 * mm, 24 * mm, 28 * mm], repeatRows=1)
    table.setStyle(grid)
    story += [table, Spacer(1, 6 * mm), _p(_("Method"), h2)]
    for note in method_notes():
        story.append(_p("• " + note, body))
    doc = SimpleDocTemplate(output, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=16 * mm,
                            title=_("Comparison of institutions and countries"), author="rubric", invariant=1, lang=lang)
    doc.build(story)


def method_notes() -> list[str]:
    return [
        _("Only assessments answered on the same instrument id and version are compared; the latest assessment of each institution is used."),
        _("Dimension scores follow the published scoring rules; the basis is either the self-assessed or the reviewer-validated levels."),
        _("Median and quartiles use linear interpolation between the ordered scores (inclusive method); the mean is the arithmetic mean; all are rounded half-up to two decimals."),
        _("Any cell with fewer than %(n)s institutions shows no aggregate, so that no single institution is exposed.", n=MIN_CELL),
        _("Agreement: quadratic-weighted kappa between self-assessed and validated levels of the criteria, and the mean of self-assessed minus validated level (positive: self-assessment runs high)."),
    ]
