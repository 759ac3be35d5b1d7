"""Comparison charts (shared by the page and the PDF) and the comparison report."""
from __future__ import annotations

from xml.sax.saxutils import escape

from babel.numbers import format_decimal
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import ngettext
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..domain.comparison import MEAN_GRID, MIN_CELL, QUANTILE_GRID, heatmap_cells
from ..i18n import country_name
from .charts import FONT, FONT_BOLD, boxes_drawing, heatmap_drawing, histogram_drawing, register_fonts


def chart_drawings(result, lang: str) -> dict:
    """key -> (drawing, title): the heatmap, one quartile chart per dimension, the index histogram.

    Every value drawn is a published one (threshold and grid applied); the histogram's bars are the
    merged ones (``result.index_edges``), and it is drawn only when there is one.
    """
    dims = [d.id for d in result.rubric.dimensions]
    groups = result.countries + ["ALL"]
    labels = {g: (country_name(g, lang) if g != "ALL" else _("Region (all countries)")) for g in groups}
    below = f"<{result.min_cell}"
    values = {(labels[c], result.rubric.dimension(d).name(lang)): (float(v) if v is not None else None)
              for c, d, v in heatmap_cells(result.table, dims)}
    legend = (_("Median level (1 to 5)"), _("not shown, fewer than %(n)s institutions", n=result.min_cell))
    drawings = {"heatmap": (heatmap_drawing([labels[g] for g in groups], [result.rubric.dimension(d).name(lang) for d in dims], values,
                                            suppressed_label=below, lang=lang, legend=legend), _("Median score by country and dimension"))}
    for d in dims:
        rows = []
        for g in groups:
            s = result.table[g][d]
            rows.append((labels[g], *(float(v) if v is not None else None for v in (s.q1, s.median, s.q3)), s.n))
        drawings[f"box_{d}"] = (boxes_drawing(rows, suppressed_label=below),
                                _("Quartiles of %(dimension)s", dimension=result.rubric.dimension(d).name(lang)))
    if result.index_histogram:
        drawings["index"] = (histogram_drawing([float(e) for e in result.index_edges], result.index_histogram,
                                               x_title=_("Overall inclusion index (0 to 100)"), y_title=_("Institutions"), lang=lang),
                             _("Distribution of the overall index"))
    return drawings


def _p(text, style) -> Paragraph:
    return Paragraph(escape(str(text or "")), style)


def _num(value, lang: str, places: int = 2) -> str:
    return "—" if value is None else format_decimal(value, format="#,##0" + ("." + "0" * places if places else ""), locale=lang)


def build_comparison_pdf(result, lang: str, output) -> None:
    with force_locale(lang):
        _build(result, lang, output)


def _build(result, lang: str, output) -> None:
    register_fonts()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=FONT, fontSize=9, leading=12)
    cell = ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9)
    h1 = ParagraphStyle("h1", parent=body, fontName=FONT_BOLD, fontSize=15, leading=19, spaceAfter=6)
    h2 = ParagraphStyle("h2", parent=body, fontName=FONT_BOLD, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4, keepWithNext=1)
    warn = ParagraphStyle("warn", parent=body, fontName=FONT_BOLD, textColor=colors.HexColor("#8a4b00"), backColor=colors.HexColor("#fdf3e3"),
                          borderPadding=(3, 4, 3, 4), spaceBefore=2, spaceAfter=6)
    grid = TableStyle([("FONT", (0, 0), (-1, -1), FONT, 7.5), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                       ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#b8c2cc")), ("VALIGN", (0, 0), (-1, -1), "TOP")])
    f = result.filters
    drawings = chart_drawings(result, lang)
    story = [_p(_("Comparison of institutions and countries"), h1),
             _p(result.rubric.title(lang) + " — " + _("version %(v)s", v=result.rubric.version), body),
             _p(_("Basis: %(basis)s · %(n)s institutions · countries: %(countries)s",
                  basis=_("validated levels") if f.basis == "validated" else _("self-assessed levels"), n=result.institutions,
                  countries=", ".join(country_name(c, lang) for c in result.countries) or "—"), body),
             _p(_("Aggregates only: no institution-level data. Every figure covers at least %(n)s institutions and is rounded "
                  "to a coarse grid; the region covers every country.", n=result.min_cell), body),
             Spacer(1, 4 * mm), _p(_("Median by country and dimension"), h2), drawings["heatmap"][0]]
    if result.synthetic:
        story.insert(1, _p(ngettext("Synthetic demonstration data: %(num)s of the institutions compared is fictitious.",
                                    "Synthetic demonstration data: %(num)s of the institutions compared are fictitious.", result.synthetic), warn))
    rows = [[_p(h, cell) for h in (_("Country"), _("Dimension"), "n", _("Median"), "Q1", "Q3", _("Mean"))]]
    for group, cells in result.table.items():
        for key, s in cells.items():
            name = result.rubric.dimension(key).name(lang) if key != "index" else _("Overall index")
            label = country_name(group, lang) if group != "ALL" else _("Region (all countries)")
            places = 1 if key == "index" else 2
            if s.suppressed:
                rows.append([_p(label, cell), _p(name, cell), _p(s.n, cell), _p(_("fewer than %(n)s", n=result.min_cell), cell), "", "", ""])
            else:
                rows.append([_p(v, cell) for v in (label, name, s.n, *(_num(x, lang, places) for x in (s.median, s.q1, s.q3, s.mean)))])
    table = Table(rows, colWidths=[30 * mm, 62 * mm, 12 * mm, 17 * mm, 15 * mm, 15 * mm, 17 * mm], repeatRows=1)
    table.setStyle(grid)
    story += [PageBreak(), _p(_("Aggregates"), h2), table, PageBreak(), _p(_("Distribution per dimension"), h2)]
    for dim in result.rubric.dimensions:
        story += [_p(dim.name(lang), body), drawings[f"box_{dim.id}"][0]]
    story += [_p(_("Overall index"), h2),
              drawings["index"][0] if "index" in drawings else _p(_("fewer than %(n)s", n=result.min_cell), body),
              PageBreak(), _p(_("Agreement between self-assessed and validated levels"), h2)]
    rows = [[_p(h, cell) for h in (_("Country"), _("Dimension"), "n", _("Kappa"), _("Mean difference"))]]
    for (country, dim), a in result.agreement_rows():
        label = country_name(country, lang) if country != "ALL" else _("Region (all countries)")
        if a.suppressed:
            rows.append([_p(label, cell), _p(result.rubric.dimension(dim).name(lang), cell), _p(a.n, cell),
                         _p(_("fewer than %(n)s", n=result.min_cell), cell), ""])
        else:
            rows.append([_p(v, cell) for v in (label, result.rubric.dimension(dim).name(lang), a.n, _num(a.kappa, lang, 2),
                                               _num(a.mean_signed_difference, lang))])
    table = Table(rows, colWidths=[32 * mm, 70 * mm, 14 * mm, 24 * mm, 28 * mm], repeatRows=1)
    table.setStyle(grid)
    story += [table, Spacer(1, 6 * mm), _p(_("Method"), h2)]
    for note in method_notes(result.min_cell):
        story.append(_p("• " + note, body))
    doc = SimpleDocTemplate(output, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=16 * mm,
                            title=_("Comparison of institutions and countries"), author="rubric", invariant=1, lang=lang)
    footer = (_("Synthetic data") + " · " if result.synthetic else "") + _("Comparison of institutions and countries")

    def on_page(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#5c6b7a"))
        canvas.drawString(18 * mm, 9 * mm, footer)
        canvas.drawRightString(A4[0] - 18 * mm, 9 * mm, _("Page %(number)d", number=doc.page))
        canvas.restoreState()

    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)


def method_notes(min_cell: int = MIN_CELL) -> list[str]:
    """The method note printed at the end of the report (docs/comparison.md in short)."""
    return [
        _("Only assessments answered on the same instrument id and version are compared; the latest assessment of each institution is used."),
        _("Dimension scores follow the published scoring rules; the basis is either the self-assessed or the reviewer-validated levels."),
        _("Median and quartiles use linear interpolation between the ordered scores (inclusive method); the mean is the arithmetic mean."),
        _("Any cell with fewer than %(n)s institutions shows no aggregate, so that no single institution is exposed.", n=min_cell),
        _("Published figures are rounded half-up to a coarse grid: medians and quartiles to %(q)s of a level (%(qi)s index points), "
          "means to %(m)s of a level (%(mi)s index points), kappa to %(k)s; so two selections that differ by one institution "
          "cannot give back its score.", q=QUANTILE_GRID["level"], qi=QUANTILE_GRID["index"], m=MEAN_GRID["level"],
          mi=MEAN_GRID["index"], k="0.05"),
        _("The region always covers every country with this instrument version (the other filters apply), whatever countries are "
          "chosen; histogram bars with fewer than %(n)s institutions are merged with their neighbours.", n=min_cell),
        _("Agreement: quadratic-weighted kappa between self-assessed and validated levels of the criteria, and the mean of self-assessed minus validated level (positive: self-assessment runs high)."),
    ]
