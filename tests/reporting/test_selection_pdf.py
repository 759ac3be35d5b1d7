"""Selection documents: round report, commitment letters (es/en/pt) and the zip; text read back with pypdf; caching."""
from __future__ import annotations

import io
import zipfile

import pytest
from pypdf import PdfReader

from rubric_app.extensions import db
from rubric_app.i18n import country_name
from rubric_app.models import SelectionRound
from rubric_app.services import NotFound
from rubric_app.services import documents as docs
from rubric_app.services import providers as prov
from rubric_app.services import selection as sel
from tests.conftest import login
from tests.web.helpers import tr

PROVIDER_INSTRUMENT = "sde-provider-assessment"
FACTS = ("entrepreneurship_training", "commitment_letter", "facilitator_staff")
MARKUP_NAME = "<b>X</b> & Co <font size=40>grande</font>"
RATIONALE = "Única oferta en la frontera norte; la visita confirmó su capacidad."


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


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
                "contact_name": "Marta Gómez", "facts": {"entrepreneurship_training": True, "commitment_letter": letter,
                                                         "facilitator_staff": True},
                "item_scores": {item.id: score for item in inst.items},
            })
        rnd = sel.create_round(s, app.extensions["instruments"], user, "Ronda IMESUN 2026",
                               {"knockouts": list(FACTS), "rule": "quota", "default_quota": 1, "draws": 100, "seed": 4})
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
    knockout = next(f for f in inst.eligibility if f.id == "commitment_letter").text("en")
    assert flat(f"Knock-out: {knockout}") in flat_text
    assert "Gremio de la Pequeña Empresa Piura" in text
    # the override and its rationale; markup printed as typed
    assert "Overrides" in text and flat(RATIONALE) in flat_text
    assert "yes *" in text
    assert "<b>X</b> & Co" in text


def test_report_in_spanish_and_portuguese(app, round_id):
    for lang in ("es", "pt"):
        text = flat(pdf_text(report(app, round_id, lang).read_bytes()))
        assert flat(tr(lang, "IMESUN partner selection")) in text and "Ronda IMESUN 2026" in text
        assert country_name("PE", lang) in text and country_name("AR", lang) in text
        assert flat(tr(lang, "Not eligible")) in text
        assert flat(tr(lang, "No selection was overridden.")) in text


@pytest.mark.parametrize("lang", ["es", "en", "pt"])
def test_letter_text_in_each_language(app, inst, round_id, lang):
    path = letter(app, round_id, "PE-1", lang)
    text = flat(pdf_text(path.read_bytes()))
    assert "Centro de Servicios Empresariales Tumbes" in text
    assert "Ronda IMESUN 2026" in text and "PE-1" in text
    assert flat(tr(lang, "Commitment letter for the transfer of the IMESUN methodology")) in text
    for number, commitment in enumerate(inst.commitments, start=1):
        assert flat(f"{number}. {commitment.text(lang)}") in text, commitment.id
    for other in {"es", "en", "pt"} - {lang}:
        assert flat(inst.commitments[0].text(other)) not in text
    for label in ("For the institution", "For the ILO Lazos project", "Signature", "Name and position", "Date"):
        assert flat(tr(lang, label)) in text, label
    assert flat(tr(lang, "Attention: %(name)s") % {"name": "Marta Gómez"}) in text


def test_markup_in_a_provider_name_prints_literally(app, round_id):
    text = pdf_text(letter(app, round_id, "AR-1", "es").read_bytes())
    assert MARKUP_NAME in text
    assert "grande" in text and text.count("<b>X</b>") >= 2  # heading and the first paragraph


def test_letters_only_for_selected_providers(app, staff, round_id):
    for code in ("AR-2", "PE-2", "ZZ-9"):
        with pytest.raises(NotFound):
            letter(app, round_id, code, "es")
    override(app, round_id, staff, "PE-2", True)  # ineligible, selected by a person
    assert letter(app, round_id, "PE-2", "es").exists()
    override(app, round_id, staff, "PE-1", False)
    with pytest.raises(NotFound):
        letter(app, round_id, "PE-1", "es")


def test_zip_holds_the_report_and_one_letter_per_selected_provider(app, round_id):
    calls = []
    path = documents_zip(app, round_id, "pt", progress=lambda done, total: calls.append((done, total)))
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
        contents = {name: zf.read(name) for name in names}
    assert names == ["letters/AR/AR-1-pt.pdf", "letters/PE/PE-1-pt.pdf", "report-pt.pdf"]
    assert all(data.startswith(b"%PDF") for data in contents.values())
    assert "Centro de Servicios Empresariales Tumbes" in pdf_text(contents["letters/PE/PE-1-pt.pdf"])
    assert "Ronda IMESUN 2026" in pdf_text(contents["report-pt.pdf"])
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_documents_are_cached_and_redrawn_after_an_override(app, staff, round_id):
    first = report(app, round_id)
    stamp = first.stat().st_mtime_ns
    assert report(app, round_id) == first and first.stat().st_mtime_ns == stamp
    letter_path = letter(app, round_id, "PE-1", "en")
    assert letter(app, round_id, "PE-1", "en") == letter_path
    zip_path = documents_zip(app, round_id)
    assert documents_zip(app, round_id) == zip_path

    override(app, round_id, staff, "AR-2", True)
    second = report(app, round_id)
    assert second != first and second.exists()
    assert flat(RATIONALE) in flat(pdf_text(second.read_bytes()))
    assert flat(RATIONALE) not in flat(pdf_text(first.read_bytes()))
    new_zip = documents_zip(app, round_id)
    assert new_zip != zip_path
    with zipfile.ZipFile(new_zip) as zf:
        assert "letters/AR/AR-2-en.pdf" in zf.namelist()
    assert report(app, round_id, "es") not in (first, second)  # one file per language


def test_documents_over_http(app, client, staff, round_id):
    login(client, staff)
    with client.get(f"/rounds/{round_id}/report.pdf?lang=en") as response:
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert "attachment" in response.headers["Content-Disposition"]
        assert "Ronda IMESUN 2026" in pdf_text(response.get_data())
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
        rid = sel.create_round(s, app.extensions["instruments"], user, "Códigos", {"default_quota": 2, "draws": 0}).id
        s.close()
    path = documents_zip(app, rid, "es")
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
    assert names == ["letters/PE/PE-letter-1-es.pdf", "letters/PE/PE-letter-2-es.pdf", "report-es.pdf"]
