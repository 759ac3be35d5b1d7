"""Charts drawn once with reportlab.graphics: embedded in PDFs, and rendered as SVG for pages."""
from __future__ import annotations

import hashlib
import itertools
import math
import threading
from collections import OrderedDict
from decimal import Decimal
from pathlib import Path
from typing import Callable, Mapping, Sequence

import reportlab
from reportlab.graphics import renderSVG
from reportlab.graphics.shapes import Circle, Drawing, Group, Line, PolyLine, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from markupsafe import escape

from ..domain.instruments import LEVELS, Rubric
from ..domain.scoring import CriterionAnswer, score_rubric, target_profile

FONT_DIR = Path(reportlab.__file__).parent / "fonts"
FONT, FONT_BOLD = "Vera", "VeraBd"

CURRENT_COLOUR = colors.HexColor("#1f5fa8")
TARGET_COLOUR = colors.HexColor("#d9822b")
GRID_COLOUR = colors.HexColor("#b8c2cc")
GREY = colors.HexColor("#9aa8b6")


def register_fonts() -> None:
    """Bitstream Vera ships with reportlab: the same glyphs on every machine."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(FONT_DIR / "Vera.ttf")))
        pdfmetrics.registerFont(TTFont(FONT_BOLD, str(FONT_DIR / "VeraBd.ttf")))
        pdfmetrics.registerFont(TTFont("VeraIt", str(FONT_DIR / "VeraIt.ttf")))
        pdfmetrics.registerFont(TTFont("VeraBI", str(FONT_DIR / "VeraBI.ttf")))
        from reportlab.lib.fonts import addMapping

        addMapping(FONT, 0, 0, FONT)
        addMapping(FONT, 1, 0, FONT_BOLD)
        addMapping(FONT, 0, 1, "VeraIt")
        addMapping(FONT, 1, 1, "VeraBI")


def _wrap(text: str, width: int = 20) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and (len(lines[-1]) + 1 + len(word) <= width or len(word) <= 2):
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines[:6]


def wrap_to_width(text: str, width: float, size: float, font: str = FONT, max_lines: int = 6) -> list[str]:
    """Words of ``text`` in lines no wider than ``width`` points (a word too long for a line is cut with a hyphen).

    Never drops words silently: beyond ``max_lines`` the last line ends with an ellipsis.
    """
    register_fonts()

    def fits(t: str) -> bool:
        return pdfmetrics.stringWidth(t, font, size) <= width

    lines: list[str] = []
    for word in text.split():
        while not fits(word) and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and not fits(word[:cut] + "-"):
                cut -= 1
            if lines and fits(lines[-1] + " " + word[:cut] + "-"):
                lines[-1] += " " + word[:cut] + "-"
            else:
                lines.append(word[:cut] + "-")
            word = word[cut:]
        if lines and fits(lines[-1] + " " + word):
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and not fits(last + "…"):
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines


def radar_drawing(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None], colors.Color]],
                  *, size: float = 340, scale: Sequence[float] = LEVELS, origin: float | None = None, legend: bool = True) -> Drawing:
    """A radar chart: one axis per label, rings at each value of ``scale``, one polygon per series.

    ``origin`` is the value at the centre (default: one step below the first ring, 0 for levels
    1..5).  Series values of None are drawn at the centre (no score yet).
    """
    register_fonts()
    legend_height = 22 if legend else 0
    width = size * 1.3
    drawing = Drawing(width, size + legend_height)
    cx, cy = width / 2, size / 2 + legend_height
    radius = size / 2 - 62
    low, high = scale[0], scale[-1]
    centre = origin if origin is not None else low - (scale[1] - scale[0] if len(scale) > 1 else 1)
    n = len(labels)

    def point(i: int, value: float) -> tuple[float, float]:
        angle = math.pi / 2 - 2 * math.pi * i / n
        r = radius * (max(value, centre) - centre) / (high - centre)
        return cx + r * math.cos(angle), cy + r * math.sin(angle)

    for ring in scale:
        pts = [coord for i in range(n) for coord in point(i, ring)]
        drawing.add(Polygon(pts, strokeColor=GRID_COLOUR, strokeWidth=0.6, fillColor=None))
        x, y = point(0, ring)
        drawing.add(String(x + 3, y - 3, f"{ring:g}", fontName=FONT, fontSize=7, fillColor=colors.HexColor("#5c6b7a")))
    for i, label in enumerate(labels):
        x, y = point(i, high)
        drawing.add(Line(cx, cy, x, y, strokeColor=GRID_COLOUR, strokeWidth=0.6))
        lx, ly = point(i, high + (high - centre) * 0.12)
        anchor = "middle" if abs(lx - cx) < 8 else ("start" if lx > cx else "end")
        lines = wrap_to_width(label, 95, 8)
        if anchor == "middle":
            top = ly + (len(lines) - 1) * 9.5 if ly > cy else ly - 6
        else:
            top = ly + (len(lines) - 1) * 9.5 / 2 - 3
        for k, line in enumerate(lines):
            drawing.add(String(lx, top - k * 9.5, line, fontName=FONT, fontSize=8, textAnchor=anchor, fillColor=colors.HexColor("#1d2733")))
    for name, values, colour in series:
        pts = [coord for i, v in enumerate(values) for coord in point(i, float(v) if v is not None else centre)]
        fill = colors.Color(colour.red, colour.green, colour.blue, alpha=0.18)
        drawing.add(Polygon(pts, strokeColor=colour, strokeWidth=1.8, fillColor=fill))
        for i, v in enumerate(values):
            if v is not None:
                x, y = point(i, float(v))
                drawing.add(Circle(x, y, 2.4, fillColor=colour, strokeColor=colour))
    if legend:
        x = 10
        for name, _values, colour in series:
            drawing.add(PolyLine([x, 10, x + 18, 10], strokeColor=colour, strokeWidth=3))
            drawing.add(String(x + 23, 7, name, fontName=FONT, fontSize=8.5, fillColor=colors.HexColor("#1d2733")))
            x += 30 + pdfmetrics.stringWidth(name, FONT, 8.5) + 12
    return drawing


#: charts on pages are drawn this many units wide and shown at the width of their box (CSS: svg.fluid); at 360 px the box is
#: about 312 px wide, so text drawn at WEB_FONT units stays at least 12 px on a phone
WEB_WIDTH = 300
WEB_FONT = 12.5
INK = colors.HexColor("#1d2733")
MUTED_INK = colors.HexColor("#4a5866")


def _web_legend(drawing_items: list, series, y: float, width: float = WEB_WIDTH) -> float:
    """Legend entries (swatch and name) in rows from ``y`` downwards; returns the y below the last row."""
    x, row_h = 0.0, WEB_FONT + 6
    for name, _values, colour in series:
        entry = 18 + pdfmetrics.stringWidth(name, FONT, WEB_FONT) + 14
        if x > 0 and x + entry > width:
            x, y = 0.0, y - row_h
        drawing_items.append(Rect(x, y - 1, 13, 10, fillColor=colour, strokeColor=None))
        drawing_items.append(String(x + 18, y, name, fontName=FONT, fontSize=WEB_FONT, fillColor=INK))
        x += entry
    return y - row_h


def web_radar_drawing(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None], colors.Color]],
                      *, scale: Sequence[float] = LEVELS) -> Drawing:
    """The radar for a page: narrow enough for a phone, axes numbered, the numbered names listed under the chart.

    Every text is drawn at ``WEB_FONT`` units in a ``WEB_WIDTH``-unit drawing (readable at 360 px).
    """
    register_fonts()
    width, radius, n = WEB_WIDTH, 104.0, len(labels)
    names = [wrap_to_width(f"{i}. {label}", width - 4, WEB_FONT) for i, label in enumerate(labels, 1)]
    line_h = WEB_FONT + 3
    row_w = sum(18 + pdfmetrics.stringWidth(name, FONT, WEB_FONT) + 14 for name, _v, _c in series)
    legend_rows = max(1, int(row_w // width) + 1)
    list_h = sum(len(lines) for lines in names) * line_h + 6
    legend_h = legend_rows * (WEB_FONT + 6) + 6
    plot_h = 2 * radius + 2 * (WEB_FONT + 8)
    height = plot_h + legend_h + list_h
    drawing = Drawing(width, height)
    cx, cy = width / 2, height - plot_h / 2
    low, high = scale[0], scale[-1]
    centre = low - (scale[1] - scale[0] if len(scale) > 1 else 1)

    def point(i: int, value: float) -> tuple[float, float]:
        angle = math.pi / 2 - 2 * math.pi * i / n
        r = radius * (max(value, centre) - centre) / (high - centre)
        return cx + r * math.cos(angle), cy + r * math.sin(angle)

    for ring in scale:
        drawing.add(Polygon([c for i in range(n) for c in point(i, ring)], strokeColor=GRID_COLOUR, strokeWidth=0.8, fillColor=None))
    for i in range(n):
        x, y = point(i, high)
        drawing.add(Line(cx, cy, x, y, strokeColor=GRID_COLOUR, strokeWidth=0.8))
        lx, ly = point(i, high + (high - centre) * 0.1)
        anchor = "middle" if abs(lx - cx) < 8 else ("start" if lx > cx else "end")
        drawing.add(String(lx, ly - WEB_FONT * 0.35, str(i + 1), fontName=FONT, fontSize=WEB_FONT, textAnchor=anchor, fillColor=INK))
    for ring in scale[1::2] if len(scale) > 3 else scale:
        x, y = point(0, ring)
        drawing.add(String(x + 4, y - 4, f"{ring:g}", fontName=FONT, fontSize=WEB_FONT, fillColor=MUTED_INK))
    for _name, values, colour in series:
        pts = [c for i, v in enumerate(values) for c in point(i, float(v) if v is not None else centre)]
        drawing.add(Polygon(pts, strokeColor=colour, strokeWidth=2.2, fillColor=colors.Color(colour.red, colour.green, colour.blue, alpha=0.18)))
        for i, v in enumerate(values):
            if v is not None:
                x, y = point(i, float(v))
                drawing.add(Circle(x, y, 3, fillColor=colour, strokeColor=colour))
    items: list = []
    y = _web_legend(items, series, height - plot_h - WEB_FONT - 2)
    for item in items:
        drawing.add(item)
    for lines in names:
        for k, line in enumerate(lines):
            drawing.add(String(0 if k == 0 else 14, y, line, fontName=FONT, fontSize=WEB_FONT, fillColor=INK))
            y -= line_h
    return drawing


def web_grouped_bars_drawing(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None], colors.Color]],
                             *, low: float = 0, high: float = 5, lang: str = "en") -> Drawing:
    """Grouped bars for a page: each label on its own lines above its bars (one per series, None = no bar),
    values at the bar ends, a legend on top and the scale below; every text at ``WEB_FONT`` units."""
    register_fonts()
    width, bar_h, line_h, gap = WEB_WIDTH, 12, WEB_FONT + 3, 8
    value_room = pdfmetrics.stringWidth(_fmt(high, 2, lang), FONT, WEB_FONT) + 6
    wrapped = [wrap_to_width(label, width, WEB_FONT) for label in labels]
    row_w = sum(18 + pdfmetrics.stringWidth(name, FONT, WEB_FONT) + 14 for name, _v, _c in series)
    legend_h = max(1, int(row_w // width) + 1) * (WEB_FONT + 6) + 4
    groups = [len(lines) * line_h + len(series) * (bar_h + 2) + gap for lines in wrapped]
    axis_h = WEB_FONT + 6
    height = legend_h + sum(groups) + axis_h
    drawing = Drawing(width, height)
    left, plot = 2.0, width - 2 - value_room

    def x_of(v: float) -> float:
        return left + plot * (v - low) / (high - low)

    for tick in range(int(low), int(high) + 1):
        drawing.add(Line(x_of(tick), axis_h, x_of(tick), height - legend_h, strokeColor=GRID_COLOUR, strokeWidth=0.5))
        anchor = "start" if tick == low else "middle"
        drawing.add(String(x_of(tick), 3, str(tick), fontName=FONT, fontSize=WEB_FONT, textAnchor=anchor, fillColor=MUTED_INK))
    items: list = []
    _web_legend(items, series, height - WEB_FONT)
    for item in items:
        drawing.add(item)
    top = height - legend_h
    for i, lines in enumerate(wrapped):
        y = top
        for line in lines:
            y -= line_h
            drawing.add(String(0, y + 3, line, fontName=FONT, fontSize=WEB_FONT, fillColor=INK))
        for _name, values, colour in series:
            y -= bar_h + 2
            v = values[i]
            if v is not None:
                drawing.add(Rect(x_of(low), y, max(0.5, x_of(float(v)) - x_of(low)), bar_h, fillColor=colour, strokeColor=None))
                drawing.add(String(x_of(float(v)) + 3, y + 1.5, _fmt(float(v), 2, lang), fontName=FONT, fontSize=WEB_FONT, fillColor=INK))
        top -= groups[i]
    return drawing


def assessment_radar(rubric: Rubric, answers: Mapping[str, CriterionAnswer], lang: str, labels: tuple[str, str], size: float = 340) -> Drawing:
    """Current dimension scores against the mean target per dimension."""
    scores = score_rubric(rubric, answers)
    targets = target_profile(rubric, answers)
    current = [_as_float(scores.dimensions[d.id].score) for d in rubric.dimensions]
    target = [_as_float(targets[d.id]) for d in rubric.dimensions]
    return radar_drawing([d.name(lang) for d in rubric.dimensions],
                         [(labels[0], current, CURRENT_COLOUR), (labels[1], target, TARGET_COLOUR)], size=size)


def _fmt(value: float, places: int, lang: str) -> str:
    """A number for chart labels, formatted for the language (2,67 in es and pt; 2.67 in en)."""
    from babel.numbers import format_decimal

    return format_decimal(value, format="#,##0." + "0" * places if places else "#,##0", locale=lang)


def _as_float(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


_svg_counter = itertools.count(1)
_ID_MARK = "\x00svgid\x00"


def _svg_markup(drawing: Drawing, title: str = "") -> str:
    """The drawing as an <svg> element whose element ids end with a mark, replaced per page by ``_unique_ids``."""
    svg = renderSVG.drawToString(drawing)
    svg = svg[svg.index("<svg"):]
    svg = svg.replace("<svg ", '<svg role="img" class="chart" ', 1)
    svg = svg.replace("<title>...</title>", f"<title>{escape(title)}</title>" if title else "", 1)
    svg = svg.replace("<desc>...</desc>", "", 1)
    svg = svg.replace('id="clip"', f'id="clip{_ID_MARK}"').replace("url(#clip)", f"url(#clip{_ID_MARK})")
    svg = svg.replace('id="group"', f'id="group{_ID_MARK}"')
    return svg.replace("font-family: Vera", "font-family: Vera, 'DejaVu Sans', Arial, sans-serif")


def _unique_ids(svg: str) -> str:
    return svg.replace(_ID_MARK, str(next(_svg_counter)))


def to_svg(drawing: Drawing, title: str = "") -> str:
    """The drawing as an inline <svg> element: no XML prolog, a title for screen readers, ids unique
    per page, and a sans-serif fallback where the browser lacks the PDF's font."""
    return _unique_ids(_svg_markup(drawing, title))


class SvgCache:
    """Charts drawn once per content: SVG markup by a hash of everything that shapes the drawing (kind, labels,
    values, colours, language, title), least recently used dropped beyond ``size`` entries. Thread-safe; per process."""

    def __init__(self, size: int = 512):
        self.size = size
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(*content) -> str:
        return hashlib.sha256(repr(content).encode()).hexdigest()

    def svg(self, content: tuple, draw: Callable[[], Drawing], title: str = "") -> str:
        """The chart for ``content`` (a tuple of plain values that determine the drawing), drawn by ``draw`` on a miss."""
        key = self.key(content, title)
        with self._lock:
            markup = self._items.get(key)
            if markup is not None:
                self._items.move_to_end(key)
                self.hits += 1
        if markup is None:
            markup = _svg_markup(draw(), title).replace('class="chart"', 'class="chart fluid"', 1)
            with self._lock:
                self.misses += 1
                self._items[key] = markup
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return _unique_ids(markup)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0


#: the charts of the web pages (the PDFs draw their own)
svg_cache = SvgCache()


def _colour_key(colour: colors.Color) -> str:
    return colour.hexval()


def radar_svg(rubric: Rubric, answers: Mapping[str, CriterionAnswer], lang: str) -> str:
    """The results page's radar (current against target), drawn once per content."""
    from flask_babel import gettext as _

    labels = (_("Current"), _("Target"))
    title = _("Radar chart of the dimension scores, current against target")
    scores = score_rubric(rubric, answers)
    targets = target_profile(rubric, answers)
    names = tuple(d.name(lang) for d in rubric.dimensions)
    current = tuple(_as_float(scores.dimensions[d.id].score) for d in rubric.dimensions)
    target = tuple(_as_float(targets[d.id]) for d in rubric.dimensions)
    content = ("radar-web", names, labels, current, target)
    return svg_cache.svg(content, lambda: web_radar_drawing(list(names), [(labels[0], current, CURRENT_COLOUR),
                                                                          (labels[1], target, TARGET_COLOUR)]), title)


def grouped_bars_svg(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None], colors.Color]], *,
                     lang: str, title: str) -> str:
    """Grouped bars for a page, drawn once per content (labels, series, values, colours, language, title)."""
    labels = tuple(labels)
    series = tuple((name, tuple(_as_float(v) if isinstance(v, Decimal) else v for v in values), colour)
                   for name, values, colour in series)
    content = ("bars-web", labels, tuple((name, values, _colour_key(colour)) for name, values, colour in series), lang)
    return svg_cache.svg(content, lambda: web_grouped_bars_drawing(labels, series, lang=lang), title)


PROVIDER_SCALE_RINGS = (25, 50, 75, 100)


def provider_profile_drawing(instrument, scores, medians, lang: str, labels: tuple[str, str], size: float = 340) -> Drawing:
    """A provider's seven category scores (0..100) against its country's median."""
    names = [cat.name(lang) for cat in instrument.categories]
    mine = [_as_float(scores.get(cat.id)) for cat in instrument.categories]
    median = [_as_float(medians.get(cat.id)) for cat in instrument.categories]
    return radar_drawing(names, [(labels[1], median, TARGET_COLOUR), (labels[0], mine, CURRENT_COLOUR)],
                         size=size, scale=PROVIDER_SCALE_RINGS, origin=0)


def provider_profile_svg(instrument, scores, medians, lang: str, labels: tuple[str, str]) -> str:
    """The profile radar for a page: the phone-sized radar (numbered axes, names listed below, text at
    ``WEB_FONT``), drawn once per content."""
    names = tuple(cat.name(lang) for cat in instrument.categories)
    mine = tuple(_as_float(scores.get(cat.id)) for cat in instrument.categories)
    median = tuple(_as_float(medians.get(cat.id)) for cat in instrument.categories)
    series = [(labels[1], median, TARGET_COLOUR), (labels[0], mine, CURRENT_COLOUR)]
    content = ("provider-radar-web", names, tuple((name, values, _colour_key(colour)) for name, values, colour in series), lang)
    return svg_cache.svg(content, lambda: web_radar_drawing(names, series, scale=PROVIDER_SCALE_RINGS), f"{labels[0]} / {labels[1]}")


#: the comparison charts are drawn for print (text from 6.5 units); on a page they are shown at this
#: many px per unit, inside a box that scrolls, so their smallest text is at least 12 px on any screen
WIDE_SCALE = 1.9


def scaled(drawing: Drawing, factor: float) -> Drawing:
    """The same drawing ``factor`` times larger (text included)."""
    group = Group(*drawing.contents)
    group.transform = (factor, 0, 0, factor, 0, 0)
    bigger = Drawing(drawing.width * factor, drawing.height * factor)
    bigger.add(group)
    return bigger


def wide_svg(drawing: Drawing, title: str = "") -> str:
    """A print-sized chart for a page: enlarged by ``WIDE_SCALE`` and shown at its own size (CSS
    ``svg.chart.wide`` in a scrolling ``.chart-box``), never shrunk below readable text."""
    return to_svg(scaled(drawing, WIDE_SCALE), title).replace('class="chart"', 'class="chart wide"', 1)


def bar_drawing(rows: Sequence[tuple[str, float, bool]], *, width: float = 460, bar_height: float = 11, maximum: float = 100,
                legend: tuple[str, str] | None = None, lang: str = "en") -> Drawing:
    """Horizontal bars (label, value, highlighted); highlighted bars take the main colour."""
    register_fonts()
    label_width = 150
    top_pad = 16 if legend else 4
    height = top_pad + len(rows) * (bar_height + 4) + 16
    drawing = Drawing(width, height)
    plot = width - label_width - 40
    for tick in range(0, int(maximum) + 1, 25):
        x = label_width + plot * tick / maximum
        drawing.add(Line(x, 12, x, height - top_pad, strokeColor=GRID_COLOUR, strokeWidth=0.4))
        drawing.add(String(x, 3, str(tick), fontName=FONT, fontSize=6.5, textAnchor="middle", fillColor=colors.HexColor("#5c6b7a")))
    for i, (label, value, highlight) in enumerate(rows):
        y = height - top_pad - (i + 1) * (bar_height + 4)
        text = label if len(label) <= 34 else label[:33] + "…"
        drawing.add(String(label_width - 4, y + 2.5, text, fontName=FONT, fontSize=7, textAnchor="end", fillColor=colors.HexColor("#1d2733")))
        colour = CURRENT_COLOUR if highlight else colors.HexColor("#aab7c4")
        drawing.add(Rect(label_width, y, max(0.5, plot * value / maximum), bar_height, fillColor=colour, strokeColor=None))
        drawing.add(String(label_width + plot * value / maximum + 3, y + 2.5, _fmt(value, 1, lang), fontName=FONT, fontSize=6.5,
                           fillColor=colors.HexColor("#1d2733")))
    if legend:
        drawing.add(Rect(label_width, height - 10, 9, 7, fillColor=CURRENT_COLOUR, strokeColor=None))
        drawing.add(String(label_width + 12, height - 9, legend[0], fontName=FONT, fontSize=7))
        offset = label_width + 24 + pdfmetrics.stringWidth(legend[0], FONT, 7)
        drawing.add(Rect(offset, height - 10, 9, 7, fillColor=colors.HexColor("#aab7c4"), strokeColor=None))
        drawing.add(String(offset + 12, height - 9, legend[1], fontName=FONT, fontSize=7))
    return drawing


def _heat_colour(value: float, low: float = 1, high: float = 5) -> colors.Color:
    """Light to dark blue as the median rises from ``low`` to ``high``."""
    t = max(0.0, min(1.0, (value - low) / (high - low)))
    start, end = (0.93, 0.95, 0.98), (0.09, 0.30, 0.60)
    return colors.Color(*(a + (b - a) * t for a, b in zip(start, end, strict=False)))


def heatmap_drawing(rows: Sequence[str], columns: Sequence[str], values: dict[tuple[str, str], float | None],
                    *, suppressed_label: str = "<3", cell: float = 60, lang: str = "en", legend: tuple[str, str] | None = None) -> Drawing:
    """A rows × columns grid of medians (1..5); None cells are shown as suppressed.

    Column labels wrap within their column (the header grows to fit them).  ``legend`` is
    (scale title, meaning of a suppressed cell): with it a colour scale from 1 to 5 and a grey
    swatch are drawn under the grid.
    """
    register_fonts()
    label_width, row_height, line_h = 120, 22, 8
    heads = [wrap_to_width(column, cell - 6, 6.5, max_lines=7) for column in columns]
    header = max((len(h) for h in heads), default=1) * line_h + 8
    legend_h = 34 if legend else 0
    width = label_width + cell * len(columns) + 4
    height = header + row_height * len(rows) + 4 + legend_h
    drawing = Drawing(width, height)
    for j, lines in enumerate(heads):
        x = label_width + j * cell + cell / 2
        for k, line in enumerate(lines):
            drawing.add(String(x, height - 9 - k * line_h, line, fontName=FONT, fontSize=6.5, textAnchor="middle"))
    for i, row in enumerate(rows):
        y = height - header - (i + 1) * row_height
        label = wrap_to_width(row, label_width - 10, 8, max_lines=1)[0] if row else ""
        drawing.add(String(label_width - 6, y + row_height / 2 - 3, label, fontName=FONT, fontSize=8, textAnchor="end"))
        for j, column in enumerate(columns):
            value = values.get((row, column))
            x = label_width + j * cell
            fill = _heat_colour(value) if value is not None else colors.HexColor("#f1f3f5")
            drawing.add(Rect(x + 1, y + 1, cell - 2, row_height - 2, fillColor=fill, strokeColor=colors.white))
            text = _fmt(value, 2, lang) if value is not None else suppressed_label
            ink = colors.white if value is not None and value >= 3.2 else colors.HexColor("#1d2733")
            drawing.add(String(x + cell / 2, y + row_height / 2 - 3, text, fontName=FONT, fontSize=8, textAnchor="middle", fillColor=ink))
    if legend:
        title, suppressed_meaning = legend
        steps, step_w, x0, y0 = 16, 9, label_width, 10
        drawing.add(String(x0, y0 + 14, title, fontName=FONT, fontSize=7, fillColor=colors.HexColor("#1d2733")))
        for k in range(steps):
            drawing.add(Rect(x0 + k * step_w, y0, step_w, 8, fillColor=_heat_colour(1 + 4 * (k + 0.5) / steps), strokeColor=None))
        for level in range(1, 6):
            x = x0 + steps * step_w * (level - 1) / 4
            drawing.add(String(x, y0 - 8, str(level), fontName=FONT, fontSize=6.5, textAnchor="middle", fillColor=colors.HexColor("#4a5866")))
        sx = x0 + steps * step_w + 18
        drawing.add(Rect(sx, y0, 14, 8, fillColor=colors.HexColor("#f1f3f5"), strokeColor=colors.HexColor("#b8c2cc"), strokeWidth=0.4))
        drawing.add(String(sx + 18, y0 + 1, f"{suppressed_label}: {suppressed_meaning}", fontName=FONT, fontSize=7,
                           fillColor=colors.HexColor("#1d2733")))
    return drawing


def boxes_drawing(rows: Sequence[tuple[str, float | None, float | None, float | None, int]], *, low: float = 1, high: float = 5,
                  width: float = 420, suppressed_label: str = "<3") -> Drawing:
    """One horizontal box (q1, median, q3) per row (label, q1, median, q3, n) on the scale low..high."""
    register_fonts()
    label_width, row_height = 110, 16
    height = len(rows) * row_height + 20
    drawing = Drawing(width, height)
    plot = width - label_width - 50

    def x_of(value: float) -> float:
        return label_width + plot * (value - low) / (high - low)

    for tick in range(int(low), int(high) + 1):
        drawing.add(Line(x_of(tick), 12, x_of(tick), height, strokeColor=GRID_COLOUR, strokeWidth=0.4))
        drawing.add(String(x_of(tick), 2, str(tick), fontName=FONT, fontSize=7, textAnchor="middle", fillColor=colors.HexColor("#5c6b7a")))
    for i, (label, q1, median, q3, n) in enumerate(rows):
        y = height - (i + 1) * row_height
        drawing.add(String(label_width - 6, y + 3, label, fontName=FONT, fontSize=7.5, textAnchor="end"))
        if median is None:
            drawing.add(String(label_width + 4, y + 3, f"{suppressed_label} (n={n})", fontName=FONT, fontSize=7, fillColor=colors.HexColor("#5c6b7a")))
            continue
        drawing.add(Rect(x_of(q1), y, max(1.0, x_of(q3) - x_of(q1)), row_height - 5, fillColor=colors.HexColor("#c9d9ee"), strokeColor=CURRENT_COLOUR,
                         strokeWidth=0.8))
        drawing.add(Line(x_of(median), y - 1, x_of(median), y + row_height - 4, strokeColor=CURRENT_COLOUR, strokeWidth=2))
        drawing.add(String(width - 44, y + 3, f"n={n}", fontName=FONT, fontSize=7, fillColor=colors.HexColor("#5c6b7a")))
    return drawing


def _count_ticks(peak: int, most: int = 5) -> list[int]:
    """Whole-number ticks from 0 to at least ``peak`` in steps of 1, 2, 5, 10, 20, 50..., at most ``most`` steps."""
    peak = max(1, int(peak))
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if -(-peak // step) <= most:
                return list(range(0, -(-peak // step) * step + 1, step))
        magnitude *= 10


def histogram_drawing(edges: Sequence[float], counts: Sequence[int], *, width: float = 420, height: float = 150,
                      x_title: str = "", y_title: str = "", lang: str = "en") -> Drawing:
    """Vertical bars of counts per bin [edges[i], edges[i+1]), with whole-number count ticks and axis titles."""
    register_fonts()
    drawing = Drawing(width, height)
    left, bottom, top = 40 if y_title else 28, 30 if x_title else 18, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    ticks = _count_ticks(max(counts) if counts else 0)
    peak = ticks[-1]
    for value in ticks:
        y = bottom + plot_h * value / peak
        drawing.add(Line(left, y, width - 8, y, strokeColor=GRID_COLOUR, strokeWidth=0.4))
        drawing.add(String(left - 4, y - 3, _fmt(value, 0, lang), fontName=FONT, fontSize=7, textAnchor="end", fillColor=colors.HexColor("#5c6b7a")))
    low, high = float(edges[0]), float(edges[-1])
    span = (high - low) or 1.0

    def x_of(v: float) -> float:
        return left + plot_w * (float(v) - low) / span

    for i, count in enumerate(counts):
        x0, x1 = x_of(edges[i]), x_of(edges[i + 1])
        drawing.add(Rect(x0 + 1, bottom, max(0.5, x1 - x0 - 2), plot_h * count / peak, fillColor=CURRENT_COLOUR, strokeColor=None))
    for edge in edges:
        drawing.add(String(x_of(edge), bottom - 10, _fmt(float(edge), 0 if float(edge) == int(float(edge)) else 1, lang), fontName=FONT,
                           fontSize=7, textAnchor="middle", fillColor=colors.HexColor("#5c6b7a")))
    if x_title:
        drawing.add(String(left + plot_w / 2, 3, x_title, fontName=FONT, fontSize=7.5, textAnchor="middle", fillColor=colors.HexColor("#1d2733")))
    if y_title:
        group = Group(String(0, 0, y_title, fontName=FONT, fontSize=7.5, textAnchor="middle", fillColor=colors.HexColor("#1d2733")))
        group.transform = (0, 1, -1, 0, 10, bottom + plot_h / 2)
        drawing.add(group)
    return drawing


def grouped_bars_drawing(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None], colors.Color]],
                         *, low: float = 0, high: float = 5, width: float = 460, lang: str = "en") -> Drawing:
    """Horizontal grouped bars: per label one bar per series (None = no bar), with a legend.

    Labels wrap to as many lines as they need (the group grows), so no label is cut.
    """
    register_fonts()
    label_width, bar_h, line_h = 150, 7, 8
    wrapped = [wrap_to_width(label, label_width - 10, 7) for label in labels]
    heights = [max(bar_h * len(series), line_h * len(lines)) + 6 for lines in wrapped]
    height = 24 + sum(heights) + 14
    drawing = Drawing(width, height)
    plot = width - label_width - 40

    def x_of(v: float) -> float:
        return label_width + plot * (v - low) / (high - low)

    for tick in range(int(low), int(high) + 1):
        drawing.add(Line(x_of(tick), 12, x_of(tick), height - 22, strokeColor=GRID_COLOUR, strokeWidth=0.4))
        drawing.add(String(x_of(tick), 3, str(tick), fontName=FONT, fontSize=6.5, textAnchor="middle", fillColor=colors.HexColor("#5c6b7a")))
    top = height - 24
    for i, lines in enumerate(wrapped):
        for k, line in enumerate(lines):
            drawing.add(String(label_width - 6, top - 7 - k * line_h, line, fontName=FONT, fontSize=7, textAnchor="end"))
        for s, (_name, values, colour) in enumerate(series):
            v = values[i]
            y = top - (s + 1) * bar_h
            if v is not None:
                drawing.add(Rect(x_of(low), y, max(0.5, x_of(float(v)) - x_of(low)), bar_h - 1, fillColor=colour, strokeColor=None))
                drawing.add(String(x_of(float(v)) + 3, y + 1, _fmt(float(v), 2, lang), fontName=FONT, fontSize=6, fillColor=colors.HexColor("#1d2733")))
        top -= heights[i]
    x = label_width
    for name, _values, colour in series:
        drawing.add(Rect(x, height - 12, 9, 7, fillColor=colour, strokeColor=None))
        drawing.add(String(x + 12, height - 11, name, fontName=FONT, fontSize=7))
        x += 24 + pdfmetrics.stringWidth(name, FONT, 7)
    return drawing
