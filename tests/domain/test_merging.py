"""Three-way merge of concurrent edits (rubric_app.domain.merging)."""
from __future__ import annotations

from rubric_app.domain.merging import (
    ANSWER_FIELDS,
    FieldConflict,
    answer_fields,
    answer_from_fields,
    fingerprint,
    fingerprints,
    merge_fields,
    parse_fingerprints,
)
from rubric_app.domain.scoring import CriterionAnswer

BLANK = {"choice": None, "na_reason": "", "evidence": "", "target": None}


def base_of(values: dict) -> dict:
    return parse_fingerprints(fingerprints(values, ANSWER_FIELDS), ANSWER_FIELDS)


def test_fingerprints_are_stable_distinct_and_round_trip():
    assert fingerprint("Acta 12") == fingerprint("Acta 12")
    assert len({fingerprint(v) for v in (None, "", 0, "0", 3, "3", "na", "ñandú", "\ud800")}) == 9  # lone surrogate too
    text = fingerprints({**BLANK, "choice": 3}, ANSWER_FIELDS)
    assert parse_fingerprints(text, ANSWER_FIELDS) == {f: fingerprint(v) for f, v in {**BLANK, "choice": 3}.items()}


def test_malformed_fingerprints_are_refused():
    for bad in (None, "", "x", "a.b.c.d", ".".join(["0" * 16] * 3), ".".join(["G" * 16] * 4), ".".join(["0" * 15] * 4)):
        assert parse_fingerprints(bad, ANSWER_FIELDS) is None


def test_unchanged_fields_keep_what_others_stored():
    start = {**BLANK, "choice": 2, "evidence": "Acta 12"}
    stored = {**start, "evidence": "Acta 12 y anexo"}  # someone else changed the evidence
    mine = {**start, "choice": 4}  # I changed the level only
    changes, conflicts = merge_fields(stored, mine, base_of(start))
    assert changes == {"choice": 4} and conflicts == []


def test_the_same_field_changed_on_both_sides_is_a_conflict():
    start = {**BLANK, "choice": 2, "evidence": "Acta 12"}
    stored = {**start, "evidence": "Acta 12 (dirección)"}
    mine = {**start, "evidence": "Acta 12 (admisiones)", "target": 4}
    changes, conflicts = merge_fields(stored, mine, base_of(start))
    assert changes == {"target": 4}
    assert conflicts == [FieldConflict("evidence", "Acta 12 (admisiones)", "Acta 12 (dirección)")]


def test_both_sides_making_the_same_change_is_no_conflict():
    start = {**BLANK, "choice": 2}
    stored = {**start, "choice": 3}
    changes, conflicts = merge_fields(stored, {**start, "choice": 3}, base_of(start))
    assert changes == {} and conflicts == []


def test_without_a_base_the_writer_saw_the_stored_values():
    stored = {**BLANK, "choice": 2, "evidence": "x"}
    changes, conflicts = merge_fields(stored, {"evidence": "y"}, None)
    assert changes == {"evidence": "y"} and conflicts == []


def test_only_the_fields_sent_are_considered():
    stored = {**BLANK, "choice": 2, "evidence": "Acta 12"}
    changes, conflicts = merge_fields(stored, {"choice": 5}, base_of(stored))
    assert changes == {"choice": 5} and conflicts == []


def test_a_blank_page_over_stored_answers_conflicts_instead_of_blanking():
    stored = {**BLANK, "choice": 3, "evidence": "Acta 12"}
    blank_base = base_of(BLANK)
    # a page that started blank and still is blank changes nothing
    assert merge_fields(stored, dict(BLANK), blank_base) == ({}, [])
    # one that started blank and chose a level conflicts with the level stored meanwhile
    changes, conflicts = merge_fields(stored, {**BLANK, "choice": 4}, blank_base)
    assert changes == {} and [c.field for c in conflicts] == ["choice"]


def test_answer_fields_round_trip():
    for answer in (CriterionAnswer("a1", 3, False, "", None, "ev"), CriterionAnswer("a1", None, True, "sin sedes", None, ""),
                   CriterionAnswer("a1", 2, False, "", 4, ""), CriterionAnswer("a1")):
        assert answer_from_fields("a1", answer_fields(answer)) == answer
    assert answer_fields(None) == BLANK
