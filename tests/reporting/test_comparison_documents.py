"""The comparison as a document: synthetic-data label, colour legend, axis titles and whole-number
ticks, agreement in rubric order, the index with one decimal (text read back out of the PDF)."""
from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from werkzeug.datastructures import MultiDict

from rubric_app.extensions import db
from rubric_app.reporting.charts import _count_ticks, histogram_drawing
from rubric_app.services import comparison as cmp
from rubric_app.services.bulk import bulk_assessments
from rubric_app.services.reports import comparison_report
from tests.conftest import login


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def synthetic(app, factory):
    """60 synthetic institutions over four countries (a third validated), and one real one."""
    real = factory.user(institution=factory.institution(name="Instituto Real", country="AR"))
    factory.assessment(real, levels=3, submit=True)
    with app.app_context():
        s = db.new_session()
        bulk_assessments(s, app.extensions["instruments"].latest("ifp-migrant-inclusion"), 60, ["AR", "CO", "PE", "DO"], 11)
        s.commit()
        s.close()
    return factory.user(role="reviewer")


def comparison(app, reviewer, **query):
    with app.app_context():
        s = db.new_session()
        result = cmp.compare(s, app.extensions["instruments"], s.merge(reviewer), cmp.parse_filters(MultiDict(query)), use_cache=False)
        s.close()
    return result


@pytest.mark.parametrize("lang,label,legend,x_title", [
    ("en", "Synthetic demonstration data: 60 of the institutions compared are fictitious.", "Median level (1 to 5)",
     "Overall inclusion index (0 to 100)"),
    ("es", "Datos sintéticos de demostración: 60 de las instituciones comparadas son ficticias.", "Nivel mediano (1 a 5)",
     "Índice general de inclusión (0 a 100)"),
    ("pt", "Dados sintéticos de demonstração: 60 das instituições comparadas são fictícias.", "Nível mediano (1 a 5)",
     "Índice geral de inclusão (0 a 100)"),
])
def test_comparison_pdf_labels_synthetic_data_and_explains_its_charts(app, synthetic, lang, label, legend, x_title):
    result = comparison(app, synthetic)
    assert result.synthetic == 60 and result.institutions == 61
    with app.app_context():
        text = pdf_text(comparison_report(result, lang, app.config["REPORTS_DIR"]).read_bytes())
    assert label in text
    assert legend in text
    assert x_title in text


def test_agreement_rows_follow_the_rubric_order_within_each_country(app, synthetic):
    result = comparison(app, synthetic)
    rows = result.agreement_rows()
    dims = [d.id for d in result.rubric.dimensions]
    countries = []
    for (country, dim), _a in rows:
        if not countries or countries[-1] != country:
            countries.append(country)
    assert countries[-1] == "ALL" and countries[:-1] == sorted(countries[:-1])
    for country in countries:
        assert [dim for (c, dim), _a in rows if c == country] == [d for d in dims if (country, d) in result.agreement]
    with app.app_context():
        text = pdf_text(comparison_report(result, "en", app.config["REPORTS_DIR"]).read_bytes())
    agreement = text[text.index("Agreement between self-assessed"):]
    positions = [agreement.index(result.rubric.dimension(d).name("en")) for d in dims]
    assert positions == sorted(positions)


def test_index_has_one_decimal_in_the_aggregates(app, synthetic, client):
    result = comparison(app, synthetic)
    region = result.table["ALL"]["index"]
    assert not region.suppressed
    with app.app_context():
        text = pdf_text(comparison_report(result, "en", app.config["REPORTS_DIR"]).read_bytes())
    assert f"Overall index {region.n} {region.median:.1f}" in text
    login(client, synthetic)
    page = client.get("/compare?lang=es").get_data(as_text=True)
    assert f"{region.median:.1f}".replace(".", ",") in page
    assert 'id="synthetic-data"' in page


def test_count_ticks_are_whole_numbers_without_repeats():
    for peak in range(0, 400):
        ticks = _count_ticks(peak)
        assert ticks[0] == 0 and ticks[-1] >= peak and len(ticks) <= 6
        assert len(set(ticks)) == len(ticks) and all(isinstance(t, int) for t in ticks)
        assert len({b - a for a, b in zip(ticks, ticks[1:])}) <= 1
    assert _count_ticks(3) == [0, 1, 2, 3]


def test_histogram_draws_axis_titles_and_integer_ticks():
    drawing = histogram_drawing([0, 40, 60, 100], [3, 1, 2], x_title="Index", y_title="Institutions", lang="es")
    texts = [getattr(s, "text", None) for s in drawing.getContents()]
    texts += [getattr(c, "text", None) for g in drawing.getContents() for c in getattr(g, "contents", [])]
    assert "Index" in texts and "Institutions" in texts
    assert {"0", "1", "2", "3"} <= set(texts)
    assert "1.33" not in texts and "2,25" not in texts
