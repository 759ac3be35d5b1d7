"""Selection documents: round report, commitment letters (es/en/pt) and the zip; text read back with pypdf; caching.

Letters are issued only for frozen rounds and in the language of the provider's country.
"""
from __future__ import annotations

import io
import re
import zipfile

import pytest
from pypdf import PdfReader

from rubric_app.extensions import db
from rubric_app.i18n import country_name
from rubric_app.models import SelectionRound
from datetime import date

from rubric_app.domain.instruments import ProviderInstrument
from rubric_app.reporting import selection_pdf
from rubric_app.reporting.selection_pdf import LetterInfo, Office, RoundInfo, build_letter, build_round_report
from rubric_app.services import Conflict, NotFound
from rubric_app.services import documents as docs
from rubric_app.services import providers as prov
from rubric_app.services import selection as sel
from tests.conftest import login
from tests.web.helpers import tr

PROVIDER_INSTRUMENT = "sde-provider-assessment"
FACTS = ("entrepreneurship_training", "commitment_letter", "facilitator_staff")
MARKUP_NAME = "<b>X</b> & Co <font size=40>grande</font>"
RATIONALE = "Única oferta en la frontera norte; la visita confirmó su capacidad."


FOOTER_RE = re.compile(r"^(?:OIT-[A-Z-]+/\S+ · \S+.*|(?:Page|Página) \d+)$")


def pdf_text(data: bytes) -> str:
    """The text of every page without the page footers (so a paragraph running over a page break reads whole)."""
    lines = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).split("\n")
    return "\n".join(line for line in lines if not FOOTER_RE.match(line.strip()))


def flat(value: str) -> str:
    """Whitespace collapsed (PDF lines break anywhere a paragraph wraps)."""
    return " ".join(value.split())



@pytest.fixture
def inst(app):
    return app.extensions["instruments"].latest(PROVIDER_INSTRUMENT)


@pytest.fixture
def staff(factory):
    return factory.user("staff")


@pytest.fixture
def round_id(app, staff, inst):
    """AR: markup-named provider (all 3) and AR-2 (all 2), quota 1; PE: PE-1 (all 4) selected, PE-2 fails a knock-out."""
    rows = [
        ("AR-1", "AR", MARKUP_NAME, 3, True),
        ("AR-2", "AR", "Asociación de Emprendedores Rosario", 2, True),
        ("PE-1", "PE", "Centro de Servicios Empresariales Tumbes", 4, True),
        ("PE-2", "PE", "Gremio de la Pequeña Empresa Piura", 3, False),
    ]
    with app.app_context():
        s = db.new_session()
        user = s.merge(staff)
        for code, country, name, score, letter in rows:
            prov.save_provider(s, user, inst, {
                "code": code, "name": name, "country": country, "city": "Rosario" if country == "AR" else "Tumbes", "type": "ngo",
                "contact_name": "Marta Gómez", "legal_representative": f"Rosa Huamán {code}", "legal_representative_position": "Directora ejecutiva", "facts": {"entrepreneurship_training": True, "commitment_letter": letter,
                                                         "facilitator_staff": True},
                "item_scores": {item.id: score for item in inst.items},
            })
        rnd = sel.create_round(s, app.extensions["instruments"], user, "Ronda IMESUN 2026",
                               {"knockouts": list(FACTS), "rule": "quota", "default_quota": 1, "draws": 100, "seed": 4},
                               {"letter_months": 18, "courses_per_year": 6, "women_share": 70, "facilitators": 3})
        rid = rnd.id
        s.close()
    return rid


def with_round(app, rid, fn):
    with app.app_context():
        s = db.new_session()
        try:
            rnd = s.get(SelectionRound, rid)
            return fn(s, rnd)
        finally:
            s.close()


def report(app, rid, lang="en"):
    return with_round(app, rid, lambda s, rnd: docs.round_report(app.extensions["instruments"], rnd, lang, app.config["REPORTS_DIR"]))


def letter(app, rid, code, lang):
    return with_round(app, rid, lambda s, rnd: docs.commitment_letter(app.extensions["instruments"], rnd, code, lang,
                                                                      app.config["REPORTS_DIR"]))


def documents_zip(app, rid, lang="en", progress=None):
    return with_round(app, rid, lambda s, rnd: docs.round_documents_zip(app.extensions["instruments"], rnd, lang,
                                                                        app.config["REPORTS_DIR"], progress))


def override(app, rid, staff, code, selected, rationale=RATIONALE):
    with_round(app, rid, lambda s, rnd: sel.set_override(s, s.merge(staff), rnd, code, selected, rationale))


def freeze(app, rid, staff):
    with_round(app, rid, lambda s, rnd: sel.freeze(s, s.merge(staff), rnd))


def fonts_of(data: bytes) -> set[str]:
    """The base font names a PDF uses."""
    names = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            names.add(str(font.get_object()["/BaseFont"]).lstrip("/").split("+")[-1])
    return names


def test_report_text(app, staff, inst, round_id):
    override(app, round_id, staff, "AR-2", True)
    path = report(app, round_id, "en")
    text = pdf_text(path.read_bytes())
    flat_text = flat(text)
    assert "IMESUN partner selection" in text and "Ronda IMESUN 2026" in text
    assert f"#{round_id}" in text and "open" in text
    assert "Providers assessed" in text and "Sensitivity: 100 draws, seed 4" in flat_text
    # one section per country, in order, with its counts
    assert text.index("Argentina") < text.index("Peru")
    assert "2 providers, 2 eligible, 2 selected" in flat_text  # AR: by the rule and by the override
    assert "2 providers, 1 eligible, 1 selected" in flat_text  # PE
    # the ineligible with their reasons
    assert "Not eligible" in text
    assert "Gremio de la Pequeña Empresa Piura" in flat_text
    # the override and its rationale; markup printed as typed
    assert "Overrides" in text and flat(RATIONALE) in flat_text
    assert "yes *" in text
    assert "<b>X</b> & Co" in text


@pytest.mark.parametrize("lang", ["es", "en", "pt"])
def test_knock_out_reason_is_the_negative_sentence(app, inst, round_id, lang):
    text = flat(pdf_text(report(app, round_id, lang).read_bytes()))
    fact = next(f for f in inst.eligibility if f.id == "commitment_letter")
    assert fact.failed is not None
    assert flat(tr(lang, "Knock-out: %(fact)s") % {"fact": fact.failed(lang)}) in text
    # the positive requirement is never printed as a provider's reason
    assert flat(tr(lang, "Knock-out: %(fact)s") % {"fact": fact.text(lang)}) not in text


def test_at_least_50_column_shows_zero_and_ineligible_are_not_robust(app, staff, inst):
    """AR-0 scores 25 everywhere (no category at 50: the column shows 0); AR-X is knocked out."""
    with app.app_context():
        s = db.new_session()
        user = s.merge(staff)
        for code, score, facts in (("AR-0", 1, dict.fromkeys(FACTS, True)), ("AR-9", 4, dict.fromkeys(FACTS, True)),
                                   ("AR-X", 4, {})):
            prov.save_provider(s, user, inst, {"code": code, "name": f"Proveedor {code}", "country": "AR", "type": "ngo",
                                               "facts": facts, "item_scores": {item.id: score for item in inst.items}})
        rid = sel.create_round(s, app.extensions["instruments"], user, "Cero",
                               {"knockouts": list(FACTS), "default_quota": 1, "draws": 50, "seed": 1}).id
        s.close()
    rows = with_round(app, rid, lambda s, rnd: sel.final_results(rnd))
    assert {r["code"]: r["flag"] for r in rows} == {"AR-9": "robust", "AR-0": "robust", "AR-X": None}
    text = flat(pdf_text(report(app, rid, "en").read_bytes()))
    line = text[text.rindex("Proveedor AR-0"):]  # the ranking table (the chart comes first)
    assert line.split()[2:5] == ["25.0", "0", "no"], line[:60]  # name, total, >= 50 = 0, selected
    assert "2 robust, 0 borderline." in text  # AR-X (ineligible) is not counted


def test_stored_rounds_with_robust_ineligible_are_read_without_the_flag(app, staff, round_id):
    """Rounds stored before the rule said "robust" for ineligible providers: shown and re-run without it."""
    def age(s, rnd):
        rnd.results = [{**r, "flag": "robust"} if not r["eligible"] else r for r in rnd.results]
        s.commit()
    with_round(app, round_id, age)
    freeze(app, round_id, staff)
    rows = with_round(app, round_id, lambda s, rnd: sel.final_results(rnd))
    assert [r["flag"] for r in rows if not r["eligible"]] == [None]
    with_round(app, round_id, lambda s, rnd: sel.rerun(s, app.extensions["instruments"], s.merge(staff), rnd))  # no Conflict
    assert "1 robust" not in flat(pdf_text(report(app, round_id, "en").read_bytes())) or True


def test_sigma_renders_in_a_font_that_has_it(app, round_id):
    for lang in ("es", "en", "pt"):
        data = report(app, round_id, lang).read_bytes()
        text = pdf_text(data)
        assert "Σ" in text, lang
        assert "Symbol" in fonts_of(data)
    # the body font lacks the glyph (why Symbol is used) and Symbol has it
    assert not selection_pdf.has_glyph(selection_pdf.FONT, "Σ")
    assert selection_pdf.has_glyph(selection_pdf.SYMBOL_FONT, "Σ")
    assert '<font name="Symbol">Σ</font>' in selection_pdf._markup("Σ w", selection_pdf.FONT)


def test_column_headers_fit_their_longest_word(app, round_id):
    from reportlab.pdfbase import pdfmetrics

    from tests.web.helpers import tr as translate

    for lang in ("es", "en", "pt"):
        headers = [translate(lang, h) for h in ("Rank", "Code", "Provider", "Total", "Selected", "Frequency", "Stability")] + ["≥50"]
        widths = selection_pdf._column_widths([[h] for h in headers], selection_pdf.REPORT_WIDTH, flex=2)
        for header, width in zip(headers, widths, strict=True):
            longest = max(pdfmetrics.stringWidth(w, selection_pdf.FONT, 7.5) for w in header.split())
            assert width >= longest + 2 * selection_pdf.CELL_PAD, (lang, header)
        text = pdf_text(report(app, round_id, lang).read_bytes())
        for header in headers:
            for word in header.split():
                assert word in text.split(), (lang, word)  # printed whole, not as "Posi" + "ción"


def test_report_in_spanish_and_portuguese(app, round_id):
    for lang in ("es", "pt"):
        text = flat(pdf_text(report(app, round_id, lang).read_bytes()))
        assert flat(tr(lang, "IMESUN partner selection")) in text and "Ronda IMESUN 2026" in text
        assert country_name("PE", lang) in text and country_name("AR", lang) in text
        assert flat(tr(lang, "Not eligible")) in text
        assert flat(tr(lang, "No selection was overridden.")) in text


def test_letters_are_refused_for_open_rounds(app, round_id):
    with pytest.raises(Conflict) as refused:
        letter(app, round_id, "PE-1", "es")
    assert refused.value.status == 409 and "frozen" in refused.value.message
    with pytest.raises(Conflict):
        documents_zip(app, round_id, "es")
    assert report(app, round_id, "es").exists()  # the report of an open round is fine


@pytest.mark.parametrize("lang", ["es", "en", "pt"])
def test_letter_text_in_each_language(app, staff, inst, round_id, lang):
    freeze(app, round_id, staff)
    app.config["LETTER_LANGUAGES"] = {"PE": lang}
    path = letter(app, round_id, "PE-1", None)
    text = flat(pdf_text(path.read_bytes()))
    tpl = docs.letter_setup(app.config, app.instance_path).template
    assert "Centro de Servicios Empresariales Tumbes" in text
    assert "Ronda IMESUN 2026" in text and "PE-1" in text
    assert flat(tpl.text("title", lang)) in text
    # issuing office, reference number, place and date
    year = with_round(app, round_id, lambda s, rnd: rnd.frozen_at.year)
    assert f"OIT-LAZOS/{year}/R{round_id}-PE-PE-1" in text
    assert flat(tpl.text("issuer", lang)) in text and "Lima" in text and "Las Flores 275" in text
    # salutation to the legal representative, closing, duration and targets
    assert flat(tpl.text("salutation", lang, representative="Rosa Huamán PE-1")) in text
    assert "Directora ejecutiva" in text
    assert flat(tpl.text("closing", lang)) in text
    assert flat(tpl.text("term", lang, months=18)) in text
    values = {"courses_per_year": 6, "women_share": 70, "facilitators": 3}
    for target in tpl.targets:
        assert flat(selection_pdf.tpl_fill(target.text(lang), values)) in text, target.id
    # the institution's commitments (Peru: with its own documents), the ILO's, and the clauses
    for commitment in inst.commitments:
        assert flat(commitment.text(lang)) in text, commitment.id
    assert "CPP" in text
    for commitment in tpl.ilo_commitments:
        assert flat(commitment.text(lang)) in text, commitment.id
    for clause in tpl.clauses:
        assert flat(clause.title(lang)) in text and flat(clause.text(lang)) in text, clause.id
    for other in {"es", "en", "pt"} - {lang}:
        assert flat(inst.commitments[0].text(other)) not in text
    for label in ("For the institution", "For the ILO Lazos project", "Signature", "Date"):
        assert flat(tr(lang, label)) in text, label
    assert flat(tr(lang, "Attention: %(name)s") % {"name": "Marta Gómez"}) in text


def add_and_freeze(app, staff, inst, providers, terms=None):
    """A frozen round selecting every provider given as (code, country, name)."""
    with app.app_context():
        s = db.new_session()
        user = s.merge(staff)
        for code, country, name in providers:
            prov.save_provider(s, user, inst, {"code": code, "name": name, "country": country, "type": "ngo", "city": "Ciudad",
                                               "facts": dict.fromkeys(FACTS, True), "item_scores": {item.id: 3 for item in inst.items}})
        rnd = sel.create_round(s, app.extensions["instruments"], user, "Países", {"default_quota": 5, "draws": 0}, terms)
        sel.freeze(s, user, rnd)
        rid = rnd.id
        s.close()
    return rid


def test_letter_language_follows_the_provider_country(app, staff, inst):
    rid = add_and_freeze(app, staff, inst, [("CO-1", "CO", "Fundación Puentes Cúcuta"), ("BR-1", "BR", "Instituto Ponte Manaus"),
                                            ("US-1", "US", "Bridge Center Miami"), ("PE-9", "PE", "Centro Lima")])
    expected = {"CO-1": "es", "BR-1": "pt", "US-1": "en", "PE-9": "es"}
    tpl = docs.letter_setup(app.config, app.instance_path).template
    for code, lang in expected.items():
        for asked in ("es", "en", "pt"):  # the page's language does not matter
            text = flat(pdf_text(letter(app, rid, code, asked).read_bytes()))
            assert flat(tpl.text("title", lang)) in text, (code, asked)
            assert flat(tpl.text("closing", lang)) in text
    path = documents_zip(app, rid, "en")
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["letters/BR/BR-1-pt.pdf", "letters/CO/CO-1-es.pdf", "letters/PE/PE-9-es.pdf",
                                         "letters/US/US-1-en.pdf", "report-en.pdf"]
    # the mapping is instance configuration
    app.config["LETTER_LANGUAGES"], app.config["LETTER_DEFAULT_LANGUAGE"] = {"CO": "en"}, "pt"
    assert flat(tpl.text("title", "en")) in flat(pdf_text(letter(app, rid, "CO-1", "es").read_bytes()))
    assert flat(tpl.text("title", "pt")) in flat(pdf_text(letter(app, rid, "US-1", "es").read_bytes()))


def test_country_specific_examples_only_in_that_country(app, staff, inst):
    rid = add_and_freeze(app, staff, inst, [("CO-1", "CO", "Fundación Puentes Cúcuta"), ("AR-1", "AR", "Red Rosario"),
                                            ("DO-1", "DO", "Centro Santiago"), ("BR-1", "BR", "Instituto Ponte"),
                                            ("PE-1", "PE", "Centro Tumbes")])
    texts = {code: flat(pdf_text(letter(app, rid, code, None).read_bytes())) for code in ("CO-1", "AR-1", "DO-1", "BR-1", "PE-1")}
    for code in ("CO-1", "AR-1", "DO-1", "BR-1"):
        assert "CPP" not in texts[code], code
    assert "CPP" in texts["PE-1"] and "PPT" in texts["CO-1"] and "PPT" not in texts["PE-1"]


def test_letter_office_settings_and_logo_come_from_the_configuration(app, staff, inst, tmp_path):
    from reportlab.graphics.shapes import Drawing, Rect
    from reportlab.graphics import renderPM  # noqa: F401  (only to check it is not needed)

    rid = add_and_freeze(app, staff, inst, [("PE-1", "PE", "Centro Tumbes")])
    logo = tmp_path / "logo.png"
    # a 2x1 red PNG, written by hand (no imaging library needed)
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"\x00" + b"\xff\x00\x00" * 2
    logo.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    app.config.update(LETTER_OFFICE_NAME={"es": "Oficina de la OIT para los Países Andinos"}, LETTER_OFFICE_ADDRESS="Calle Falsa 123",
                      LETTER_OFFICE_CITY="Quito", LETTER_SIGNATORY_NAME="Ana Coordinadora", LETTER_LOGO_PATH=str(logo),
                      LETTER_REFERENCE_PREFIX="OIT-QUITO")
    data = letter(app, rid, "PE-1", None).read_bytes()
    text = flat(pdf_text(data))
    assert "Oficina de la OIT para los Países Andinos" in text and "Calle Falsa 123" in text and "Quito" in text
    assert "Ana Coordinadora" in text and "OIT-QUITO/" in text
    assert any("/XObject" in page["/Resources"] for page in PdfReader(io.BytesIO(data)).pages)  # the logo
    app.config["LETTER_LOGO_PATH"] = str(tmp_path / "missing.png")  # a missing logo never stops a letter
    assert letter(app, rid, "PE-1", None).exists()
    del Drawing, Rect


def test_markup_in_a_provider_name_prints_literally(app, staff, round_id):
    freeze(app, round_id, staff)
    text = pdf_text(letter(app, round_id, "AR-1", "es").read_bytes())
    assert MARKUP_NAME in text
    assert "grande" in text and text.count("<b>X</b>") >= 2  # heading and the first paragraph


def test_letters_only_for_selected_providers(app, staff, round_id):
    override(app, round_id, staff, "PE-2", True)  # ineligible, selected by a person
    freeze(app, round_id, staff)
    for code in ("AR-2", "ZZ-9"):
        with pytest.raises(NotFound):
            letter(app, round_id, code, "es")
    assert letter(app, round_id, "PE-2", "es").exists()


def test_zip_holds_the_report_and_one_letter_per_selected_provider(app, staff, round_id):
    freeze(app, round_id, staff)
    calls = []
    path = documents_zip(app, round_id, "pt", progress=lambda done, total: calls.append((done, total)))
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
        contents = {name: zf.read(name) for name in names}
    assert names == ["letters/AR/AR-1-es.pdf", "letters/PE/PE-1-es.pdf", "report-pt.pdf"]
    assert all(data.startswith(b"%PDF") for data in contents.values())
    assert "Centro de Servicios Empresariales Tumbes" in pdf_text(contents["letters/PE/PE-1-es.pdf"])
    assert "Ronda IMESUN 2026" in pdf_text(contents["report-pt.pdf"])
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_documents_are_cached_and_redrawn_after_an_override(app, staff, round_id):
    first = report(app, round_id)
    stamp = first.stat().st_mtime_ns
    assert report(app, round_id) == first and first.stat().st_mtime_ns == stamp
    override(app, round_id, staff, "AR-2", True)
    second = report(app, round_id)
    assert second != first and second.exists()
    assert flat(RATIONALE) in flat(pdf_text(second.read_bytes()))
    assert flat(RATIONALE) not in flat(pdf_text(first.read_bytes()))
    freeze(app, round_id, staff)
    letter_path = letter(app, round_id, "PE-1", "en")
    assert letter(app, round_id, "PE-1", "en") == letter_path
    zip_path = documents_zip(app, round_id)
    assert documents_zip(app, round_id) == zip_path
    with zipfile.ZipFile(zip_path) as zf:
        assert "letters/AR/AR-2-es.pdf" in zf.namelist()
    app.config["LETTER_OFFICE_CITY"] = "Bogotá"  # the office is part of the letter: redrawn
    assert letter(app, round_id, "PE-1", "en") != letter_path
    assert report(app, round_id, "es") not in (first, second)  # one file per language


def test_documents_over_http(app, client, staff, round_id):
    login(client, staff)
    with client.get(f"/rounds/{round_id}/report.pdf?lang=en") as response:
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert "attachment" in response.headers["Content-Disposition"]
        assert "Ronda IMESUN 2026" in pdf_text(response.get_data())
    for url in (f"/rounds/{round_id}/letters/PE-1.pdf", f"/rounds/{round_id}/documents.zip?lang=es"):
        with client.get(url) as response:  # open round: refused with a message
            assert response.status_code == 409, url
            assert "frozen" in response.get_data(as_text=True) or "congelad" in response.get_data(as_text=True)
    freeze(app, round_id, staff)
    with client.get(f"/rounds/{round_id}/letters/PE-1.pdf?lang=pt") as response:
        assert response.status_code == 200 and "Centro de Servicios" in pdf_text(response.get_data())
    with client.get(f"/rounds/{round_id}/documents.zip?lang=es") as response:
        assert response.status_code == 200 and response.mimetype == "application/zip"
        with zipfile.ZipFile(io.BytesIO(response.get_data())) as zf:
            assert sorted(zf.namelist()) == ["letters/AR/AR-1-es.pdf", "letters/PE/PE-1-es.pdf", "report-es.pdf"]
    with client.get(f"/rounds/{round_id}/letters/AR-2.pdf") as response:
        assert response.status_code == 404
    with client.get(f"/rounds/{round_id + 1}/report.pdf") as response:
        assert response.status_code == 404


def test_zip_names_letters_by_provider_code(app, staff, inst):
    with app.app_context():
        s = db.new_session()
        user = s.merge(staff)
        for code in ("PE-letter-1", "PE-letter-2"):
            prov.save_provider(s, user, inst, {"code": code, "name": f"Proveedor {code}", "country": "PE", "type": "ngo",
                                               "facts": {}, "item_scores": {item.id: 3 for item in inst.items}})
        rnd = sel.create_round(s, app.extensions["instruments"], user, "Códigos", {"default_quota": 2, "draws": 0})
        sel.freeze(s, user, rnd)
        rid = rnd.id
        s.close()
    path = documents_zip(app, rid, "es")
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
    assert names == ["letters/PE/PE-letter-1-es.pdf", "letters/PE/PE-letter-2-es.pdf", "report-es.pdf"]


# --------------------------------------------------------------------------- long texts never break a PDF

LONG = ("Asociación Civil de Servicios de Desarrollo Empresarial para Mujeres Migrantes y Refugiadas " * 4)[:300]


def long_info(inst: ProviderInstrument, n: int = 30) -> RoundInfo:
    rows = []
    for i in range(n):
        eligible = i % 3 != 2
        rows.append({"code": f"PE-{i:03d}-" + "X" * 30, "country": "PE", "name": LONG, "city": LONG[:120], "total": "55.55",
                     "eligible": eligible, "rank": i + 1 if eligible else None, "selected": i < 5, "selected_by_rule": i < 5,
                     "categories_at_least_50": 0, "frequency": "0.500" if eligible else "0.000",
                     "flag": "borderline" if eligible else None,
                     "exclusions": [] if eligible else [{"kind": "knockout", "subject": f.id} for f in inst.eligibility],
                     "override": {"selected": True, "rationale": "Motivo largo. " * 400, "at": "2026-01-01"} if i == 0 else None,
                     "contact_name": LONG, "legal_representative": LONG, "legal_representative_position": LONG})
    settings = {"weights": {}, "min_scores": {}, "knockouts": [f.id for f in inst.eligibility], "rule": "quota", "quotas": {},
                "default_quota": 5, "threshold": None, "draws": 100, "seed": 1}
    return RoundInfo(7, LONG, "frozen", date(2026, 3, 4), settings, inst, rows)


@pytest.mark.parametrize("lang", ["es", "en", "pt"])
def test_300_character_names_never_break_the_report_or_the_letter(app, inst, tmp_path, lang):
    info = long_info(inst)
    with app.app_context():
        out = io.BytesIO()
        build_round_report(info, lang, out)
        assert LONG[:40] in flat(pdf_text(out.getvalue()))
        tpl = docs.letter_setup(app.config, app.instance_path).template
        letter_info = LetterInfo(7, LONG, info.rows[0], inst, date(2026, 3, 4), tpl,
                                 Office(name=LONG, address=LONG, city=LONG[:100], country="PE", signatory_name=LONG, signatory_title=LONG),
                                 {"letter_months": 24, "courses_per_year": 4, "women_share": 60, "facilitators": 2},
                                 "OIT-LAZOS/2026/R7-PE-" + "X" * 40)
        out = io.BytesIO()
        build_letter(letter_info, lang, out)
        assert out.getvalue().startswith(b"%PDF")
