"""Selection round report and commitment letters (reportlab), in es, en or pt."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Sequence
from xml.sax.saxutils import escape

from babel.dates import format_date
from babel.numbers import format_decimal
from flask_babel import force_locale
from flask_babel import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import CondPageBreak, KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from ..domain.instruments import ProviderInstrument
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
        "small": ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#4a5866")),
        "title": ParagraphStyle("title", parent=body, fontName=FONT_BOLD, fontSize=19, leading=24, spaceAfter=8),
        "h1": ParagraphStyle("h1", parent=body, fontName=FONT_BOLD, fontSize=14, leading=18, spaceBefore=6, spaceAfter=6),
        "h2": ParagraphStyle("h2", parent=body, fontName=FONT_BOLD, fontSize=11, leading=14, spaceBefore=8, spaceAfter=4),
        "letter": ParagraphStyle("letter", parent=body, fontSize=10, leading=13.5, spaceAfter=4.5),
    }


def _p(text, style) -> Paragraph:
    return Paragraph(escape(str(text or "")).replace("\n", "<br/>"), style)


def _num(value, lang: str, places: int = 1) -> str:
    if value in (None, ""):
        return "—"
    return format_decimal(Decimal(str(value)), format="#,##0." + "0" * places, locale=lang)


GRID = TableStyle([
    ("FONT", (0, 0), (-1, -1), FONT, 7.5),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
    ("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#b8c2cc")),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
])


def exclusion_text(exclusion: dict, instrument: ProviderInstrument, lang: str) -> str:
    """One reason a provider is not eligible, in the active language."""
    kind, subject = exclusion["kind"], exclusion["subject"]
    if kind == "knockout":
        fact = next((f for f in instrument.eligibility if f.id == subject), None)
        return _("Knock-out: %(fact)s", fact=fact.text(lang) if fact else subject)
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
    rows = [[_p(_("Category"), st["cell"]), _p(_("Weight"), st["cell"]), _p(_("Minimum score"), st["cell"])]]
    for cat in inst.categories:
        rows.append([_p(cat.name(lang), st["cell"]), _p(settings["weights"].get(cat.id, str(cat.weight)), st["cell"]),
                     _p(settings["min_scores"].get(cat.id) or "—", st["cell"])])
    table = Table(rows, colWidths=[90 * mm, 30 * mm, 40 * mm])
    table.setStyle(GRID)
    story.append(table)
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
        rows = [[_p(h, st["cell"]) for h in (_("Rank"), _("Code"), _("Provider"), _("Total"), "≥50", _("Selected"), _("Frequency"), _("Stability"))]]
        for r in eligible:
            mark = _("yes") if r["selected"] else _("no")
            if r.get("override"):
                mark += " *"
            rows.append([_p(v, st["cell"]) for v in (r["rank"], r["code"], r["name"], _num(r["total"], lang),
                                                     r["categories_at_least_50"], mark, _num(r["frequency"], lang, 2), flag_text(r["flag"]))])
        table = Table(rows, colWidths=[11 * mm, 24 * mm, 55 * mm, 14 * mm, 10 * mm, 17 * mm, 17 * mm, 22 * mm], repeatRows=1)
        table.setStyle(GRID)
        story.append(table)
        if excluded:
            story.append(CondPageBreak(30 * mm))
            story.append(_p(_("Not eligible"), st["h2"]))
            rows = [[_p(_("Code"), st["cell"]), _p(_("Provider"), st["cell"]), _p(_("Reasons"), st["cell"])]]
            for r in excluded:
                rows.append([_p(r["code"], st["cell"]), _p(r["name"], st["cell"]),
                             _p("; ".join(exclusion_text(e, inst, lang) for e in r["exclusions"]), st["cell"])])
            table = Table(rows, colWidths=[24 * mm, 60 * mm, 86 * mm], repeatRows=1)
            table.setStyle(GRID)
            story.append(table)

    story += [PageBreak(), _p(_("Sensitivity of the selection"), st["h1"])]
    if settings["draws"]:
        robust = sum(1 for r in info.rows if r["flag"] == "robust")
        borderline = [r for r in info.rows if r["flag"] == "borderline"]
        story.append(_p(_("Every weight was multiplied by a factor drawn uniformly from [0.8, 1.2] in %(draws)s draws (seed %(seed)s). "
                          "A provider is robust when it is selected in at least 90%% or at most 10%% of the draws.",
                          draws=settings["draws"], seed=settings["seed"]), st["body"]))
        story.append(_p(_("%(robust)s robust, %(borderline)s borderline.", robust=robust, borderline=len(borderline)), st["body"]))
        if borderline:
            rows = [[_p(h, st["cell"]) for h in (_("Country"), _("Code"), _("Provider"), _("Selected"), _("Frequency"))]]
            for r in sorted(borderline, key=lambda r: (r["country"], -float(r["frequency"] or 0))):
                rows.append([_p(v, st["cell"]) for v in (r["country"], r["code"], r["name"], _("yes") if r["selected"] else _("no"),
                                                         _num(r["frequency"], lang, 2))])
            table = Table(rows, colWidths=[18 * mm, 26 * mm, 80 * mm, 20 * mm, 24 * mm], repeatRows=1)
            table.setStyle(GRID)
            story.append(table)
    else:
        story.append(_p(_("No sensitivity analysis was run for this round."), st["body"]))

    story.append(_p(_("Overrides"), st["h1"]))
    overridden = [r for r in info.rows if r.get("override")]
    if not overridden:
        story.append(_p(_("No selection was overridden."), st["body"]))
    else:
        rows = [[_p(h, st["cell"]) for h in (_("Code"), _("Provider"), _("By the rule"), _("Decision"), _("Rationale"))]]
        for r in overridden:
            rows.append([_p(v, st["cell"]) for v in (r["code"], r["name"], _("selected") if r["selected_by_rule"] else _("not selected"),
                                                     _("selected") if r["override"]["selected"] else _("not selected"), r["override"]["rationale"])])
        table = Table(rows, colWidths=[22 * mm, 45 * mm, 22 * mm, 22 * mm, 59 * mm], repeatRows=1)
        table.setStyle(GRID)
        story.append(table)

    doc = SimpleDocTemplate(output, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm, bottomMargin=18 * mm,
                            title=f"{_('IMESUN partner selection')} — {info.name}", author="rubric", invariant=1, lang=lang)
    footer = _footer(f"{_('IMESUN partner selection')} · #{info.id} · {inst.id} {inst.version}")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


def method_notes() -> list[str]:
    return [
        _("Each item is scored 0 (none), 1 (occasional), 2 (regular), 3 (regular and adapted to women migrants and refugees) or 4 (as 3, with evaluated results)."),
        _("Category score = mean item score / 4 × 100. Weighted total = Σ weight × category score / Σ weights."),
        _("Providers failing a knock-out, below a minimum category score or with a category without any assessed item are not eligible; every reason is listed."),
        _("Eligible providers are ranked per country by weighted total; ties go to the provider with more categories scoring at least 50, then to the lower provider code."),
    ]


@dataclass(frozen=True)
class LetterInfo:
    round_id: int
    round_name: str
    provider: dict
    instrument: ProviderInstrument
    letter_date: date


def build_letter(info: LetterInfo, lang: str, output) -> None:
    with force_locale(lang):
        _letter(info, lang, output)


def _letter(info: LetterInfo, lang: str, output) -> None:
    st = _styles()
    p = info.provider
    place = ", ".join(x for x in (p.get("city"), country_name(p["country"], lang)) if x)
    story = [
        _p(_("International Labour Organization — Lazos project"), st["small"]),
        Spacer(1, 5 * mm),
        _p(format_date(info.letter_date, format="long", locale=lang), st["letter"]),
        Spacer(1, 4 * mm),
        _p(p["name"], st["h2"]),
        _p(place, st["letter"]),
    ]
    if p.get("contact_name"):
        story.append(_p(_("Attention: %(name)s", name=p["contact_name"]), st["letter"]))
    story += [
        Spacer(1, 6 * mm),
        _p(_("Commitment letter for the transfer of the IMESUN methodology"), st["title"]),
        _p(_("Selection round: %(name)s · provider code %(code)s", name=info.round_name, code=p["code"]), st["small"]),
        Spacer(1, 4 * mm),
        _p(_("%(provider)s has been selected to receive the IMESUN methodology (Start and Improve Your Business) of the "
             "International Labour Organization, and to offer it to migrant and refugee entrepreneurs and to host communities.",
             provider=p["name"]), st["letter"]),
        _p(_("By signing this letter, the institution undertakes the following responsibilities:"), st["letter"]),
    ]
    for number, commitment in enumerate(info.instrument.commitments, start=1):
        story.append(_p(f"{number}. {commitment.text(lang)}", st["letter"]))
    story += [
        Spacer(1, 4 * mm),
        _p(_("The ILO Lazos project will provide the methodology, the training of facilitators and technical follow-up during the transfer."),
           st["letter"]),
        Spacer(1, 10 * mm),
    ]
    sig = [[_p(_("For the institution"), st["body"]), "", _p(_("For the ILO Lazos project"), st["body"])],
           [Spacer(1, 16 * mm), "", Spacer(1, 16 * mm)],
           [_p(_("Signature"), st["small"]), "", _p(_("Signature"), st["small"])],
           [_p(_("Name and position") + ":", st["small"]), "", _p(_("Name and position") + ":", st["small"])],
           [_p(_("Date") + ":", st["small"]), "", _p(_("Date") + ":", st["small"])]]
    table = Table(sig, colWidths=[72 * mm, 16 * mm, 72 * mm])
    table.setStyle(TableStyle([("LINEABOVE", (0, 2), (0, 2), 0.6, colors.black), ("LINEABOVE", (2, 2), (2, 2), 0.6, colors.black),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story.append(KeepTogether([table]))
    doc = SimpleDocTemplate(output, pagesize=A4, leftMargin=25 * mm, rightMargin=25 * mm, topMargin=22 * mm, bottomMargin=20 * mm,
                            title=f"{_('Commitment letter for the transfer of the IMESUN methodology')} — {p['name']}", author="rubric",
                            invariant=1, lang=lang)
    footer = _footer(f"{p['code']} · #{info.round_id}")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
