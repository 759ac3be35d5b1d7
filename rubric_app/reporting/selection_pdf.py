"""Selection round report and commitment letters (reportlab), in es, en or pt.

Text is drawn in the charts' font (Bitstream Vera), which has no Greek capital sigma: any character
the paragraph's font lacks but reportlab's standard ``Symbol`` font has (Σ) is drawn inline in
``Symbol`` (:func:`_markup`), so the scoring formula prints its Σ in every language. Table columns
are sized from their longest word (:func:`_column_widths`), so headers never break inside a word.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from datetime import date
from decimal import Decimal
from typing import Mapping, Sequence
from xml.sax.saxutils import escape

from babel.dates import format_date
from babel.numbers import format_decimal
from flask_babel import force_locale
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import CondPageBreak, HRFlowable, Image, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..domain.instruments import ProviderInstrument
from ..domain.letters import LetterTemplate
from ..domain.letters import fill as tpl_fill
from ..i18n import country_name
from .charts import FONT, FONT_BOLD, bar_drawing, register_fonts


@dataclass(frozen=True)
class RoundInfo:
    """What the documents print about a round (gathered by the service layer)."""

    id: int
    name: str
    status: str
    run_date: date
    settings: dict
    instrument: ProviderInstrument
    #: final results (overrides applied), each a dict as in services.selection.final_results
    rows: Sequence[dict]


def _styles() -> dict[str, ParagraphStyle]:
    register_fonts()
    base = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=base["BodyText"], fontName=FONT, fontSize=9.5, leading=12.5)
    return {
        "body": body,
        "cell": ParagraphStyle("cell", parent=body, fontSize=7.5, leading=9),
        "head": ParagraphStyle("head", parent=body, fontSize=7.5, leading=9, splitLongWords=0),
        "right": ParagraphStyle("right", parent=body, fontSize=10, leading=13.5, alignment=2),
        "clause": ParagraphStyle("clause", parent=body, fontSize=9.5, leading=12.5, spaceAfter=3.5, alignment=4),
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#4a5866")),
        "title": ParagraphStyle("title", parent=body, fontName=FONT_BOLD, fontSize=19, leading=24, spaceAfter=8),
        "h1": ParagraphStyle("h1", parent=body, fontName=FONT_BOLD, fontSize=14, leading=18, spaceBefore=6, spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=body, fontName=FONT_BOLD, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4),
        "letter": ParagraphStyle("letter", parent=body, fontSize=10, leading=13.5, spaceAfter=4.5),
    }


#: the standard PDF font that has the Greek and mathematical signs Vera lacks (no embedding needed)
SYMBOL_FONT = "Symbol"


@lru_cache(maxsize=None)
def _in_symbol(char: str) -> bool:
    """Whether the standard Symbol font can draw ``char`` (its encoding has it)."""
    from reportlab.pdfbase.rl_codecs import RL_Codecs

    RL_Codecs.register()
    try:
        char.encode("symbol")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def has_glyph(font_name: str, char: str) -> bool:
    """Whether ``font_name`` (a registered TrueType font, or a standard one) can draw ``char``."""
    font = pdfmetrics.getFont(font_name)
    face = getattr(font, "face", None)
    if face is not None and hasattr(face, "charToGlyph"):
        return ord(char) in face.charToGlyph
    if font_name == SYMBOL_FONT:
        return _in_symbol(char)
    return True


def _markup(text: str, font_name: str) -> str:
    """``text`` escaped for a Paragraph; characters ``font_name`` lacks but Symbol has are drawn in Symbol."""
    out = []
    for char in text:
        if char == "\n":
            out.append("<br/>")
        elif ord(char) > 127 and not has_glyph(font_name, char) and _in_symbol(char):
            out.append(f'<font name="{SYMBOL_FONT}">{escape(char)}</font>')
        else:
            out.append(escape(char))
    return "".join(out)


def _p(text, style) -> Paragraph:
    """A paragraph printing ``text`` literally (markup characters are escaped); 0 prints as 0, None as nothing."""
    return Paragraph(_markup("" if text is None else str(text), style.fontName), style)


#: horizontal padding of table cells (each side)
CELL_PAD = 3


def _column_widths(columns: Sequence[Sequence], total: float, flex: int, font: str = FONT, size: float = 7.5,
                   cap: float = 34 * mm, minimum: Mapping[int, float] | None = None) -> list[float]:
    """Column widths for a table of ``total`` width: every column but ``flex`` as wide as its longest
    word (header or value, at most ``cap``), ``flex`` takes the rest. ``columns`` holds each column's texts."""
    def word_width(text) -> float:
        words = str("" if text is None else text).split() or [""]
        return max(pdfmetrics.stringWidth(w, font, size) for w in words) + 2 * CELL_PAD + 1.5

    widths = [max((minimum or {}).get(j, 0), min(cap, max(word_width(t) for t in texts))) if j != flex else 0
              for j, texts in enumerate(columns)]
    widths[flex] = max(total - sum(widths), 30 * mm)
    if sum(widths) > total:  # too many wide columns: shrink the fixed ones in proportion (never happens at A4)
        scale = (total - widths[flex]) / (sum(widths) - widths[flex])
        widths = [w if j == flex else w * scale for j, w in enumerate(widths)]
    return widths


def _num(value, lang: str, places: int = 1) -> str:
    if value in (None, ""):
        return "—"
    return format_decimal(Decimal(str(value)), format="#,##0." + "0" * places, locale=lang)


GRID = TableStyle([
    ("FONT", (0, 0), (-1, -1), FONT, 7.5),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
    ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#b8c2cc")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LEFTPADDING", (0, 0), (-1, -1), CELL_PAD),
    ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PAD),
])
#: the text width of the report's pages (A4, 20 mm margins)
REPORT_WIDTH = A4[0] - 40 * mm


def _grid(header: Sequence[str], rows: Sequence[Sequence], st: dict, flex: int, minimum: Mapping[int, float] | None = None) -> Table:
    """A grid table whose columns fit their longest word, ``flex`` (a name) taking the rest; the header repeats."""
    columns = [[h] + [r[j] for r in rows] for j, h in enumerate(header)]
    widths = _column_widths(columns, REPORT_WIDTH, flex, minimum=minimum)
    data = [[_p(h, st["head"]) for h in header]] + [[_p(v, st["cell"]) for v in r] for r in rows]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(GRID)
    return table


def exclusion_text(exclusion: dict, instrument: ProviderInstrument, lang: str) -> str:
    """One reason a provider is not eligible, in the active language."""
    kind, subject = exclusion["kind"], exclusion["subject"]
    if kind == "knockout":
        fact = next((f for f in instrument.eligibility if f.id == subject), None)
        if fact is not None and fact.failed is not None:  # the instrument's negative reason ("has no staff available...")
            return _("Knock-out: %(fact)s", fact=fact.failed(lang))
        # definitions without one (1.0): the requirement, said to be unmet
        return _("Knock-out not met: %(fact)s", fact=fact.text(lang) if fact else subject)
    name = next((c.name(lang) for c in instrument.categories if c.id == subject), subject)
    if kind == "min_score":
        value, required = exclusion.get("value"), exclusion.get("required")
        places = max(1, *(-Decimal(str(v)).as_tuple().exponent for v in (value, required) if v not in (None, "")))
        return _("%(category)s: %(value)s below the minimum %(required)s", category=name,
                 value=_num(value, lang, places), required=_num(required, lang, places))
    return _("%(category)s: no item assessed", category=name)


def flag_text(flag: str | None) -> str:
    return {"robust": _("robust"), "borderline": _("borderline")}.get(flag or "", "—")


def _footer(label: str):
    def on_page(canvas, doc):
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#5c6b7a"))
        canvas.drawString(18 * mm, 10 * mm, label)
        canvas.drawRightString(A4[0] - 18 * mm, 10 * mm, _("Page %(number)d", number=doc.page))
        canvas.restoreState()

    return on_page


def build_round_report(info: RoundInfo, lang: str, output) -> None:
    with force_locale(lang):
        _round_report(info, lang, output)


def _round_report(info: RoundInfo, lang: str, output) -> None:
    st = _styles()
    inst, settings = info.instrument, info.settings
    story: list = [_p(_("IMESUN partner selection"), st["title"]), _p(info.name, st["h1"])]
    facts = [
        [_("Round"), f"#{info.id} · " + (_("frozen") if info.status == "frozen" else _("open"))],
        [_("Date"), format_date(info.run_date, format="long", locale=lang)],
        [_("Instrument"), f"{inst.id} {inst.version} · {inst.hash[:16]}"],
        [_("Providers assessed"), str(len(info.rows))],
        [_("Eligible"), str(sum(1 for r in info.rows if r["eligible"]))],
        [_("Selected"), str(sum(1 for r in info.rows if r["selected"]))],
    ]
    table = Table([[_p(k, st["cell"]), _p(v, st["cell"])] for k, v in facts], colWidths=[45 * mm, 125 * mm])
    table.setStyle(TableStyle([("LINEBELOW", (0, 0), (-1, -1), 0.3, colors.HexColor("#d4dbe2"))]))
    story += [table, Spacer(1, 4 * mm), _p(_("Method"), st["h2"])]
    for text in method_notes():
        story.append(_p("• " + text, st["body"]))

    story.append(_p(_("Weights and rules"), st["h2"]))
    story.append(_grid([_("Category"), _("Weight"), _("Minimum score")],
                       [[cat.name(lang), settings["weights"].get(cat.id, str(cat.weight)), settings["min_scores"].get(cat.id) or "—"]
                        for cat in inst.categories], st, flex=0))
    kos = [f.text(lang) for f in inst.eligibility if f.id in settings["knockouts"]]
    story.append(_p(_("Knock-outs: %(list)s", list="; ".join(kos) if kos else "—"), st["body"]))
    if settings["rule"] == "quota":
        quotas = ", ".join(f"{country_name(c, lang)} {k}" for c, k in sorted(settings["quotas"].items()))
        story.append(_p(_("Selection rule: the top %(k)s eligible providers per country", k=settings["default_quota"])
                        + (f" ({quotas})" if quotas else ""), st["body"]))
    else:
        story.append(_p(_("Selection rule: every eligible provider with a weighted total of at least %(t)s",
                          t=_num(settings["threshold"], lang)), st["body"]))
    story.append(_p(_("Sensitivity: %(draws)s draws, seed %(seed)s", draws=settings["draws"], seed=settings["seed"]), st["body"]))

    by_country: dict[str, list[dict]] = {}
    for row in info.rows:
        by_country.setdefault(row["country"], []).append(row)
    for country in sorted(by_country):
        group = by_country[country]
        eligible = sorted((r for r in group if r["eligible"]), key=lambda r: r["rank"])
        excluded = sorted((r for r in group if not r["eligible"]), key=lambda r: r["code"])
        story += [PageBreak(), _p(country_name(country, lang), st["h1"]),
                  _p(_("%(n)s providers, %(e)s eligible, %(s)s selected", n=len(group), e=len(eligible),
                       s=sum(1 for r in group if r["selected"])), st["small"])]
        top = eligible[:25]
        if top:
            story.append(bar_drawing([(f"{r['rank']}. {r['name']}", float(r["total"]), r["selected"]) for r in top],
                                     legend=(_("Selected"), _("Not selected")), lang=lang))
        rows = []
        for r in eligible:
            mark = _("yes") if r["selected"] else _("no")
            if r.get("override"):
                mark += " *"
            rows.append([r["rank"], r["code"], r["name"], _num(r["total"], lang), r["categories_at_least_50"], mark,
                         _num(r["frequency"], lang, 2), flag_text(r["flag"])])
        if rows:
            story.append(_grid([_("Rank"), _("Code"), _("Provider"), _("Total"), "≥50", _("Selected"), _("Frequency"), _("Stability")],
                               rows, st, flex=2))
            if any(r.get("override") for r in eligible):
                story.append(_p(_("* selected or not selected by a person against the rule (see Overrides)."), st["small"]))
        if excluded:
            story.append(CondPageBreak(30 * mm))
            story.append(_p(_("Not eligible"), st["h2"]))
            story.append(_grid([_("Code"), _("Provider"), _("Reasons")],
                               [[r["code"], r["name"], "; ".join(exclusion_text(e, inst, lang) for e in r["exclusions"])] for r in excluded],
                               st, flex=2, minimum={1: 55 * mm}))

    story += [PageBreak(), _p(_("Sensitivity of the selection"), st["h1"])]
    if settings["draws"]:
        # only eligible providers have a stability: the weights cannot select an ineligible one
        robust = sum(1 for r in info.rows if r["eligible"] and r["flag"] == "robust")
        borderline = [r for r in info.rows if r["eligible"] and r["flag"] == "borderline"]
        story.append(_p(_("Every weight was multiplied by a factor drawn uniformly from [0.8, 1.2] in %(draws)s draws (seed %(seed)s). "
                          "A provider is robust when it is selected in at least 90%% or at most 10%% of the draws.",
                          draws=settings["draws"], seed=settings["seed"]), st["body"]))
        story.append(_p(_("%(robust)s robust, %(borderline)s borderline.", robust=robust, borderline=len(borderline)), st["body"]))
        if borderline:
            rows = [[r["country"], r["code"], r["name"], _("yes") if r["selected"] else _("no"), _num(r["frequency"], lang, 2)]
                    for r in sorted(borderline, key=lambda r: (r["country"], -float(r["frequency"] or 0)))]
            story.append(_grid([_("Country"), _("Code"), _("Provider"), _("Selected"), _("Frequency")], rows, st, flex=2))
    else:
        story.append(_p(_("No sensitivity analysis was run for this round."), st["body"]))

    story.append(_p(_("Overrides"), st["h1"]))
    overridden = [r for r in info.rows if r.get("override")]
    if not overridden:
        story.append(_p(_("No selection was overridden."), st["body"]))
    else:
        # one short table, then each rationale as its own paragraph: a rationale may run to pages, and
        # a table row cannot be split across pages
        rows = [[r["code"], r["name"], _("selected") if r["selected_by_rule"] else _("not selected"),
                 _("selected") if r["override"]["selected"] else _("not selected")] for r in overridden]
        story.append(_grid([_("Code"), _("Provider"), _("By the rule"), _("Decision")], rows, st, flex=1))
        story.append(_p(_("Rationale"), st["h2"]))
        for r in overridden:
            story.append(_p(f"{r['code']}: {r['override']['rationale']}", st["body"]))

    doc = SimpleDocTemplate(output, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm, bottomMargin=18 * mm,
                            title=_("IMESUN partner selection") + f" — {info.name}", author="rubric", invariant=1, lang=lang)
    footer = _footer(_("IMESUN partner selection") + f" · #{info.id} · {inst.id} {inst.version}")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


def method_notes() -> list[str]:
    return [
        _("Each item is scored 0 (none), 1 (occasional), 2 (regular), 3 (regular and adapted to women migrants and refugees) or 4 (as 3, with evaluated results)."),
        _("Category score = mean item score / 4 × 100. Weighted total = Σ weight × category score / Σ weights."),
        _("Providers failing a knock-out, below a minimum category score or with a category without any assessed item are not eligible; every reason is listed."),
        _("Eligible providers are ranked per country by weighted total; ties go to the provider with more categories scoring at least 50, then to the lower provider code."),
    ]


@dataclass(frozen=True)
class Office:
    """The issuing office, in the letter's language (from the instance configuration)."""

    name: str
    address: str = ""
    city: str = ""
    #: ISO 3166-1 alpha-2 code of the office's country ("" to leave it out)
    country: str = ""
    signatory_name: str = ""
    signatory_title: str = ""
    #: path of a PNG or JPEG logo; None or a missing file: no logo
    logo: str | None = None


@dataclass(frozen=True)
class LetterInfo:
    round_id: int
    round_name: str
    provider: dict
    instrument: ProviderInstrument
    letter_date: date
    template: LetterTemplate
    office: Office
    #: the round's term and targets: letter_months, courses_per_year, women_share, facilitators
    terms: Mapping[str, int]
    reference: str


def build_letter(info: LetterInfo, lang: str, output) -> None:
    with force_locale(lang):
        _letter(info, lang, output)


#: the letters' text width (A4, 25 mm margins)
LETTER_WIDTH = A4[0] - 50 * mm


def _logo(path: str | None):
    """The office logo scaled to 18 mm high (at most 60 mm wide), or None when there is none or it cannot be read."""
    if not path or not os.path.isfile(path):
        return None
    try:
        from reportlab.lib.utils import ImageReader

        width, height = ImageReader(path).getSize()
    except Exception:  # noqa: BLE001 - a broken logo must not stop the letter
        return None
    if not width or not height:
        return None
    h = 18 * mm
    w = min(60 * mm, h * width / height)
    return Image(path, width=w, height=w * height / width)


def _letter(info: LetterInfo, lang: str, output) -> None:
    st = _styles()
    p, tpl, office, terms = info.provider, info.template, info.office, info.terms
    representative = (p.get("legal_representative") or "").strip()
    position = (p.get("legal_representative_position") or "").strip()
    values = {"provider": p["name"], "round": info.round_name, "representative": representative, "months": terms["letter_months"],
              "courses_per_year": terms["courses_per_year"], "women_share": terms["women_share"], "facilitators": terms["facilitators"],
              "issuer": office.name}

    def text(name: str) -> str:
        return tpl.text(name, lang, **values)

    # letterhead: logo, issuing office, address
    head = [_p(office.name, st["h2"])]
    office_place = ", ".join(x for x in (office.address, office.city, country_name(office.country, lang) if office.country else "") if x)
    if office_place:
        head.append(_p(office_place, st["small"]))
    logo = _logo(office.logo)
    if logo is not None:
        letterhead = Table([[logo, head]], colWidths=[logo.drawWidth + 4 * mm, LETTER_WIDTH - logo.drawWidth - 4 * mm])
        letterhead.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
        story: list = [letterhead]
    else:
        story = list(head)
    place_date = ", ".join(x for x in (office.city, format_date(info.letter_date, format="long", locale=lang)) if x)
    story += [
        Spacer(1, 5 * mm),
        _p(_("Ref.: %(reference)s", reference=info.reference), st["right"]),
        _p(place_date, st["right"]),
        Spacer(1, 5 * mm),
    ]
    # the addressee
    if representative:
        story.append(_p(representative, st["letter"]))
    if position:
        story.append(_p(position, st["letter"]))
    story += [_p(p["name"], st["h2"]), _p(", ".join(x for x in (p.get("city"), country_name(p["country"], lang)) if x), st["letter"])]
    if p.get("contact_name") and p.get("contact_name") != representative:
        story.append(_p(_("Attention: %(name)s", name=p["contact_name"]), st["letter"]))
    story += [
        Spacer(1, 5 * mm),
        _p(tpl.text("title", lang), st["title"]),
        _p(_("Selection round: %(name)s · provider code %(code)s", name=info.round_name, code=p["code"]), st["small"]),
        Spacer(1, 4 * mm),
        _p(text("salutation") if representative else text("salutation_no_name"), st["letter"]),
        _p(text("introduction"), st["clause"]),
        _p(text("term"), st["clause"]),
        _p(text("targets_heading"), st["h2"]),
    ]
    for number, target in enumerate(tpl.targets, start=1):
        story.append(_p(f"{number}. {tpl_fill(target.text(lang), values)}", st["clause"]))
    story.append(_p(text("institution_heading"), st["h2"]))
    for number, commitment in enumerate(info.instrument.commitments, start=1):
        line = f"{number}. {commitment.text(lang)}"
        note = commitment.country_note(p["country"])  # country-specific examples, for that country only
        if note is not None:
            line += " " + note(lang)
        story.append(_p(line, st["clause"]))
    story.append(_p(text("ilo_heading"), st["h2"]))
    for number, commitment in enumerate(tpl.ilo_commitments, start=1):
        story.append(_p(f"{number}. {tpl_fill(commitment.text(lang), values)}", st["clause"]))
    story.append(_p(text("clauses_heading"), st["h2"]))
    for number, clause in enumerate(tpl.clauses, start=1):
        title = tpl_fill(clause.title(lang), values) if clause.title is not None else ""
        body = _markup(tpl_fill(clause.text(lang), values), st["clause"].fontName)
        head_markup = f"<b>{_markup(f'{number}. {title}.', st['clause'].fontName)}</b> " if title else f"{number}. "
        story.append(Paragraph(head_markup.replace("<b>", f'<font name="{FONT_BOLD}">').replace("</b>", "</font>") + body, st["clause"]))
    story += [Spacer(1, 3 * mm), _p(text("acceptance"), st["clause"]), Spacer(1, 2 * mm), _p(text("closing"), st["letter"]),
              Spacer(1, 8 * mm)]

    def side(heading: str, name: str, title: str, body: str) -> list:
        return [_p(heading, st["body"]), Spacer(1, 16 * mm), HRFlowable(width="92%", thickness=0.6, color=colors.black, hAlign="LEFT"),
                _p(_("Signature"), st["small"]),
                _p(name or (_("Name and position") + ":"), st["body"]), _p(title, st["small"]), _p(body, st["small"]),
                _p(_("Date") + ":", st["small"])]

    left = side(_("For the institution"), representative, position, p["name"])
    right = side(_("For the ILO Lazos project"), office.signatory_name, office.signatory_title, office.name)
    sig = Table([[left, "", right]], colWidths=[(LETTER_WIDTH - 12 * mm) / 2, 12 * mm, (LETTER_WIDTH - 12 * mm) / 2])
    sig.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story.append(sig)
    doc = SimpleDocTemplate(output, pagesize=A4, leftMargin=25 * mm, rightMargin=25 * mm, topMargin=20 * mm, bottomMargin=20 * mm,
                            title=f"{tpl.text('title', lang)} — {p['name']}", author="rubric", invariant=1, lang=lang)
    footer = _footer(f"{info.reference} · {p['code']}")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
