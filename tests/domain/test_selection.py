"""SDE provider selection (DOMAIN.md, "Instrument 2"), checked against hand-computed numbers.

tests/data/selection/mini_providers.yaml: three categories, default weight 1 each --
``marketing`` (items m1, m2, m3), ``legal`` (l1, l2), ``finance`` (f1, f2); scale 0..4; eligibility
facts entrepreneurship_training, commitment_letter, facilitator_staff.

Category score = mean assessed item / 4 * 100, so with these item counts:
marketing is a multiple of 100/12 = 8.33..., legal and finance multiples of 12.5.
"""
from __future__ import annotations

import random
from dataclasses import FrozenInstanceError, replace
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest

from rubric_app.domain.instruments import ProviderInstrument, load_definition
from rubric_app.domain.selection import (
    BORDERLINE,
    KNOCKOUT,
    MIN_SCORE,
    MISSING_SCORES,
    ROBUST,
    Exclusion,
    ProviderInput,
    RoundResult,
    RoundSettings,
    SelectionError,
    apply_overrides,
    category_scores,
    round_fraction,
    run_round,
    validate_providers,
    validate_settings,
    weighted_total,
)

from ._support import DATA_DIR, PROJECT_ROOT
from .test_layering import forbidden_imports

D = Decimal
F = Fraction
MINI_PROVIDERS_PATH = DATA_DIR / "selection" / "mini_providers.yaml"
REAL_PATH = PROJECT_ROOT / "rubric_defs" / "sde_providers" / "1.0.yaml"
SELECTION_PY = PROJECT_ROOT / "rubric_app" / "domain" / "selection.py"
ALL_FACTS = ("entrepreneurship_training", "commitment_letter", "facilitator_staff")
YES = {fact: True for fact in ALL_FACTS}
EQUAL = {"marketing": D(1), "legal": D(1), "finance": D(1)}


@pytest.fixture(scope="module")
def inst() -> ProviderInstrument:
    return load_definition(MINI_PROVIDERS_PATH)


def prov(code: str, country: str = "AR", m=(), l=(), f=(), facts=None) -> ProviderInput:
    """A provider: ``m``/``l``/``f`` are the item scores of marketing/legal/finance in item order
    (None = blank; a short tuple leaves the remaining items out)."""
    items = {}
    for prefix, values in (("m", m), ("l", l), ("f", f)):
        for i, value in enumerate(values, start=1):
            items[f"{prefix}{i}"] = value
    return ProviderInput(code, country, items, dict(YES if facts is None else facts))


def settings(**kw) -> RoundSettings:
    kw.setdefault("draws", 0)
    return RoundSettings(**kw)


# --------------------------------------------------------------------------- category scores


def test_category_scores_mean_over_four_times_100(inst):
    scores = category_scores(inst, prov("X", m=(2, 3, 4), l=(4, None), f=()).item_scores)
    # marketing (2+3+4)/3 = 3 -> 3/4*100 = 75; legal: l2 blank, 4/1 = 4 -> 100; finance: nothing assessed
    assert scores == {"marketing": 75, "legal": 100, "finance": None}
    assert list(scores) == ["marketing", "legal", "finance"]  # instrument order
    assert isinstance(scores["marketing"], Fraction)


def test_category_scores_are_exact_fractions(inst):
    scores = category_scores(inst, {"m1": 1, "m2": 2, "m3": 2, "l1": 0, "l2": 1, "f1": 0, "f2": 0})
    # marketing (1+2+2)/3 = 5/3 -> 5/3/4*100 = 125/3 = 41.666...; legal 1/2 -> 12.5; finance 0
    assert scores == {"marketing": F(125, 3), "legal": F(25, 2), "finance": 0}


def test_blank_items_missing_key_and_none_are_the_same(inst):
    # m1 missing from the mapping, m2 None, m3 = 1 -> 1/4*100 = 25
    assert category_scores(inst, {"m2": None, "m3": 1})["marketing"] == 25
    assert category_scores(inst, {"m1": None, "m2": None, "m3": None})["marketing"] is None
    assert category_scores(inst, {}) == {"marketing": None, "legal": None, "finance": None}


@pytest.mark.parametrize("bad", [5, -1, True, 2.5, "3"])
def test_category_scores_reject_values_off_the_scale(inst, bad):
    with pytest.raises(ValueError, match="m1"):
        category_scores(inst, {"m1": bad})


# --------------------------------------------------------------------------- weighted total


def test_weighted_total_equal_weights():
    scores = {"marketing": F(75), "legal": F(100), "finance": F(50)}
    # (75 + 100 + 50) / 3 = 225/3 = 75
    assert weighted_total(scores, {"marketing": F(1), "legal": F(1), "finance": F(1)}) == 75


def test_weighted_total_unequal_weights():
    scores = {"marketing": F(75), "legal": F(100), "finance": F(50)}
    # (3*75 + 1*100 + 0*50) / (3+1+0) = 325/4 = 81.25
    assert weighted_total(scores, {"marketing": F(3), "legal": F(1), "finance": F(0)}) == F(325, 4)
    # decimal weights, exactly: (0.5*75 + 0.25*100 + 0.25*50) / 1 = 37.5 + 25 + 12.5 = 75
    assert weighted_total(scores, {"marketing": F(D("0.5")), "legal": F(D("0.25")), "finance": F(D("0.25"))}) == 75


def test_weighted_total_is_exact():
    scores = {"marketing": F(125, 3), "legal": F(100), "finance": F(0)}
    # (125/3 + 100 + 0) / 3 = (425/3) / 3 = 425/9 = 47.222...
    assert weighted_total(scores, {"marketing": F(1), "legal": F(1), "finance": F(1)}) == F(425, 9)


def test_weighted_total_missing_category_counts_as_zero():
    # (75 + 0 + 50) / 3 = 125/3
    assert weighted_total({"marketing": F(75), "legal": None, "finance": F(50)},
                          {"marketing": F(1), "legal": F(1), "finance": F(1)}) == F(125, 3)


def test_weighted_total_needs_positive_weights():
    with pytest.raises(ValueError):
        weighted_total({"marketing": F(75)}, {"marketing": F(0)})


def test_round_fraction_is_exact_half_up():
    assert round_fraction(F(2469, 200), 2) == D("12.35")          # 12.345 exactly: tie -> up
    assert round_fraction(F(12345, 1000) - F(1, 10**30), 2) == D("12.34")  # just below the tie
    assert round_fraction(F(200, 3), 2) == D("66.67")
    assert round_fraction(F(-2469, 200), 2) == D("-12.35")        # ties away from zero, like ROUND_HALF_UP
    assert str(round_fraction(F(0), 3)) == "0.000"


# --------------------------------------------------------------------------- eligibility


def test_every_exclusion_reason_listed_in_instrument_order(inst):
    x = prov("AR-X", m=(1, 2, 2), l=(None, None), f=(1, 1),
             facts={"entrepreneurship_training": True, "facilitator_staff": False})  # commitment_letter missing
    s = settings(knockouts=("facilitator_staff", "commitment_letter", "entrepreneurship_training"),
                 min_scores={"marketing": D(60), "finance": D(50), "legal": D(10)}, default_quota=1)
    r = run_round(inst, [x], s).by_code("AR-X")
    # marketing 5/3/4*100 = 41.67 < 60; legal: nothing assessed (its minimum is not reported again);
    # finance (1+1)/2 = 1 -> 25 < 50
    assert r.exclusions == (
        Exclusion(KNOCKOUT, "commitment_letter"),   # instrument order of facts, not the settings' order
        Exclusion(KNOCKOUT, "facilitator_staff"),
        Exclusion(MISSING_SCORES, "legal"),
        Exclusion(MIN_SCORE, "marketing", D("41.67"), D(60)),
        Exclusion(MIN_SCORE, "finance", D("25.00"), D(50)),
    )
    assert not r.eligible and r.rank is None and not r.selected
    # the total is still shown: (125/3 + 0 + 25) / 3 = (200/3)/3 = 200/9 = 22.22
    assert r.total == D("22.22")
    assert r.category_scores == {"marketing": D("41.67"), "legal": None, "finance": D("25.00")}


@pytest.mark.parametrize("fact", ALL_FACTS)
def test_each_knockout_alone(inst, fact):
    facts = dict(YES, **{fact: False})
    p = prov("P", m=(4, 4, 4), l=(4, 4), f=(4, 4), facts=facts)
    excluded = run_round(inst, [p], settings(knockouts=ALL_FACTS, default_quota=1)).by_code("P")
    assert excluded.exclusions == (Exclusion(KNOCKOUT, fact),) and not excluded.selected
    # not required in this round: the same provider is eligible and selected
    others = tuple(f for f in ALL_FACTS if f != fact)
    kept = run_round(inst, [p], settings(knockouts=others, default_quota=1)).by_code("P")
    assert kept.eligible and kept.exclusions == () and kept.selected and kept.rank == 1


def test_missing_fact_counts_as_false(inst):
    p = prov("P", m=(4, 4, 4), l=(4, 4), f=(4, 4), facts={})
    r = run_round(inst, [p], settings(knockouts=("commitment_letter",))).by_code("P")
    assert r.exclusions == (Exclusion(KNOCKOUT, "commitment_letter"),)


def test_min_score_is_inclusive_and_exact(inst):
    p = prov("P", m=(1, 2, 2), l=(4, 4), f=(2, 2))
    # finance (2+2)/2 = 2 -> 50: a minimum of 50 is met
    assert run_round(inst, [p], settings(min_scores={"finance": D(50)})).by_code("P").eligible
    # marketing 125/3 = 41.666... is shown as 41.67 but fails a minimum of 41.67 (exact comparison);
    # the exclusion shows enough decimals to make that visible
    r = run_round(inst, [p], settings(min_scores={"marketing": D("41.67")})).by_code("P")
    assert r.category_scores["marketing"] == D("41.67")
    assert r.exclusions == (Exclusion(MIN_SCORE, "marketing", D("41.667"), D("41.67")),)
    assert run_round(inst, [p], settings(min_scores={"marketing": D("41.66")})).by_code("P").eligible


def test_missing_scores_make_a_provider_ineligible(inst):
    # legal: both items blank; the others assessed
    p = prov("P", m=(4, 4, 4), l=(None, None), f=(4, 4))
    q = prov("Q", m=(1, 1, 1), l=(1, 1), f=(1, 1))
    result = run_round(inst, [p, q], settings(default_quota=1))
    r = result.by_code("P")
    assert r.exclusions == (Exclusion(MISSING_SCORES, "legal"),)
    # (100 + 0 + 100) / 3 = 66.67 would beat Q's 25, but P is not ranked: Q is selected
    assert r.total == D("66.67") and r.rank is None and not r.selected
    assert result.by_code("Q").selected and result.by_code("Q").rank == 1


def test_missing_scores_in_a_category_weighed_zero_do_not_exclude(inst):
    p = prov("P", m=(4, 4, 4), l=(None, None), f=(2, 2))
    r = run_round(inst, [p], settings(weights={"legal": D(0)}, default_quota=1)).by_code("P")
    # legal does not count this round: (1*100 + 0*0 + 1*50) / 2 = 75
    assert r.eligible and r.total == D("75.00") and r.category_scores["legal"] is None and r.selected
    # ... unless the round sets a minimum for it
    r = run_round(inst, [p], settings(weights={"legal": D(0)}, min_scores={"legal": D(0)})).by_code("P")
    assert r.exclusions == (Exclusion(MISSING_SCORES, "legal"),)


# --------------------------------------------------------------------------- ranking


def ranking_providers() -> list[ProviderInput]:
    return [
        # (marketing + legal + finance) / 3; "cat>=50" = categories scoring at least 50
        prov("AR-03", m=(4, 4, 4), l=(0, 0), f=(2, 2)),    # (100 + 0 + 50)/3 = 50,      cat>=50: 2
        prov("AR-02", m=(2, 2, 2), l=(2, 2), f=(2, 2)),    # (50 + 50 + 50)/3 = 50,      cat>=50: 3
        prov("AR-01", m=(4, 4, 4), l=(2, 2), f=(0, 0)),    # (100 + 50 + 0)/3 = 50,      cat>=50: 2
        prov("AR-04", m=(4, 4, 4), l=(4, 4), f=(0, 0)),    # (100 + 100 + 0)/3 = 66.67,  cat>=50: 2
        prov("AR-00", m=(4, 4, 4), l=(4, 4), f=(4, 4), facts={}),  # 100 but no facts: knocked out
        prov("CO-01", "CO", m=(1, 1, 1), l=(1, 1), f=(1, 1)),      # 25
        prov("AR-99", m=(0, 0, 0), l=(0, 0), f=(0, 0)),    # 0, cat>=50: 0
    ]


def test_ranking_ties_broken_by_categories_at_least_50_then_code(inst):
    result = run_round(inst, ranking_providers(), settings(knockouts=ALL_FACTS))
    ar = [(r.code, r.rank, r.total, r.categories_at_least_50) for r in result.results if r.country == "AR"]
    assert ar == [
        ("AR-04", 1, D("66.67"), 2),
        ("AR-02", 2, D("50.00"), 3),   # tie at 50: three categories >= 50 beats two
        ("AR-01", 3, D("50.00"), 2),   # tie at 50 and 2: code AR-01 < AR-03
        ("AR-03", 4, D("50.00"), 2),
        ("AR-99", 5, D("0.00"), 0),
        ("AR-00", None, D("100.00"), 3),  # ineligible: last, unranked
    ]
    assert result.by_code("CO-01").rank == 1   # ranks are per country
    assert [r.code for r in result.results] == ["AR-04", "AR-02", "AR-01", "AR-03", "AR-99", "AR-00", "CO-01"]
    assert result.countries() == ["AR", "CO"]


def test_ranking_compares_exact_totals_not_rounded_ones(inst):
    # weights marketing 1, legal 1/10000, finance 1
    w = {"marketing": D(1), "legal": D("0.0001"), "finance": D(1)}
    a = prov("AR-9", m=(2, 2, 2), l=(4, 4), f=(2, 2))  # (50 + 0.01 + 50) / 2.0001 = 1000100/20001 = 50.0024998...
    b = prov("AR-1", m=(2, 2, 2), l=(2, 2), f=(2, 2))  # (50 + 0.005 + 50) / 2.0001 = 50 exactly
    result = run_round(inst, [b, a], settings(weights=w))
    assert result.by_code("AR-9").total == result.by_code("AR-1").total == D("50.00")  # equal when rounded
    assert result.by_code("AR-9").categories_at_least_50 == result.by_code("AR-1").categories_at_least_50 == 3
    # the code would put AR-1 first; the exact totals put AR-9 first
    assert (result.by_code("AR-9").rank, result.by_code("AR-1").rank) == (1, 2)


def test_code_tie_break_is_plain_string_order(inst):
    same = dict(m=(3, 3, 3), l=(3, 3), f=(3, 3))
    result = run_round(inst, [prov("P9", **same), prov("P10", **same)], settings())
    # "P10" < "P9" as strings (the character "1" sorts before "9")
    assert [(r.code, r.rank) for r in result.results] == [("P10", 1), ("P9", 2)]


# --------------------------------------------------------------------------- selection rules


def test_quota_per_country_and_default_quota(inst):
    providers = ranking_providers() + [
        prov("PE-01", "PE", m=(2, 2, 2), l=(2, 2), f=(2, 2)),   # 50
        prov("PE-02", "PE", m=(3, 3, 3), l=(3, 3), f=(3, 3)),   # 75
        prov("PE-03", "PE", m=(4, 4, 4), l=(4, 4), f=(4, 4), facts={}),  # 100, knocked out
    ]
    result = run_round(inst, providers, settings(knockouts=ALL_FACTS, quotas={"AR": 2, "CO": 3}, default_quota=1))
    # AR: top 2 of AR-04, AR-02, AR-01, AR-03, AR-99; CO: quota 3 but one eligible; PE: default quota 1
    assert [r.code for r in result.selected()] == ["AR-04", "AR-02", "CO-01", "PE-02"]
    assert not result.by_code("PE-03").selected


def test_quota_zero_selects_nobody(inst):
    result = run_round(inst, ranking_providers(), settings(quotas={"AR": 0}, default_quota=5))
    assert [r.code for r in result.selected()] == ["CO-01"]


def test_threshold_rule_includes_a_provider_exactly_at_the_threshold(inst):
    result = run_round(inst, ranking_providers(), settings(knockouts=ALL_FACTS, rule="threshold", threshold=D(50)))
    # totals 66.67, 50, 50, 50 (selected: >= 50), 0, 25 (not); AR-00 is 100 but ineligible
    assert [r.code for r in result.selected()] == ["AR-04", "AR-02", "AR-01", "AR-03"]
    assert result.by_code("AR-03").rank == 4   # ranks are still given under the threshold rule


def test_threshold_compares_the_exact_total(inst):
    # AR-04 = 200/3 = 66.666..., shown as 66.67, is below a threshold of 66.67
    result = run_round(inst, ranking_providers(), settings(rule="threshold", threshold=D("66.67")))
    assert result.by_code("AR-04").total == D("66.67") and not result.by_code("AR-04").selected
    result = run_round(inst, ranking_providers(), settings(rule="threshold", threshold=D("66.66")))
    assert result.by_code("AR-04").selected


# --------------------------------------------------------------------------- settings


def test_empty_weights_use_the_instrument_defaults_and_unlisted_categories_keep_theirs(inst):
    heavy = replace(inst, categories=tuple(replace(c, weight=D(2)) if c.id == "finance" else c for c in inst.categories))
    p = prov("P", m=(4, 4, 4), l=(0, 0), f=(2, 2))  # 100, 0, 50
    # defaults 1, 1, 2: (100 + 0 + 2*50) / 4 = 50
    default = run_round(heavy, [p], settings())
    assert default.by_code("P").total == D("50.00")
    assert dict(default.weights) == {"marketing": 1, "legal": 1, "finance": 2}
    # legal set to 3, the others default: (100 + 3*0 + 2*50) / (1+3+2) = 200/6 = 33.33
    assert run_round(heavy, [p], settings(weights={"legal": D(3)})).by_code("P").total == D("33.33")


def test_settings_are_frozen_copies():
    weights = {"marketing": D(1)}
    s = RoundSettings(weights=weights, knockouts=["commitment_letter"])
    weights["marketing"] = D(9)
    assert s.weights == {"marketing": D(1)} and s.knockouts == ("commitment_letter",)
    with pytest.raises(TypeError):
        s.weights["legal"] = D(1)
    with pytest.raises(FrozenInstanceError):
        s.rule = "threshold"


def test_valid_settings_have_no_problems(inst):
    assert validate_settings(inst, RoundSettings()) == []
    assert validate_settings(inst, RoundSettings(weights=EQUAL, knockouts=ALL_FACTS, min_scores={"legal": D(50)},
                                                 rule="threshold", threshold=D(60), draws=100_000, seed=7)) == []
    assert validate_settings(inst, RoundSettings(weights={"legal": D(0)}, quotas={"AR": 0}, draws=0)) == []


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"weights": {"digital": D(1)}}, "unknown category 'digital'"),
        ({"weights": {"legal": D(-1)}}, "must not be negative"),
        ({"weights": {"legal": D("NaN")}}, "must be a number"),
        ({"weights": {"marketing": D(0), "legal": D(0), "finance": D(0)}}, "at least one category"),
        ({"knockouts": ("has_website",)}, "unknown eligibility fact 'has_website'"),
        ({"min_scores": {"digital": D(50)}}, "unknown category 'digital'"),
        ({"min_scores": {"legal": D(-1)}}, "between 0 and 100"),
        ({"min_scores": {"legal": D("100.01")}}, "between 0 and 100"),
        ({"rule": "lottery"}, "unknown rule 'lottery'"),
        ({"rule": "threshold"}, "needs a threshold"),
        ({"rule": "threshold", "threshold": D(101)}, "between 0 and 100"),
        ({"rule": "threshold", "threshold": D(-1)}, "between 0 and 100"),
        ({"quotas": {"AR": -1}}, "must not be negative"),
        ({"quotas": {"AR": 1.5}}, "whole number"),
        ({"quotas": {"ar": 1}}, "not an ISO 3166-1 alpha-2"),
        ({"default_quota": -2}, "must not be negative"),
        ({"draws": -1}, "between 0 and 100000"),
        ({"draws": 100_001}, "between 0 and 100000"),
        ({"seed": -1}, "seed"),
    ],
)
def test_validate_settings_problems(inst, kwargs, fragment):
    problems = validate_settings(inst, RoundSettings(**kwargs))
    assert len(problems) == 1 and fragment in problems[0], problems
    with pytest.raises(SelectionError) as err:
        run_round(inst, [prov("P", m=(1, 1, 1), l=(1, 1), f=(1, 1))], RoundSettings(**kwargs))
    assert err.value.problems == problems


def test_validate_settings_lists_every_problem(inst):
    s = RoundSettings(weights={"digital": D(1), "legal": D(-1)}, rule="threshold", draws=-5)
    assert len(validate_settings(inst, s)) == 4  # unknown category, negative weight, no threshold, draws


def test_validate_providers(inst):
    providers = [
        prov("P1", m=(1, 1, 1)),
        prov("P1", m=(1, 1, 1)),                                   # duplicate code
        ProviderInput("P2", "co", {}, {}),                          # country not upper-case alpha-2
        ProviderInput("P3", "AR", {"m1": 5, "x9": 1}, {}),          # score off the scale, unknown item
        ProviderInput("P4", "AR", {}, {"commitment_letter": "yes", "iso9001": True}),  # not a bool, unknown fact
        ProviderInput("", "AR", {}, {}),                            # empty code
    ]
    problems = validate_providers(inst, providers)
    assert len(problems) == 7, problems
    for fragment in ("P1: duplicate code", "'co'", "'m1'", "unknown item 'x9'", "'commitment_letter' must be True or False",
                     "unknown eligibility fact 'iso9001'", "non-empty"):
        assert any(fragment in p for p in problems), fragment
    with pytest.raises(SelectionError):
        run_round(inst, providers, settings())


# --------------------------------------------------------------------------- overrides


def test_overrides_flip_selection_and_keep_frequencies(inst):
    result = run_round(inst, ranking_providers(), RoundSettings(knockouts=ALL_FACTS, default_quota=1, draws=200))
    assert [r.code for r in result.selected()] == ["AR-04", "CO-01"]
    changed = apply_overrides(result, {"AR-04": False, "AR-03": True, "AR-00": True})
    assert [r.code for r in changed.selected()] == ["AR-03", "AR-00", "CO-01"]
    assert [r.code for r in changed.results if r.overridden] == ["AR-04", "AR-03", "AR-00"]
    for before, after in zip(result.results, changed.results, strict=False):
        assert (after.code, after.frequency, after.flag, after.rank, after.total, after.eligible) == \
               (before.code, before.frequency, before.flag, before.rank, before.total, before.eligible)
    assert changed.by_code("AR-00").exclusions == (Exclusion(KNOCKOUT, "entrepreneurship_training"),
                                                  Exclusion(KNOCKOUT, "commitment_letter"),
                                                  Exclusion(KNOCKOUT, "facilitator_staff"))
    assert changed.by_code("AR-04").overridden and not changed.by_code("AR-04").selected
    # the original is untouched
    assert result.by_code("AR-04").selected and not result.by_code("AR-04").overridden
    assert changed.settings == result.settings and changed.instrument_hash == result.instrument_hash


def test_override_of_unknown_code_is_a_key_error(inst):
    result = run_round(inst, ranking_providers(), settings(default_quota=1))
    with pytest.raises(KeyError):
        apply_overrides(result, {"ZZ-404": True})
    with pytest.raises(TypeError):
        apply_overrides(result, {"AR-04": "yes"})
    with pytest.raises(KeyError):
        result.by_code("ZZ-404")


# --------------------------------------------------------------------------- sensitivity


def factors(draws: int, seed: int, n: int = 3) -> np.ndarray:
    """The factors the rules prescribe, drawn independently of the module under test."""
    return np.random.default_rng(seed).uniform(0.8, 1.2, size=(draws, n))


def test_far_ahead_provider_is_selected_in_every_draw(inst):
    providers = [prov("AR-1", m=(4, 4, 4), l=(4, 4), f=(4, 4)),   # 100 in every category
                 prov("AR-2", m=(1, 1, 1), l=(2, 2), f=(1, 1)),   # 25, 50, 25
                 prov("AR-3", m=(2, 2, 2), l=(1, 1), f=(1, 1))]   # 50, 25, 25
    result = run_round(inst, providers, RoundSettings(default_quota=1, draws=1000, seed=3))
    assert (result.by_code("AR-1").frequency, result.by_code("AR-1").flag) == (D("1.000"), ROBUST)
    assert (result.by_code("AR-2").frequency, result.by_code("AR-2").flag) == (D("0.000"), ROBUST)
    assert (result.by_code("AR-3").frequency, result.by_code("AR-3").flag) == (D("0.000"), ROBUST)


def test_identical_profiles_are_decided_by_the_tie_rule_in_every_draw(inst):
    same = dict(m=(3, 2, 1), l=(4, 0), f=(2, 3))
    result = run_round(inst, [prov("CO-2", "CO", **same), prov("CO-1", "CO", **same)],
                       RoundSettings(default_quota=1, draws=1000, seed=11))
    # equal totals under any weights, equal counts of categories >= 50: the code decides, every draw
    assert (result.by_code("CO-1").frequency, result.by_code("CO-1").flag) == (D("1.000"), ROBUST)
    assert (result.by_code("CO-2").frequency, result.by_code("CO-2").flag) == (D("0.000"), ROBUST)


def test_identical_totals_tie_rule_uses_categories_at_least_50_per_draw(inst):
    # not identical profiles, so the totals differ under perturbed weights: only the base weights tie.
    # A: 100, 0, 50 (cat>=50: 2); B: 50, 50, 50 (cat>=50: 3); equal weights: both 50, B ranks first
    a = prov("AR-A", m=(4, 4, 4), l=(0, 0), f=(2, 2))
    b = prov("AR-B", m=(2, 2, 2), l=(2, 2), f=(2, 2))
    result = run_round(inst, [a, b], RoundSettings(default_quota=1, draws=2000, seed=5))
    assert result.by_code("AR-B").selected and result.by_code("AR-B").rank == 1
    # per draw: A - B = (50 f1 - 50 f2) / sum(f) -> A wins iff f1 > f2 (B on an exact tie)
    fac = factors(2000, 5)
    a_wins = int((fac[:, 0] > fac[:, 1]).sum())
    assert result.by_code("AR-A").frequency == round_fraction(F(a_wins, 2000), 3)
    assert result.by_code("AR-B").frequency == round_fraction(F(2000 - a_wins, 2000), 3)


def test_pair_that_flips_under_weight_changes_is_borderline(inst):
    # A strong in marketing, weak in legal; B the reverse; equal weights, quota 1.
    # A = (100 f1 + 0 f2 + 50 f3) / sum(f), B = (0 f1 + 100 f2 + 50 f3) / sum(f):
    # A is selected iff f1 > f2, or f1 == f2 (tie: both have 2 categories >= 50, then code "AR-A" < "AR-B")
    a = prov("AR-A", m=(4, 4, 4), l=(0, 0), f=(2, 2))
    b = prov("AR-B", m=(0, 0, 0), l=(4, 4), f=(2, 2))
    result = run_round(inst, [a, b], RoundSettings(default_quota=1, draws=1000, seed=42))
    fac = factors(1000, 42)
    a_wins = int((fac[:, 0] >= fac[:, 1]).sum())
    ra, rb = result.by_code("AR-A"), result.by_code("AR-B")
    assert ra.frequency == D(a_wins) / 1000 and rb.frequency == D(1000 - a_wins) / 1000
    assert D("0.1") < ra.frequency < D("0.9") and D("0.1") < rb.frequency < D("0.9")
    assert ra.flag == rb.flag == BORDERLINE
    assert ra.selected and not rb.selected   # base weights: 50 = 50, tie -> code


def test_threshold_sensitivity(inst):
    at = prov("AR-1", m=(2, 2, 2), l=(2, 2), f=(2, 2))    # 50 in every category: 50 under ANY weights
    mixed = prov("AR-2", m=(4, 4, 4), l=(0, 0), f=(3, 3))  # 100, 0, 75: base (100 + 0 + 75)/3 = 58.33
    low = prov("AR-3", m=(1, 1, 1), l=(1, 1), f=(1, 1))    # 25 everywhere
    out = prov("AR-4", m=(4, 4, 4), l=(4, 4), f=(4, 4), facts={})  # 100 but knocked out
    result = run_round(inst, [at, mixed, low, out],
                       RoundSettings(knockouts=ALL_FACTS, rule="threshold", threshold=D(55), draws=1000, seed=9))
    fac = factors(1000, 9)
    # AR-2 >= 55 iff 100 f1 + 75 f3 >= 55 (f1 + f2 + f3), i.e. 45 f1 - 55 f2 + 20 f3 >= 0
    wins = int((45 * fac[:, 0] - 55 * fac[:, 1] + 20 * fac[:, 2] >= 0).sum())
    assert result.by_code("AR-2").frequency == round_fraction(F(wins, 1000), 3)
    assert result.by_code("AR-3").frequency == result.by_code("AR-4").frequency == D("0.000")
    # exactly at the threshold under every weighting: selected in every draw, no float rounding loss
    result = run_round(inst, [at], RoundSettings(rule="threshold", threshold=D(50), draws=1000, seed=9))
    assert (result.by_code("AR-1").frequency, result.by_code("AR-1").flag) == (D("1.000"), ROBUST)


def test_no_draws_no_frequency(inst):
    result = run_round(inst, ranking_providers(), RoundSettings(default_quota=1, draws=0))
    assert all(r.frequency is None and r.flag is None for r in result.results)


def test_ineligible_providers_are_never_selected_in_draws_and_have_no_flag(inst):
    result = run_round(inst, ranking_providers(), RoundSettings(knockouts=ALL_FACTS, default_quota=2, draws=300))
    ineligible = result.by_code("AR-00")
    assert not ineligible.eligible
    # never selected, but neither "robust" nor "borderline": the weights cannot select it at all
    assert ineligible.frequency == D("0.000") and ineligible.flag is None
    assert all(r.flag in (ROBUST, BORDERLINE) for r in result.results if r.eligible)


def test_ineligible_providers_are_not_counted_robust_in_any_rule(inst):
    ok = prov("AR-1", m=(4, 4, 4), l=(4, 4), f=(4, 4))
    knocked = prov("AR-2", m=(4, 4, 4), l=(4, 4), f=(4, 4), facts={})
    missing = prov("AR-3", m=(None, None, None), l=(1, 1), f=(1, 1))
    for settings in (RoundSettings(knockouts=ALL_FACTS, default_quota=1, draws=200, seed=1),
                     RoundSettings(knockouts=ALL_FACTS, rule="threshold", threshold=D(10), draws=200, seed=1)):
        result = run_round(inst, [ok, knocked, missing], settings)
        flags = {r.code: r.flag for r in result.results}
        assert flags == {"AR-1": ROBUST, "AR-2": None, "AR-3": None}, settings.rule
        assert sum(1 for r in result.results if r.flag == ROBUST) == 1


# --------------------------------------------------------------------------- reproducibility


def synthetic(n: int, seed: int) -> list[ProviderInput]:
    """Seeded random providers on the mini instrument; every 7th copies the previous one's scores
    and country (identical profiles: exact ties under every weighting)."""
    rnd = random.Random(seed)
    items = ["m1", "m2", "m3", "l1", "l2", "f1", "f2"]
    out = []
    for i in range(n):
        scores = {item: rnd.choice([0, 1, 2, 3, 4, 4, 3, None if rnd.random() < 0.1 else 2]) for item in items}
        country = rnd.choice(["AR", "CO", "PE", "DO"])
        if i % 7 == 6:
            scores, country = dict(out[-1].item_scores), out[-1].country
        facts = {fact: rnd.random() < 0.9 for fact in ALL_FACTS}
        out.append(ProviderInput(f"P{i:03d}", country, scores, facts))
    return out


def test_same_seed_same_result_and_provider_order_does_not_matter(inst):
    providers = synthetic(120, seed=1)
    s = RoundSettings(knockouts=ALL_FACTS, quotas={"AR": 4, "CO": 2}, default_quota=3, draws=500, seed=2024)
    first = run_round(inst, providers, s)
    assert run_round(inst, providers, s) == first
    shuffled = providers[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != providers
    assert run_round(inst, shuffled, s) == first
    assert run_round(inst, list(reversed(providers)), s) == first


def test_different_seed_changes_only_frequencies(inst):
    providers = synthetic(120, seed=1)
    s = RoundSettings(knockouts=ALL_FACTS, default_quota=3, draws=500, seed=1)
    one, two = run_round(inst, providers, s), run_round(inst, providers, replace(s, seed=2))
    strip = lambda res: [replace(r, frequency=None, flag=None) for r in res.results]  # noqa: E731
    assert strip(one) == strip(two)
    assert [r.frequency for r in one.results] != [r.frequency for r in two.results]


def reference_frequencies(inst, providers, s: RoundSettings) -> dict[str, Fraction]:
    """Slow, obvious implementation of the sensitivity rule: one draw at a time, plain Python."""
    base = run_round(inst, providers, replace(s, draws=0))
    cats = [c.id for c in inst.categories]
    weights = [float(base.weights[c]) for c in cats]
    scores = {p.code: category_scores(inst, p.item_scores) for p in providers}
    eligible = [r for r in base.results if r.eligible]
    times = {r.code: 0 for r in base.results}
    for row in factors(s.draws, s.seed, len(cats)):
        w = [wc * fc for wc, fc in zip(weights, row, strict=False)]
        def total(code):
            acc = 0.0
            for wc, c in zip(w, cats, strict=False):
                acc += wc * float(scores[code][c] or 0)
            return acc / sum(w)
        if s.rule == "threshold":
            for r in eligible:
                times[r.code] += total(r.code) >= float(s.threshold)
            continue
        for country in base.countries():
            group = sorted((r for r in eligible if r.country == country),
                           key=lambda r: (-total(r.code), -r.categories_at_least_50, r.code))
            for r in group[: s.quota(country)]:
                times[r.code] += 1
    return {code: F(n, s.draws) for code, n in times.items()}


@pytest.mark.parametrize("rule", ["quota", "threshold"])
def test_vectorized_sensitivity_matches_a_plain_reference(inst, rule):
    providers = synthetic(80, seed=3)
    s = RoundSettings(knockouts=("commitment_letter",), weights={"marketing": D(2), "legal": D("0.5")},
                      rule=rule, quotas={"AR": 3, "CO": 1}, default_quota=2, threshold=D(60), draws=150, seed=8)
    result = run_round(inst, providers, s)
    expected = reference_frequencies(inst, providers, s)
    assert {r.code: r.frequency for r in result.results} == {c: round_fraction(v, 3) for c, v in expected.items()}
    if rule == "quota":
        # every draw selects min(k, eligible) per country
        per_draw = sum(min(s.quota(c), sum(1 for r in result.results if r.country == c and r.eligible))
                       for c in result.countries())
        assert sum(expected.values()) == per_draw


def test_round_agrees_with_the_reference_functions(inst):
    """run_round's integer fast path gives exactly category_scores + weighted_total, and ranks by them."""
    providers = synthetic(150, seed=6)
    weights = {"marketing": D("1.5"), "legal": D("0.3"), "finance": D(1)}
    result = run_round(inst, providers, settings(weights=weights, knockouts=ALL_FACTS))
    exact_w = {c: F(v) for c, v in weights.items()}
    for p in providers:
        scores = category_scores(inst, p.item_scores)
        r = result.by_code(p.code)
        assert r.total == round_fraction(weighted_total(scores, exact_w), 2)
        assert r.category_scores == {c: None if v is None else round_fraction(v, 2) for c, v in scores.items()}
        assert r.categories_at_least_50 == sum(1 for v in scores.values() if v is not None and v >= 50)
    for country in result.countries():
        eligible = [p for p in providers if p.country == country and result.by_code(p.code).eligible]
        eligible.sort(key=lambda p: (-weighted_total(category_scores(inst, p.item_scores), exact_w),
                                     -result.by_code(p.code).categories_at_least_50, p.code))
        assert [result.by_code(p.code).rank for p in eligible] == list(range(1, len(eligible) + 1))


def test_small_chunks_give_the_same_result(inst, monkeypatch):
    import rubric_app.domain.selection as selection

    providers = synthetic(60, seed=4)
    s = RoundSettings(default_quota=2, draws=300, seed=5)
    whole = run_round(inst, providers, s)
    monkeypatch.setattr(selection, "CHUNK_ELEMENTS", 64)  # ~4 draws per chunk
    assert run_round(inst, providers, s) == whole


# --------------------------------------------------------------------------- result helpers, layering


def test_result_helpers(inst):
    result = run_round(inst, ranking_providers(), settings(knockouts=ALL_FACTS, default_quota=1))
    assert isinstance(result, RoundResult)
    assert result.instrument_hash == inst.hash
    assert [r.code for r in result.selected()] == ["AR-04", "CO-01"]
    assert result.by_code("AR-02").rank == 2
    with pytest.raises(TypeError):
        result.by_code("AR-02").category_scores["legal"] = D(0)


@pytest.mark.skipif(not REAL_PATH.exists(), reason="rubric_defs/sde_providers/1.0.yaml not written yet")
def test_runs_on_the_real_instrument():
    real = load_definition(REAL_PATH)
    assert [c.id for c in real.categories] == ["marketing", "legal", "finance", "inclusion", "infrastructure",
                                               "management", "digital"]
    assert {f.id for f in real.eligibility} >= set(ALL_FACTS)
    rnd = random.Random(0)
    providers = [ProviderInput(f"P{i}", c, {item.id: rnd.randint(0, 4) for item in real.items}, dict(YES))
                 for i, c in enumerate(["AR", "CO", "PE", "DO"] * 5)]
    result = run_round(real, providers, RoundSettings(knockouts=ALL_FACTS, default_quota=2, draws=100))
    assert len(result.selected()) == 8


def test_selection_module_imports_no_framework():
    source = SELECTION_PY.read_text(encoding="utf-8")
    assert forbidden_imports(source) == []
    assert "flask" not in source.lower() and "sqlalchemy" not in source.lower()
