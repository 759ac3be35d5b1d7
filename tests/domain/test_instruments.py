"""Instrument definitions: the real rubric, its texts, its hash, and what invalid files report."""
from __future__ import annotations

import dataclasses
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from rubric_app.domain.instruments import (
    LEVELS,
    REQUIRED_LANGUAGES,
    DefinitionError,
    Problem,
    Registry,
    Rubric,
    Text,
    content_hash,
    definition_files,
    load_definition,
    load_registry,
    validate_path,
)

from ._support import INVALID_DIR, MINI_PATH, REAL_RUBRIC_PATH, VALID_DIR, dump_yaml, load_yaml

REAL_DIMENSIONS = ("policy", "access", "relevance", "recognition", "people", "articulation")
WOMEN_MIGRANTS = {"es": "mujeres migrantes", "en": "women migrants", "pt": "mulheres migrantes"}


def all_texts(rubric: Rubric):
    """(where, Text) for every translated text of a rubric."""
    yield "title", rubric.title
    if rubric.description is not None:
        yield "description", rubric.description
    for lvl in rubric.levels:
        yield f"levels/{lvl.level}/name", lvl.name
        if lvl.summary is not None:
            yield f"levels/{lvl.level}/summary", lvl.summary
    for dim in rubric.dimensions:
        yield f"{dim.id}/name", dim.name
        if dim.description is not None:
            yield f"{dim.id}/description", dim.description
        for crit in dim.criteria:
            yield f"{crit.id}/title", crit.title
            for lvl, text in crit.descriptors.items():
                yield f"{crit.id}/descriptors/{lvl}", text
            for lvl, items in crit.actions.items():
                for i, text in enumerate(items):
                    yield f"{crit.id}/actions/{lvl}/{i}", text


# --------------------------------------------------------------------------- the real rubric


class TestRealRubric:
    def test_shape_six_dimensions_eighteen_criteria(self, real_rubric):
        assert real_rubric.id == "ifp-migrant-inclusion"
        assert real_rubric.version == "1.0"
        assert tuple(d.id for d in real_rubric.dimensions) == REAL_DIMENSIONS
        assert all(len(d.criteria) == 3 for d in real_rubric.dimensions)
        assert len(real_rubric.criteria) == 18
        assert len({c.id for c in real_rubric.criteria}) == 18
        # every criterion knows its dimension, and rubric order is dimension order
        assert [c.dimension_id for c in real_rubric.criteria] == [d for d in REAL_DIMENSIONS for _ in range(3)]
        assert real_rubric.criterion("access_documents").dimension_id == "access"
        assert real_rubric.has_criterion("access_documents")
        assert not real_rubric.has_criterion("nope")
        assert real_rubric.dimension("people").id == "people"
        with pytest.raises(KeyError):
            real_rubric.dimension("nope")

    def test_levels_one_to_five_with_names(self, real_rubric):
        assert tuple(lvl.level for lvl in real_rubric.levels) == LEVELS == (1, 2, 3, 4, 5)
        assert real_rubric.level_name(1) == "Inicial"  # default language is Spanish
        assert real_rubric.level_name(5, "en") == "Transformative"
        assert real_rubric.level_name(3, "pt") == "Estabelecido"
        with pytest.raises(KeyError):
            real_rubric.level_name(6)

    def test_every_criterion_has_five_descriptors_and_actions_for_two_to_five(self, real_rubric):
        for crit in real_rubric.criteria:
            assert tuple(crit.descriptors) == (1, 2, 3, 4, 5), crit.id
            assert tuple(crit.actions) == (2, 3, 4, 5), crit.id
            assert all(len(items) >= 1 for items in crit.actions.values()), crit.id

    def test_weights_equal_by_default(self, real_rubric):
        assert {d.weight for d in real_rubric.dimensions} == {Decimal(1)}

    def test_frozen(self, real_rubric):
        with pytest.raises(dataclasses.FrozenInstanceError):
            real_rubric.version = "2.0"  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            real_rubric.hash = "0" * 64  # type: ignore[misc]
        dim = real_rubric.dimensions[0]
        with pytest.raises(dataclasses.FrozenInstanceError):
            dim.weight = Decimal(5)  # type: ignore[misc]
        crit = real_rubric.criteria[0]
        with pytest.raises(dataclasses.FrozenInstanceError):
            crit.id = "other"  # type: ignore[misc]
        # the mappings inside are read-only views, and the sequences are tuples
        with pytest.raises(TypeError):
            crit.descriptors[1] = crit.descriptors[2]  # type: ignore[index]
        with pytest.raises(TypeError):
            crit.title.values["es"] = "cambiado"  # type: ignore[index]
        assert isinstance(real_rubric.dimensions, tuple)
        assert isinstance(dim.criteria, tuple)

    def test_hash_is_sha256_hex_and_stable_across_loads(self, real_rubric):
        assert re.fullmatch(r"[0-9a-f]{64}", real_rubric.hash)
        again = load_definition(REAL_RUBRIC_PATH)
        assert again is not real_rubric
        assert again.hash == real_rubric.hash
        assert real_rubric.hash == content_hash(load_yaml(REAL_RUBRIC_PATH))

    def test_hash_ignores_formatting_and_key_order(self, real_rubric, tmp_path):
        data = load_yaml(REAL_RUBRIC_PATH)
        # sort_keys=True reorders every mapping (e.g. "dimensions" before "id"); flow style,
        # width and the dropped comments change the text completely.
        sorted_path = dump_yaml(data, tmp_path / "sorted.yaml", sort_keys=True, width=60)
        flow_path = dump_yaml(_reverse_keys(data), tmp_path / "flow.yaml", sort_keys=False,
                              default_flow_style=True, width=4000)
        original_text = REAL_RUBRIC_PATH.read_text(encoding="utf-8")
        assert sorted_path.read_text(encoding="utf-8") != original_text
        assert flow_path.read_text(encoding="utf-8") != original_text
        # reversed key order: the original starts with "id:", the copy with the dimensions
        assert flow_path.read_text(encoding="utf-8").startswith("{dimensions: [{criteria: ")
        for path in (sorted_path, flow_path):
            reloaded = load_definition(path)
            assert reloaded.hash == real_rubric.hash
            assert reloaded.source == str(path)  # the source differs, the hash does not

    def test_hash_changes_when_content_changes(self, real_rubric, tmp_path):
        data = load_yaml(REAL_RUBRIC_PATH)
        data["dimensions"][0]["criteria"][0]["descriptors"][3]["en"] += " (edited)"
        edited = load_definition(dump_yaml(data, tmp_path / "edited.yaml", sort_keys=False))
        assert re.fullmatch(r"[0-9a-f]{64}", edited.hash)
        assert edited.hash != real_rubric.hash

    def test_instrument_text_gap_every_text_in_every_language(self, real_rubric):
        """The "instrument text gap" test: no empty text in es/en/pt anywhere in the rubric."""
        assert set(REQUIRED_LANGUAGES) <= set(real_rubric.languages)
        gaps = [
            f"{where}/{lang}"
            for where, text in all_texts(real_rubric)
            for lang in REQUIRED_LANGUAGES
            if not (text.values.get(lang) or "").strip()
        ]
        assert gaps == []
        # sanity: the walk really covered the rubric
        # 1 title + 1 description + 5 level names + 5 summaries + 6 dim names + 6 dim descriptions
        # + 18 titles + 18*5 descriptors + at least 18*4 actions
        assert sum(1 for _ in all_texts(real_rubric)) >= 1 + 1 + 5 + 5 + 6 + 6 + 18 + 90 + 72

    def test_text_lookup_per_language_and_fallback(self, real_rubric):
        title = real_rubric.title
        assert title("en").startswith("Rubric")
        assert title("pt").startswith("Rubrica")
        assert title() == title("es")
        assert title("fr") == title("es")  # unknown language falls back to Spanish
        assert Text({"es": "hola", "en": ""})("en") == "hola"  # blank translation falls back too

    @pytest.mark.parametrize("dimension_id", REAL_DIMENSIONS)
    def test_gender_lens_women_migrants_at_levels_3_to_5(self, real_rubric, dimension_id):
        dim = real_rubric.dimension(dimension_id)
        matching = [
            crit.id
            for crit in dim.criteria
            if all(
                WOMEN_MIGRANTS[lang] in crit.descriptors[lvl](lang).lower()
                for lvl in (3, 4, 5)
                for lang in REQUIRED_LANGUAGES
            )
        ]
        assert matching, f"no criterion of {dimension_id} names women migrants at levels 3-5 in es/en/pt"

    def test_descriptors_of_a_criterion_are_distinct(self, real_rubric):
        for crit in real_rubric.criteria:
            for lang in REQUIRED_LANGUAGES:
                texts = [crit.descriptors[lvl](lang).strip() for lvl in LEVELS]
                assert len(set(texts)) == 5, f"{crit.id} ({lang}) repeats a descriptor"

    def test_rubric_defs_folder_validates_clean(self):
        assert validate_path(REAL_RUBRIC_PATH.parents[1]) == []


def _reverse_keys(value):
    if isinstance(value, dict):
        return {k: _reverse_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reverse_keys(v) for v in value]
    return value


# --------------------------------------------------------------------------- the mini fixture


class TestMiniFixture:
    def test_loads(self, mini):
        assert mini.key == ("mini-rubric", "1.0")
        assert [d.id for d in mini.dimensions] == ["alpha", "beta"]
        assert [c.id for c in mini.criteria] == ["a1", "a2", "a3", "b1", "b2"]
        assert mini.languages == ("es", "en", "pt")
        assert mini.source == str(MINI_PATH)
        assert validate_path(MINI_PATH) == []

    def test_descriptor_and_action_texts(self, mini):
        a1 = mini.criterion("a1")
        assert a1.descriptors[4]("pt") == "a1 nível 4"
        assert [t("en") for t in a1.actions[3]] == ["a1 action to 3 (i)", "a1 action to 3 (ii)"]
        assert 1 not in a1.actions  # nothing to do to reach level 1

    def test_descriptor_keys_may_be_quoted(self, mini, tmp_path):
        # "1": ... instead of 1: ... is the same content: same levels, same hash
        data = load_yaml(MINI_PATH)
        for dim in data["dimensions"]:
            for crit in dim["criteria"]:
                crit["descriptors"] = {str(k): v for k, v in crit["descriptors"].items()}
                crit["actions"] = {str(k): v for k, v in crit["actions"].items()}
        quoted = load_definition(dump_yaml(data, tmp_path / "quoted.yaml", sort_keys=False))
        assert tuple(quoted.criterion("b2").descriptors) == (1, 2, 3, 4, 5)
        assert quoted.hash == mini.hash

    def test_decimal_weight(self, mini_variant):
        def edit(data):
            data["dimensions"][0]["weight"] = 1.5

        rubric = load_definition(mini_variant(edit))
        assert rubric.dimension("alpha").weight == Decimal("1.5")
        assert rubric.dimension("beta").weight == Decimal(1)


# --------------------------------------------------------------------------- invalid definitions

# file name -> (JSON-pointer path, or "line" for a parse error; fragment of the message)
INVALID_CASES = {
    "missing_pt_text.yaml": ("/dimensions/0/criteria/1/descriptors/3/pt", "missing text in language 'pt'"),
    "blank_text.yaml": ("/dimensions/0/name/en", "missing text in language 'en'"),
    "missing_language.yaml": ("/languages", "language 'pt' is required"),
    "duplicate_criterion_id.yaml": ("/dimensions/0/criteria/1/id", "duplicate criterion id 'c1'"),
    "duplicate_dimension_id.yaml": ("/dimensions/1/id", "duplicate dimension id 'd1'"),
    "four_levels.yaml": ("/levels", "levels must be exactly [1, 2, 3, 4, 5], found [1, 2, 3, 4]"),
    "negative_weight.yaml": ("/dimensions/1/weight", "weight must be a positive number, found -1"),
    "zero_weight.yaml": ("/dimensions/0/weight", "weight must be a positive number, found 0"),
    "missing_actions_level5.yaml": ("/dimensions/0/criteria/0/actions",
                                    "needs recommended actions for each level [2, 3, 4, 5], found [2, 3, 4]"),
    "empty_actions.yaml": ("/dimensions/0/criteria/1/actions/5", "non-empty"),
    "missing_descriptor.yaml": ("/dimensions/0/criteria/0/descriptors",
                                "needs a descriptor for each level [1, 2, 3, 4, 5], found [1, 2, 3, 5]"),
    "unknown_kind.yaml": ("/kind", "unknown instrument kind 'survey'"),
    "extra_key.yaml": ("/dimensions/0/criteria/1", "'colour' was unexpected"),
    "bad_criterion_id.yaml": ("/dimensions/0/criteria/0/id", "'C-1' does not match"),
    "unquoted_version.yaml": ("/version", "is not of type 'string'"),
    "not_mapping.yaml": ("/", "must be a mapping at the top level"),
    "not_yaml.yaml": ("line", "not valid YAML"),
}


def test_every_invalid_fixture_has_a_case():
    on_disk = {p.name for p in INVALID_DIR.glob("*.yaml")}
    assert on_disk == set(INVALID_CASES)


@pytest.mark.parametrize("name", sorted(INVALID_CASES))
def test_invalid_definition_reports_file_path_and_message(name):
    path = INVALID_DIR / name
    expected_path, fragment = INVALID_CASES[name]

    problems = validate_path(path)

    assert len(problems) == 1, problems  # each fixture breaks exactly one rule
    problem = problems[0]
    assert isinstance(problem, Problem)
    text = str(problem)
    assert name in text and str(path) in text
    assert fragment in problem.message and fragment in text
    if expected_path == "line":
        assert re.search(r": line \d+, column \d+: ", text)
    else:
        assert (problem.path or "/") == expected_path
        # "file: /json/pointer: message"
        assert text == f"{path}: {expected_path}: {problem.message}"

    with pytest.raises(DefinitionError) as excinfo:
        load_definition(path)
    assert excinfo.value.problems == problems
    assert text in str(excinfo.value)


def test_not_yaml_points_at_the_line():
    (problem,) = validate_path(INVALID_DIR / "not_yaml.yaml")
    # the unbalanced flow sequence opened on line 4 breaks at line 5 (the header comment is line 1)
    assert problem.path.startswith("line 5,")


def test_invalid_folder_reports_every_file():
    problems = validate_path(INVALID_DIR)
    assert {Path(p.file).name for p in problems} == set(INVALID_CASES)
    with pytest.raises(DefinitionError) as excinfo:
        load_registry(INVALID_DIR)
    assert len(excinfo.value.problems) == len(problems)


def test_several_problems_in_one_file_are_all_reported(mini_variant):
    def edit(data):
        del data["dimensions"][0]["criteria"][0]["title"]["pt"]
        data["dimensions"][1]["weight"] = -2
        data["dimensions"][1]["criteria"][1]["id"] = "a2"

    path = mini_variant(edit, name="many.yaml")
    found = {(p.path, p.message.split(" (")[0]) for p in validate_path(path)}
    assert found == {
        ("/dimensions/0/criteria/0/title/pt", "missing text in language 'pt'"),
        ("/dimensions/1/weight", "weight must be a positive number, found -2"),
        ("/dimensions/1/criteria/1/id", "duplicate criterion id 'a2'"),
    }


def test_unreadable_encoding_is_a_problem_not_a_crash(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("título: \"Rúbrica\"\n".encode("latin-1"))
    (problem,) = validate_path(path)
    assert problem.file == str(path)
    assert "cannot be read" in problem.message


def test_empty_folder_is_reported(tmp_path):
    assert [p.message for p in validate_path(tmp_path)] == ["no definition files found"]


# --------------------------------------------------------------------------- folders and registry


def test_same_id_and_version_in_two_files_clash(tmp_path):
    first = tmp_path / "a" / "1.0.yaml"
    second = tmp_path / "b" / "copy.yml"
    for target in (first, second):
        target.parent.mkdir()
        shutil.copy(MINI_PATH, target)

    problems = validate_path(tmp_path)

    assert len(problems) == 1
    (clash,) = problems
    assert clash.file == str(second)  # reported on the second file found
    assert clash.path == "/version"
    assert "mini-rubric version 1.0" in clash.message and str(first) in clash.message
    with pytest.raises(DefinitionError) as excinfo:
        load_registry(tmp_path)
    assert excinfo.value.problems == problems


def test_definition_files_skips_schema_folder_and_other_files(tmp_path):
    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "extra.yaml").write_text("not: checked\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("ignored\n", encoding="utf-8")
    shutil.copy(MINI_PATH, tmp_path / "mini.yaml")
    assert definition_files(tmp_path) == [tmp_path / "mini.yaml"]
    assert validate_path(tmp_path) == []


def test_registry_get_and_latest_compare_versions_numerically(mini_variant, tmp_path):
    root = tmp_path / "defs"
    for version in ("1.0", "1.2", "1.10", "1.9"):
        def edit(data, version=version):
            data["version"] = version
            data["title"]["en"] = f"Minimal rubric {version}"

        mini_variant(edit, name=f"{version}.yaml", folder=root / "mini")

    registry = load_registry(root)

    assert isinstance(registry, Registry)
    latest = registry.latest("mini-rubric")
    assert latest is not None and latest.version == "1.10"  # not "1.9": 10 > 9
    assert latest.title("en") == "Minimal rubric 1.10"
    assert registry.get("mini-rubric", "1.2").title("en") == "Minimal rubric 1.2"
    assert registry.get("mini-rubric", "1.1") is None
    assert registry.get("other", "1.0") is None
    assert registry.latest("other") is None
    assert [r.version for r in registry.all()] == ["1.0", "1.2", "1.9", "1.10"]
    assert [r.version for r in registry.rubrics()] == ["1.0", "1.2", "1.9", "1.10"]
    # each version has its own hash (different content)
    assert len({r.hash for r in registry.all()}) == 4


def test_registry_two_instruments(tmp_path):
    shutil.copy(MINI_PATH, tmp_path / "mini.yaml")
    shutil.copy(REAL_RUBRIC_PATH, tmp_path / "ifp.yaml")
    registry = load_registry(tmp_path)
    assert [r.key for r in registry.all()] == [("ifp-migrant-inclusion", "1.0"), ("mini-rubric", "1.0")]
    assert registry.latest("ifp-migrant-inclusion").hash == load_definition(REAL_RUBRIC_PATH).hash


def test_definition_files_under_a_parent_folder_named_schema(tmp_path):
    root = tmp_path / "schema" / "defs"
    root.mkdir(parents=True)
    shutil.copy(MINI_PATH, root / "mini.yaml")
    assert definition_files(root) == [root / "mini.yaml"]


def test_infinite_weight_is_refused(mini_variant):
    def edit(data):
        data["dimensions"][0]["weight"] = float("inf")

    path = mini_variant(edit, name="inf.yaml")
    assert [p.path for p in validate_path(path)] == ["/dimensions/0/weight"]


def test_valid_folder_contains_only_valid_files():
    assert validate_path(VALID_DIR) == []
