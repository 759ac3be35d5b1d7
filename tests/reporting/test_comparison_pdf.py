"""The comparison PDF (/compare/report.pdf as a reviewer): method note, suppression, medians, language.

Data: Argentina has five institutions, Peru one (suppressed: fewer than 5).  Published figures follow
docs/comparison.md: medians and quartiles on the half level, means on the quarter level.
  policy: AR 2,2,3 -> 2.33; 2,3,3 -> 2.67; 3; 4; 4; PE 5.00
    AR q1 = x2 = 2.67 -> 2.50, median 3.00, q3 4.00, mean 16 / 5 = 3.2 -> 3.25
    region (all countries) 2.33, 2.67, 3, 4, 4, 5 -> median 3.5; its mean is withheld (Peru's one institution)
  access (and the other dimensions): AR 2, 3, 3, 4, 4 -> q1 3, median 3, q3 4, mean 3.2 -> 3.25
"""
from __future__ import annotations

import io
import re

import pytest
from babel.messages.pofile import read_po
from pypdf import PdfReader

from rubric_app.i18n import TRANSLATIONS
from tests.conftest import login

NAMES = ("Instituto Lapacho", "Centro Ceibo", "Escuela Quebracho", "Cetpro Ichu", "Instituto Tala", "Escuela Timbó")



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
                                   (NAMES[2], "AR", levels(rubric, 4)), (NAMES[3], "PE", levels(rubric, 5)),
                                   (NAMES[4], "AR", levels(rubric, 3)), (NAMES[5], "AR", levels(rubric, 4))):
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
    assert SUPPRESSION % {"n": 5} in text
    assert "Aggregates only: no institution-level data" in text and "coarse grid" in text
    assert "self-assessed levels · 6 institutions · countries: Argentina, Peru" in text
    aggregates = between(text, "Aggregates", "Distribution per dimension")
    assert "Peru Institutional policy and commitment 1 fewer than 5" in aggregates
    assert aggregates.count(" 1 fewer than 5") == 7  # every Peru cell: six dimensions and the index (n = 1)
    assert "Argentina Institutional policy and commitment 5 3.00 2.50 4.00 3.25" in aggregates
    assert "Region (all countries) Institutional policy and commitment 6 3.50 3.00 4.00 —" in aggregates
    assert "Argentina Access, admission and retention 5 3.00 3.00 4.00 3.25" in aggregates
    # nothing exact: neither 2.67 (an institution's policy score) nor a comma decimal
    assert "2.67" not in aggregates and "2,67" not in text and "3,25" not in text


def test_spanish_report_uses_spanish_text_and_decimal_commas(reviewer_client, rubric):
    text = report(reviewer_client, "countries=AR,PE&lang=es")
    for msgid in ("Comparison of institutions and countries", METHOD):
        assert tr("es", msgid) != msgid, f"no Spanish translation for {msgid!r}"
        assert tr("es", msgid) in text, msgid
    assert tr("es", SUPPRESSION) % {"n": 5} in text
    assert METHOD not in text
    fewer = tr("es", "fewer than %(n)s") % {"n": 5}
    aggregates = between(text, tr("es", "Aggregates"), tr("es", "Distribution per dimension"))
    policy = rubric.dimension("policy").name("es")
    assert f"Argentina {policy} 5 3,00 2,50 4,00 3,25" in aggregates
    assert f"{tr('es', 'Region (all countries)')} {policy} 6 3,50" in aggregates
    assert "Perú" in aggregates and aggregates.count(f" 1 {fewer}") == 7
    assert "3.25" not in text and "3.50" not in text


def test_report_follows_the_filters_and_shows_no_institution_names(reviewer_client):
    text = report(reviewer_client, "countries=AR&lang=en")
    assert "5 institutions · countries: Argentina" in text and "Peru" not in text
    for name in NAMES:
        assert name not in text
    # Argentina alone: the region still covers every country (Peru's institution too), median 3.50
    assert "Argentina Institutional policy and commitment 5 3.00" in text
    assert "Region (all countries) Institutional policy and commitment 6 3.50" in text


def test_report_is_redrawn_when_the_data_change(app, factory, rubric, reviewer_client):
    before = report(reviewer_client, "countries=AR,PE&lang=en")
    assert before == report(reviewer_client, "countries=AR,PE&lang=en")
    for name, level in (("Cetpro Tola", 3), ("Cetpro Queñua", 4), ("Cetpro Molle", 2), ("Cetpro Aliso", 4)):
        member = factory.user("member", institution=factory.institution(name=name, country="PE"))
        factory.assessment(member, levels=level, submit=True)
    after = report(reviewer_client, "countries=AR,PE&lang=en")
    # Peru now has five institutions (2, 3, 4, 4, 5): published, median 4.00, q1 3.00, q3 4.00, mean 3.6 -> 3.50
    assert re.search(r"Peru [^0-9]+ \d+ fewer than 5", between(after, "Aggregates", "Distribution per dimension")) is None
    assert "Peru Institutional policy and commitment 5 4.00 3.00 4.00 3.50" in after
    assert "10 institutions" in after


def test_unsupported_language_falls_back_to_spanish(reviewer_client):
    text = report(reviewer_client, "countries=AR,PE&lang=fr")
    assert tr("es", METHOD) in text and "3,25" in text
