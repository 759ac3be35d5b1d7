"""The comparison PDF (/compare/report.pdf as a reviewer): method note, suppression, medians, language.

Data: Argentina has three institutions, Peru one (suppressed).
  policy: AR 2,2,3 -> 2.33; 2,3,3 -> 2.67; 4,4,4 -> 4.00; PE 5.00
    AR median 2.67, mean (2.33 + 2.67 + 4) / 3 = 3.00
    region 2.33, 2.67, 4, 5 -> median (2.67 + 4) / 2 = 3.335 -> 3.34 (half-up)
  other dimensions: AR 2, 3, 4 -> median 3.00; region 2, 3, 4, 5 -> median 3.50
"""
from __future__ import annotations

import io

import pytest
from babel.messages.pofile import read_po
from pypdf import PdfReader

from rubric_app.i18n import TRANSLATIONS
from tests.conftest import login

NAMES = ("Instituto Lapacho", "Centro Ceibo", "Escuela Quebracho", "Cetpro Ichu")



def tr(lang: str, msgid: str) -> str:
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        message = read_po(fh, locale=lang).get(msgid)
    return message.string if message is not None and message.string else msgid


def pdf_text(data: bytes) -> str:
    """The PDF's text with every run of whitespace (line breaks in wrapped cells) as one space."""
    return " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages)


def levels(rubric, base: int, policy: tuple[int, int, int] | None = None) -> dict:
    result = {c.id: base for c in rubric.criteria}
    if policy:
        for crit, level in zip(rubric.dimension("policy").criteria, policy):
            result[crit.id] = level
    return result


@pytest.fixture
def data(factory, rubric):
    for name, country, answers in ((NAMES[0], "AR", levels(rubric, 2, (2, 2, 3))), (NAMES[1], "AR", levels(rubric, 3, (2, 3, 3))),
                                   (NAMES[2], "AR", levels(rubric, 4)), (NAMES[3], "PE", levels(rubric, 5))):
        member = factory.user("member", institution=factory.institution(name=name, country=country))
        factory.assessment(member, levels=answers, submit=True)


@pytest.fixture
def reviewer_client(app, factory, data):
    c = app.test_client()
    login(c, factory.user("reviewer"))
    return c


def between(text: str, start: str, end: str) -> str:
    i = text.index(start)
    return text[i:text.index(end, i)]


def report(c, query: str) -> str:
    with c.get(f"/compare/report.pdf?{query}") as response:
        assert response.status_code == 200
        assert response.mimetype == "application/pdf"
        assert "attachment" in response.headers["Content-Disposition"]
        return pdf_text(response.data)


METHOD = "Only assessments answered on the same instrument id and version are compared; the latest assessment of each institution is used."
SUPPRESSION = "Any cell with fewer than %(n)s institutions shows no aggregate, so that no single institution is exposed."


def test_english_report_has_method_note_suppression_and_medians(reviewer_client):
    text = report(reviewer_client, "countries=AR,PE&lang=en")
    assert "Comparison of institutions and countries" in text
    assert "Method" in text and METHOD in text
    assert SUPPRESSION % {"n": 3} in text
    assert "self-assessed levels · 4 institutions · countries: Argentina, Peru" in text
    aggregates = between(text, "Aggregates", "Distribution per dimension")
    assert "Peru Institutional policy and commitment 1 fewer than 3" in aggregates
    assert aggregates.count("fewer than 3") == 7  # every Peru cell: six dimensions and the index
    # Argentina policy: n 3, median 2.67, q1 2.50, q3 3.34 (2.67 + 0.5 * 1.33 = 3.335), mean 3.00
    assert "Argentina Institutional policy and commitment 3 2.67 2.50 3.34 3.00" in aggregates
    assert "Region Institutional policy and commitment 4 3.34" in aggregates
    assert "Argentina Access, admission and retention 3 3.00 2.50 3.50 3.00" in aggregates
    assert "2,67" not in text and "3,34" not in text


def test_spanish_report_uses_spanish_text_and_decimal_commas(reviewer_client, rubric):
    text = report(reviewer_client, "countries=AR,PE&lang=es")
    for msgid in ("Comparison of institutions and countries", METHOD, "fewer than 3"):
        assert tr("es", msgid) != msgid, f"no Spanish translation for {msgid!r}"
        assert tr("es", msgid) in text, msgid
    assert tr("es", SUPPRESSION) % {"n": 3} in text
    assert METHOD not in text and "fewer than 3" not in text
    aggregates = between(text, tr("es", "Aggregates"), tr("es", "Distribution per dimension"))
    policy = rubric.dimension("policy").name("es")
    assert f"Argentina {policy} 3 2,67 2,50 3,34 3,00" in aggregates
    assert f"{tr('es', 'Region')} {policy} 4 3,34" in aggregates
    assert "Perú" in aggregates and aggregates.count(tr("es", "fewer than 3")) == 7
    assert "2.67" not in text and "3.34" not in text


def test_report_follows_the_filters_and_shows_no_institution_names(reviewer_client):
    text = report(reviewer_client, "countries=AR&lang=en")
    assert "3 institutions · countries: Argentina" in text and "Peru" not in text
    for name in NAMES:
        assert name not in text
    # Argentina alone: the region is Argentina, so both show median 2.67 for policy
    assert "Region Institutional policy and commitment 3 2.67" in text


def test_report_is_redrawn_when_the_data_change(app, factory, rubric, reviewer_client):
    before = report(reviewer_client, "countries=AR,PE&lang=en")
    assert before == report(reviewer_client, "countries=AR,PE&lang=en")
    for name, level in (("Cetpro Tola", 3), ("Cetpro Queñua", 4)):
        member = factory.user("member", institution=factory.institution(name=name, country="PE"))
        factory.assessment(member, levels=level, submit=True)
    after = report(reviewer_client, "countries=AR,PE&lang=en")
    # Peru now has three institutions (3, 4, 5): its cells are published, median 4.00, mean 4.00
    assert "fewer than 3" not in between(after, "Aggregates", "Distribution per dimension")
    assert "Peru Institutional policy and commitment 3 4.00 3.50 4.50 4.00" in after
    assert "6 institutions" in after


def test_unsupported_language_falls_back_to_spanish(reviewer_client):
    text = report(reviewer_client, "countries=AR,PE&lang=fr")
    assert tr("es", METHOD) in text and "2,67" in text
