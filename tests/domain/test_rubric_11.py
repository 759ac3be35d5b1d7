"""Rubric content version 1.1: new schema fields (guidance, verification, not_applicable_allowed,
country_notes), what the loader accepts and refuses, and the content rules of the 1.1 revision."""
from __future__ import annotations

import re

import pytest

from rubric_app.domain.instruments import LEVELS, REQUIRED_LANGUAGES, Text, load_definition, load_registry, validate_path
from rubric_app.domain.scoring import AnswerError, CriterionAnswer, validate_answer

from ._support import REAL_RUBRIC_PATH, load_yaml

RUBRIC_11_PATH = REAL_RUBRIC_PATH.with_name("1.1.yaml")
WOMEN_MIGRANTS = {"es": "mujeres migrantes", "en": "women migrants", "pt": "mulheres migrantes"}
ALWAYS_APPLY = {"access_documents", "access_admission_protocol", "policy_equal_treatment"}
BUNDLED = ("access_admission_protocol", "relevance_flexible_upskilling", "policy_resources_gender")
ALL_ELEMENTS = {"es": "todos sus elementos", "en": "all its elements", "pt": "todos os seus elementos"}


@pytest.fixture(scope="module")
def r11():
    return load_definition(RUBRIC_11_PATH)


@pytest.fixture(scope="module")
def r10():
    return load_definition(REAL_RUBRIC_PATH)


def texts(rubric):
    """(where, Text) for every translated text of a rubric, the 1.1 fields and the annex included."""
    yield "title", rubric.title
    yield "description", rubric.description
    for lvl in rubric.levels:
        yield f"levels/{lvl.level}/name", lvl.name
        yield f"levels/{lvl.level}/summary", lvl.summary
    for dim in rubric.dimensions:
        yield f"{dim.id}/name", dim.name
        yield f"{dim.id}/description", dim.description
        for crit in dim.criteria:
            yield f"{crit.id}/title", crit.title
            if crit.guidance is not None:
                yield f"{crit.id}/guidance", crit.guidance
            for lvl, text in crit.descriptors.items():
                yield f"{crit.id}/descriptors/{lvl}", text
            for lvl, items in crit.actions.items():
                for i, text in enumerate(items):
                    yield f"{crit.id}/actions/{lvl}/{i}", text
            for i, text in enumerate(crit.verification):
                yield f"{crit.id}/verification/{i}", text
    for country, notes in rubric.country_notes.items():
        for cid, text in notes.items():
            yield f"country_notes/{country}/{cid}", text


# --------------------------------------------------------------------------- both versions


def test_both_versions_load_and_1_1_is_the_latest(r10, r11):
    registry = load_registry(REAL_RUBRIC_PATH.parents[1])
    assert registry.get("ifp-migrant-inclusion", "1.0").hash == r10.hash
    assert registry.latest("ifp-migrant-inclusion").key == ("ifp-migrant-inclusion", "1.1")
    assert r11.hash != r10.hash
    assert validate_path(RUBRIC_11_PATH) == []


def test_same_dimension_and_criterion_ids_in_the_same_order(r10, r11):
    assert [d.id for d in r11.dimensions] == [d.id for d in r10.dimensions]
    assert [c.id for c in r11.criteria] == [c.id for c in r10.criteria]
    assert len(r11.criteria) == 18 and {len(d.criteria) for d in r11.dimensions} == {3}
    assert [lvl.name("es") for lvl in r11.levels] == [lvl.name("es") for lvl in r10.levels]


def test_1_0_has_none_of_the_new_fields(r10):
    assert r10.country_notes == {}
    for crit in r10.criteria:
        assert crit.verification == () and crit.guidance is None and crit.not_applicable_allowed is True
    assert r10.country_note("PE", "access_documents") is None


def test_every_text_in_every_language(r11):
    gaps = [f"{where}/{lang}" for where, text in texts(r11) for lang in REQUIRED_LANGUAGES if not (text.values.get(lang) or "").strip()]
    assert gaps == []


@pytest.mark.parametrize("dimension_id", ("policy", "access", "relevance", "recognition", "people", "articulation"))
def test_gender_lens_kept(r11, dimension_id):
    assert any(all(WOMEN_MIGRANTS[lang] in crit.descriptors[lvl](lang).lower() for lvl in (3, 4, 5) for lang in REQUIRED_LANGUAGES)
               for crit in r11.dimension(dimension_id).criteria)


def test_descriptors_distinct(r11):
    for crit in r11.criteria:
        for lang in REQUIRED_LANGUAGES:
            assert len({crit.descriptors[lvl](lang) for lvl in LEVELS}) == 5, (crit.id, lang)


# --------------------------------------------------------------------------- the new fields in 1.1


def test_every_criterion_has_means_of_verification(r11):
    for crit in r11.criteria:
        assert len(crit.verification) >= 2, crit.id
        assert all(isinstance(v, Text) for v in crit.verification)


def test_criteria_that_always_apply(r11):
    assert {c.id for c in r11.criteria if not c.not_applicable_allowed} == ALWAYS_APPLY


@pytest.mark.parametrize("criterion_id", BUNDLED)
def test_bundled_criteria_say_a_level_needs_all_its_elements(r11, criterion_id):
    guidance = r11.criterion(criterion_id).guidance
    assert guidance is not None
    for lang, words in ALL_ELEMENTS.items():
        assert words in guidance(lang), lang


def test_level_5_is_evaluated_effect_plus_institutionalised_practice(r11):
    markers = {"es": ("institucionaliz", "evaluaci"), "en": ("institutionalis", "evaluation"), "pt": ("institucionaliz", "avalia")}
    influence = {"es": r"incide|incidencia|políticas? nacional", "en": r"influenc|national polic", "pt": r"incide|influenci|políticas? nacion"}
    summary = r11.levels[-1].summary
    for lang in REQUIRED_LANGUAGES:
        assert all(m in summary(lang).lower() for m in markers[lang]), lang
        assert not re.search(influence[lang], summary(lang), re.I)
    for crit in r11.criteria:
        for lang in REQUIRED_LANGUAGES:
            text = crit.descriptors[5](lang)
            assert all(m in text.lower() for m in markers[lang]), (crit.id, lang)
            assert not re.search(influence[lang], text, re.I), (crit.id, lang, text)


def test_data_protection_from_level_3_and_no_identity_checks_against_migration_databases(r11):
    data = r11.criterion("articulation_disaggregated_data")
    assert "prefiero no responder" in data.descriptors[3]("es") and "prefer not to say" in data.descriptors[3]("en")
    assert "prefiro não responder" in data.descriptors[3]("pt")
    assert "protección de datos" in data.descriptors[3]("es") and "data-protection" in data.descriptors[3]("en")
    documents = r11.criterion("access_documents")
    assert "without consulting migration databases" in documents.descriptors[5]("en")
    actions_5 = " ".join(a("en") for a in documents.actions[5])
    assert "online identity verification" not in actions_5 and "without resorting to checks against migration databases" in actions_5


def test_prior_learning_directly_or_through_the_certifying_body(r11):
    level3 = r11.criterion("recognition_prior_learning").descriptors[3]
    assert "directamente o mediante un convenio con el organismo certificador" in level3("es").lower()
    assert "through an agreement with the certifying body" in level3("en")
    for body in ("ChileValora", "SENA", "SENATI", "SECAP"):
        assert body in level3("es")
    assert "SENA o el INFOTEP" in r11.country_note("PE", "recognition_prior_learning")("es")


def test_no_low_skill_steering_and_the_missing_themes_are_present(r11):
    needs = r11.criterion("relevance_needs_demand")
    step = " ".join(a("es") for a in needs.actions[4])
    assert "construcción" not in step and "hotelería" not in step and "baja calificación" in step
    everything = " ".join(text("es") for _where, text in texts(r11))
    for theme in ("comunidades de acogida", "apoyo lingüístico", "violencia basada en género", "acoso"):
        assert theme in everything, theme


def test_terminology(r11):
    def joined(lang):
        return " ".join(text(lang) for where, text in texts(r11) if not where.startswith("country_notes"))

    en, pt, es = joined("en"), joined("pt"), joined("es")
    for calque in ("regular offer", "inter-agency tables", "attendance tolerance", "title validation", "Articulation"):
        assert calque not in en, calque
    assert r11.dimension("articulation").name("en").startswith("Partnerships")
    for hispanism in ("incide", "autoridade reitora", "mesas interinstitucionais", "declaração juramentada", "trilha", "revalidação",
                      "validação"):
        assert hispanism not in pt, hispanism
    assert not re.search(r"\bpessoal\b", pt)
    assert "egresados" not in es and "personas egresadas" in es
    # Peru's documents live in the annex, not in every text
    assert "CPP" not in es + en + pt


def test_country_annex(r11):
    assert set(r11.country_notes) == {"AR", "BR", "CL", "CO", "DO", "EC", "PE"}
    assert all("access_documents" in notes for notes in r11.country_notes.values())
    assert "CPP" in r11.country_note("PE", "access_documents")("es")
    assert "PPT" in r11.country_note("co", "access_documents")("en")  # the lookup ignores case
    assert "CRNM" in r11.country_note("BR", "access_documents")("pt")
    assert "refúgio" in r11.country_note("BR", "access_documents")("pt")
    assert r11.country_note("UY", "access_documents") is None
    assert r11.country_note(None, "access_documents") is None
    assert r11.country_note("PE", "people_outreach_migrants") is None


# --------------------------------------------------------------------------- answers


def test_not_applicable_refused_where_the_criterion_always_applies(r11, r10):
    with pytest.raises(AnswerError) as excinfo:
        validate_answer(r11, CriterionAnswer("access_documents", None, True, "No aplica"))
    assert excinfo.value.field == "not_applicable" and "access_documents" in str(excinfo.value)
    # with a level it is fine, and other criteria may still be not applicable
    assert validate_answer(r11, CriterionAnswer("access_documents", 3)).level == 3
    assert validate_answer(r11, CriterionAnswer("access_retention", None, True, "Sin cursos presenciales")).not_applicable
    # version 1.0 keeps its rules: there every criterion may be not applicable
    assert validate_answer(r10, CriterionAnswer("access_documents", None, True, "No aplica")).not_applicable


# --------------------------------------------------------------------------- the loader


def _with_new_fields(data):
    crit = data["dimensions"][0]["criteria"][0]
    crit["not_applicable_allowed"] = False
    crit["guidance"] = {"es": "Todos los elementos.", "en": "All elements.", "pt": "Todos os elementos."}
    crit["verification"] = [{"es": "Acta", "en": "Minutes", "pt": "Ata"}, {"es": "Norma", "en": "Rule", "pt": "Norma"}]
    data["country_notes"] = {"PE": {crit["id"]: {"es": "Nota PE", "en": "PE note", "pt": "Nota PE"}},
                             "BR": {data["dimensions"][1]["criteria"][0]["id"]: {"es": "Nota BR", "en": "BR note", "pt": "Nota BR"}}}
    return crit["id"]


def test_loader_accepts_the_new_fields(mini_variant):
    ids = {}

    def edit(data):
        ids["crit"] = _with_new_fields(data)

    rubric = load_definition(mini_variant(edit))
    crit = rubric.criterion(ids["crit"])
    assert crit.not_applicable_allowed is False
    assert crit.guidance("en") == "All elements."
    assert [v("pt") for v in crit.verification] == ["Ata", "Norma"]
    assert rubric.country_note("PE", ids["crit"])("en") == "PE note"
    assert rubric.country_note("BR", ids["crit"]) is None
    # the others keep the defaults
    other = rubric.criteria[1]
    assert other.not_applicable_allowed is True and other.verification == () and other.guidance is None
    with pytest.raises(TypeError):
        rubric.country_notes["AR"] = {}  # type: ignore[index]


REFUSALS = {
    "verification text missing a language": (lambda d: d["dimensions"][0]["criteria"][0]["verification"][1].pop("pt"),
                                             "/dimensions/0/criteria/0/verification/1/pt", "missing text in language 'pt'"),
    "empty verification list": (lambda d: d["dimensions"][0]["criteria"][0].__setitem__("verification", []),
                                "/dimensions/0/criteria/0/verification", "should be non-empty"),
    "not_applicable_allowed not a boolean": (lambda d: d["dimensions"][0]["criteria"][0].__setitem__("not_applicable_allowed", "no"),
                                             "/dimensions/0/criteria/0/not_applicable_allowed", "is not of type 'boolean'"),
    "guidance blank in English": (lambda d: d["dimensions"][0]["criteria"][0]["guidance"].__setitem__("en", " "),
                                  "/dimensions/0/criteria/0/guidance/en", "missing text in language 'en'"),
    "country that does not exist": (lambda d: d["country_notes"].__setitem__("XX", d["country_notes"].pop("PE")),
                                    "/country_notes/XX", "not an ISO 3166-1 alpha-2 country code"),
    "a grouping, not a country": (lambda d: d["country_notes"].__setitem__("EU", d["country_notes"].pop("PE")),
                                  "/country_notes/EU", "not an ISO 3166-1 alpha-2 country code"),
    "lower-case country code": (lambda d: d["country_notes"].__setitem__("pe", d["country_notes"].pop("PE")),
                                "/country_notes", "does not match"),
    "unknown criterion in the annex": (lambda d: d["country_notes"]["PE"].__setitem__("nope", {"es": "x", "en": "x", "pt": "x"}),
                                       "/country_notes/PE/nope", "unknown criterion 'nope'"),
    "annex note missing a language": (lambda d: next(iter(d["country_notes"]["BR"].values())).pop("es"),
                                      None, "missing text in language 'es'"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_loader_refuses(mini_variant, case):
    breaks, path, fragment = REFUSALS[case]

    def edit(data):
        _with_new_fields(data)
        breaks(data)

    file = mini_variant(edit, name="broken.yaml")
    problems = validate_path(file)
    assert len(problems) == 1, problems
    (problem,) = problems
    assert fragment in problem.message
    if path is not None:
        assert problem.path == path
    else:
        assert problem.path.startswith("/country_notes/BR/") and problem.path.endswith("/es")


def test_1_1_is_the_only_change_in_the_folder():
    """1.0 is published: its file is untouched (an assessment pins its hash)."""
    data = load_yaml(REAL_RUBRIC_PATH)
    assert data["version"] == "1.0" and "country_notes" not in data
    assert not any(key in crit for dim in data["dimensions"] for crit in dim["criteria"]
                   for key in ("verification", "guidance", "not_applicable_allowed"))
