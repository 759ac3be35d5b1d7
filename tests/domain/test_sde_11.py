"""SDE provider instrument 1.1: item anchors where the 0-4 scale does not fit, negative knock-out
reasons, country-specific commitment examples, and what the loader refuses."""
from __future__ import annotations

import copy
import io
import re

import pytest
from openpyxl import load_workbook

from rubric_app.domain.instruments import PROVIDER_SCALE, REQUIRED_LANGUAGES, load_definition, validate_path

from ._support import PROJECT_ROOT, dump_yaml, load_yaml

SDE_10 = PROJECT_ROOT / "rubric_defs" / "sde_providers" / "1.0.yaml"
SDE_11 = PROJECT_ROOT / "rubric_defs" / "sde_providers" / "1.1.yaml"
NEGATION = {"es": r"\bno\b", "en": r"\b(no|not)\b", "pt": r"\bnão\b"}


@pytest.fixture(scope="module")
def s10():
    return load_definition(SDE_10)


@pytest.fixture(scope="module")
def s11():
    return load_definition(SDE_11)


def test_same_categories_items_and_facts_as_1_0(s10, s11):
    """Stored scores and facts keep their meaning: ids are unchanged, only the texts were revised."""
    assert [c.id for c in s11.categories] == [c.id for c in s10.categories]
    assert [i.id for i in s11.items] == [i.id for i in s10.items]
    assert [f.id for f in s11.eligibility] == [f.id for f in s10.eligibility]
    assert s10.eligibility[0].failed is None and all(not i.anchors for i in s10.items)


def test_infrastructure_and_childcare_items_have_their_own_anchors(s11):
    anchored = {i.id for i in s11.items if i.anchors}
    assert "infrastructure_childcare" in anchored and "infrastructure_training_rooms" in anchored
    for item in s11.items:
        if not item.anchors:
            assert item.anchor(2, "es") is None  # the generic scale applies
            continue
        assert sorted(item.anchors) == list(PROVIDER_SCALE), item.id
        for value in PROVIDER_SCALE:
            for lang in REQUIRED_LANGUAGES:
                assert item.anchor(value, lang).strip(), (item.id, value, lang)
    childcare = next(i for i in s11.items if i.id == "infrastructure_childcare")
    assert "responsabilidades de cuidado" in childcare.text("es")
    assert childcare.anchor(0, "en") != childcare.anchor(4, "en")


def test_every_knock_out_has_a_negative_reason_in_every_language(s11):
    for fact in s11.eligibility:
        assert fact.failed is not None, fact.id
        for lang in REQUIRED_LANGUAGES:
            positive, negative = fact.text(lang), fact.failed(lang)
            assert negative != positive and re.search(NEGATION[lang], negative.lower()), (fact.id, lang, negative)
            assert not re.search(NEGATION[lang], positive.lower()), (fact.id, lang, positive)


def test_fees_and_data_commitments_as_revised(s11):
    texts = {f.id: f.text("es") for f in s11.commitments}
    fees = next(t for t in texts.values() if "tarifas" in t)
    assert "nacionalidad" in fees and "situación migratoria" in fees
    data = next(t for t in texts.values() if "consentimiento" in t)
    assert "agregados" in data


def test_peru_examples_only_in_the_peru_note(s11):
    for fact in s11.commitments:
        for lang in REQUIRED_LANGUAGES:
            assert "CPP" not in fact.text(lang), fact.id  # no Peruvian permit in the text every country gets
    documents = next(f for f in s11.commitments if f.country_notes)
    assert "CPP" in documents.country_note("PE")("es")
    assert "CPP" not in documents.country_note("CO")("es") and "PPT" in documents.country_note("CO")("es")
    assert documents.country_note("CL") is None and documents.country_note(None) is None


def _variant(tmp_path, edit):
    data = copy.deepcopy(load_yaml(SDE_11))
    edit(data)
    path = tmp_path / "sde.yaml"
    dump_yaml(data, path)
    return path


def _anchored(data):
    return next(item for cat in data["categories"] for item in cat["items"] if item.get("anchors"))


REFUSALS = {
    "an anchor missing for a scale value": (lambda d: _anchored(d)["anchors"].pop(4), "anchors need a text for each scale value"),
    "an anchor missing a language": (lambda d: _anchored(d)["anchors"][2].pop("pt"), "missing text in language 'pt'"),
    "a knock-out reason missing a language": (lambda d: d["eligibility"][0]["failed"].pop("en"), "missing text in language 'en'"),
    "a country note for a country that does not exist": (
        lambda d: next(f for f in d["commitments"] if f.get("country_notes"))["country_notes"].__setitem__("XX", {"es": "x", "en": "x", "pt": "x"}),
        "not an ISO 3166-1 alpha-2 country code"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_loader_refuses(tmp_path, case):
    edit, fragment = REFUSALS[case]
    problems = validate_path(_variant(tmp_path, edit))
    assert problems and any(fragment in p.message for p in problems), problems


def test_export_legend_lists_the_anchors(s11):
    from rubric_app.services.provider_io import LEGEND_SHEET, export_xlsx

    sheet = load_workbook(io.BytesIO(export_xlsx([], s11)))[LEGEND_SHEET]
    rows = {row[0].value: [c.value for c in row[1:4]] for row in sheet.iter_rows() if row[0].value}
    childcare = next(i for i in s11.items if i.id == "infrastructure_childcare")
    assert rows["infrastructure_childcare = 0"] == [childcare.anchor(0, lang) for lang in ("es", "en", "pt")]
