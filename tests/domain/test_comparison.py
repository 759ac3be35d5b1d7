"""Cross-country comparison (DOMAIN.md, "Comparability across countries"), against hand-computed numbers.

Quartiles: inclusive linear interpolation, position h = (n - 1) * p in the sorted values.
Kappa: w_ij = (i - j)^2 / (k - 1)^2, E_ij = row_i * col_j / N, kappa = 1 - sum(wO) / sum(wE).
Below, weighted sums are written with the unnormalised weights (i - j)^2: the 1/(k-1)^2 cancels.
"""
from __future__ import annotations

import ast
import statistics
from decimal import Decimal
from fractions import Fraction

import pytest

from rubric_app.domain import comparison
from rubric_app.domain.comparison import (
    MIN_CELL,
    Agreement,
    MixedVersions,
    Observation,
    Summary,
    aggregate,
    agreement,
    agreement_table,
    change_since,
    check_single_version,
    heatmap_cells,
    histogram,
    quadratic_weighted_kappa,
    summarize,
)

from ._support import PROJECT_ROOT

D = Decimal
DIMS = ("d1", "d2")


# --------------------------------------------------------------------------- summarize


def test_min_cell_is_three():
    assert MIN_CELL == 3


def test_summarize_four_values():
    # sorted 1 2 3 4, n = 4
    # q1: h = 3 * 1/4 = 0.75 -> 1 + 0.75 * (2 - 1) = 1.75
    # median: h = 1.5 -> 2 + 0.5 * 1 = 2.5; q3: h = 2.25 -> 3 + 0.25 * 1 = 3.25
    # mean 10 / 4 = 2.5
    s = summarize([4, 1, 3, 2])
    assert s == Summary(4, False, median=D("2.50"), q1=D("1.75"), q3=D("3.25"), mean=D("2.50"), minimum=D("1.00"), maximum=D("4.00"))


def test_summarize_five_values_unsorted():
    # sorted 1 2 4 7 11, n = 5: h = 4p is whole -> q1 = x[1] = 2, median = x[2] = 4, q3 = x[3] = 7
    # mean 25 / 5 = 5
    s = summarize([D("7"), D("1"), D("11"), D("4"), D("2")])
    assert (s.n, s.suppressed) == (5, False)
    assert (s.q1, s.median, s.q3, s.mean) == (D("2.00"), D("4.00"), D("7.00"), D("5.00"))
    assert (s.minimum, s.maximum) == (D("1.00"), D("11.00"))


def test_summarize_ignores_none():
    # the Nones are dropped: values 3.00 3.50 4.00 -> median 3.5, q1 h=0.5 -> 3.25, q3 h=1.5 -> 3.75
    s = summarize([None, D("4.00"), None, D("3.00"), D("3.50")])
    assert s.n == 3
    assert (s.q1, s.median, s.q3, s.mean) == (D("3.25"), D("3.50"), D("3.75"), D("3.50"))


def test_summarize_rounds_mean_half_up():
    # 2.00 + 2.33 + 2.50 + 2.55 = 9.38; 9.38 / 4 = 2.345 exactly -> 2.35 (half-even would give 2.34)
    # median h = 1.5: 2.33 + 0.5 * 0.17 = 2.415 -> 2.42
    # q1 h = 0.75: 2.00 + 0.75 * 0.33 = 2.2475 -> 2.25; q3 h = 2.25: 2.50 + 0.25 * 0.05 = 2.5125 -> 2.51
    s = summarize([D("2.00"), D("2.33"), D("2.50"), D("2.55")])
    assert s.mean == D("2.35")
    assert (s.q1, s.median, s.q3) == (D("2.25"), D("2.42"), D("2.51"))


def test_summarize_rounds_median_half_up():
    # median of 1.00 2.34 2.35 4.00 = (2.34 + 2.35) / 2 = 2.345 -> 2.35; mean 9.69 / 4 = 2.4225 -> 2.42
    s = summarize([D("1.00"), D("2.34"), D("2.35"), D("4.00")])
    assert (s.median, s.mean) == (D("2.35"), D("2.42"))


def test_summarize_reads_floats_as_their_decimal_repr():
    # the float 2.345 is just below 2.345 in binary; read as "2.345" it rounds half-up to 2.35.
    # the same numbers as test_summarize_rounds_mean_half_up, as floats: mean 2.345 -> 2.35
    assert summarize([2.345, 2.345, 2.345]).mean == D("2.35")
    assert summarize([2.00, 2.33, 2.50, 2.55]).mean == D("2.35")


def test_summarize_suppressed_below_three():
    s = summarize([D("1.00"), D("5.00"), None])
    assert s == Summary(2, True, None, None, None, None, None, None)
    assert summarize([]) == Summary(0, True)


def test_summarize_not_suppressed_at_three():
    # 1 2 6: median 2, q1 h=0.5 -> 1.5, q3 h=1.5 -> 4, mean 3
    s = summarize([1, 2, 6])
    assert s.suppressed is False and s.n == 3
    assert (s.q1, s.median, s.q3, s.mean, s.minimum, s.maximum) == (D("1.50"), D("2.00"), D("4.00"), D("3.00"), D("1.00"), D("6.00"))


@pytest.mark.parametrize(
    "data",
    [
        ["1.25", "3.50", "2.00", "4.75", "5.00", "1.00", "2.67"],
        ["1.33", "1.67", "2.00", "2.33", "3.00", "4.00"],
        ["0.1", "0.2", "0.3"],
        ["37.5", "50.0", "62.5", "12.5", "100.0", "0.0", "75.0", "87.5", "25.0"],
    ],
)
def test_quartiles_match_statistics_inclusive(data):
    # statistics.quantiles on Fractions is exact; rounding both the same way must agree
    values = [D(v) for v in data]
    q1, median, q3 = statistics.quantiles([Fraction(v) for v in values], n=4, method="inclusive")
    s = summarize(values)
    assert (s.q1, s.median, s.q3) == tuple(comparison._round(q, 2) for q in (q1, median, q3))
    assert s.mean == comparison._round(Fraction(sum(values)) / len(values), 2)


def test_summarize_refuses_non_finite():
    with pytest.raises(ValueError):
        summarize([D("1"), D("NaN"), D("2")])
    with pytest.raises(ValueError):
        summarize([1.0, float("inf"), 2.0])


def test_round_is_half_up_away_from_zero():
    r = comparison._round
    assert r(Fraction(1, 8), 2) == D("0.13")
    assert r(Fraction(-1, 8), 2) == D("-0.13")
    assert r(Fraction(2, 3), 3) == D("0.667")
    assert r(Fraction(1), 3) == D("1.000") and str(r(Fraction(1), 3)) == "1.000"


# --------------------------------------------------------------------------- versions


def test_single_version_accepted():
    keys = [("ifp-migrant-inclusion", "1.0")] * 4
    assert check_single_version(keys) == ("ifp-migrant-inclusion", "1.0")
    assert check_single_version(iter(keys)) == ("ifp-migrant-inclusion", "1.0")


def test_empty_selection_has_no_version():
    assert check_single_version([]) is None


def test_mixed_versions_refused_with_every_version_sorted():
    keys = [("ifp-migrant-inclusion", "2.0"), ("ifp-migrant-inclusion", "1.0"), ("ifp-migrant-inclusion", "2.0")]
    with pytest.raises(MixedVersions) as info:
        check_single_version(keys)
    assert info.value.versions == [("ifp-migrant-inclusion", "1.0"), ("ifp-migrant-inclusion", "2.0")]
    assert str(info.value) == (
        "Assessments on different instrument versions cannot be compared: "
        "ifp-migrant-inclusion 1.0, ifp-migrant-inclusion 2.0. Choose one version."
    )
    assert isinstance(info.value, ValueError)


def test_different_instrument_ids_refused_too():
    with pytest.raises(MixedVersions) as info:
        check_single_version([("b-rubric", "1.0"), ("a-rubric", "1.0")])
    assert info.value.versions == [("a-rubric", "1.0"), ("b-rubric", "1.0")]
    assert "a-rubric 1.0, b-rubric 1.0" in str(info.value)


# --------------------------------------------------------------------------- aggregate


def obs(institution_id, country, d1, d2, index):
    return Observation(institution_id, country, {"d1": d1 and D(d1), "d2": d2 and D(d2)}, index and D(index))


# AR: 3 institutions, BR: 2 (suppressed), CL: 4 (one without a d2 score and without an index)
OBSERVATIONS = [
    obs(1, "BR", "4.00", "3.00", "62.5"),
    obs(2, "AR", "1.00", "2.00", "12.5"),
    obs(3, "AR", "2.00", "3.00", "37.5"),
    obs(4, "CL", "3.00", None, None),
    obs(5, "AR", "3.00", "4.00", "62.5"),
    obs(6, "BR", "5.00", "5.00", "100.0"),
    obs(7, "CL", "2.00", "2.00", "25.0"),
    obs(8, "CL", "4.00", "3.00", "62.5"),
    obs(9, "CL", "5.00", "4.00", "87.5"),
]


def test_aggregate_groups_sorted_with_all_last():
    table = aggregate(OBSERVATIONS, DIMS)
    assert list(table) == ["AR", "BR", "CL", "ALL"]
    assert all(list(row) == ["d1", "d2", "index"] for row in table.values())


def test_aggregate_country_cells():
    table = aggregate(OBSERVATIONS, DIMS)
    # AR d1: 1 2 3 -> median 2, q1 1.5, q3 2.5, mean 2
    ar = table["AR"]["d1"]
    assert (ar.n, ar.suppressed, ar.median, ar.q1, ar.q3, ar.mean) == (3, False, D("2.00"), D("1.50"), D("2.50"), D("2.00"))
    # BR has two institutions: every BR cell is suppressed
    assert all(cell.suppressed and cell.n == 2 and cell.median is None and cell.mean is None for cell in table["BR"].values())
    # CL d1: 2 3 4 5 -> median 3.5; CL d2: institution 4 has no score -> 2 3 4, n = 3, median 3
    assert (table["CL"]["d1"].n, table["CL"]["d1"].median) == (4, D("3.50"))
    assert (table["CL"]["d2"].n, table["CL"]["d2"].median) == (3, D("3.00"))


def test_aggregate_all_includes_every_observation():
    table = aggregate(OBSERVATIONS, DIMS)
    every = table["ALL"]["d1"]
    # d1 of all 9 (BR's suppressed two included): 1 2 2 3 3 4 4 5 5; sum 29
    # median x[4] = 3; q1 h = 2 -> x[2] = 2; q3 h = 6 -> x[6] = 4; mean 29 / 9 = 3.222.. would be 3.22, but the
    # suppressed country holds 2 institutions, so the region mean is withheld (complementary suppression)
    assert every == Summary(9, False, median=D("3.00"), q1=D("2.00"), q3=D("4.00"), mean=None, minimum=D("1.00"), maximum=D("5.00"))
    # d2: 8 scores (institution 4 has none): 2 2 3 3 3 4 4 5; sum 26 -> mean 3.25
    # median h = 3.5: x[3] = 3, x[4] = 3 -> 3; q1 h = 1.75: x[1] = 2, x[2] = 3 -> 2 + 0.75 * 1 = 2.75
    # q3 h = 5.25 -> x[5] = 4, x[6] = 4 -> 4
    d2 = table["ALL"]["d2"]
    # (the mean 3.25 is withheld: the suppressed country still holds 1 or 2 institutions in this column)
    assert (d2.n, d2.median, d2.q1, d2.q3, d2.mean) == (8, D("3.00"), D("2.75"), D("4.00"), None)


def test_aggregate_index_row():
    table = aggregate(OBSERVATIONS, DIMS)
    # AR index 12.5 37.5 62.5 -> median 37.5, q1 h=0.5 -> 25, q3 h=1.5 -> 50, mean 112.5 / 3 = 37.5
    ar = table["AR"]["index"]
    assert (ar.n, ar.median, ar.q1, ar.q3, ar.mean) == (3, D("37.50"), D("25.00"), D("50.00"), D("37.50"))
    # CL: institution 4 has no index -> 25 62.5 87.5, n = 3, mean 175 / 3 = 58.333.. -> 58.33
    assert (table["CL"]["index"].n, table["CL"]["index"].mean) == (3, D("58.33"))
    # ALL: 8 indices: 12.5 25 37.5 62.5 62.5 62.5 87.5 100, median h=3.5 -> 62.5; the mean (56.25) is withheld
    # because the suppressed country's 2 institutions could be read off it
    every = table["ALL"]["index"]
    assert (every.n, every.mean, every.median, every.minimum, every.maximum) == (8, None, D("62.50"), D("12.50"), D("100.00"))


def test_aggregate_missing_dimension_counts_as_none():
    # scores without "d2" at all: the d2 cells are empty and suppressed
    table = aggregate([Observation(i, "AR", {"d1": D("3.00")}, None) for i in (1, 2, 3)], DIMS)
    assert table["AR"]["d1"].median == D("3.00")
    assert table["AR"]["d2"] == Summary(0, True)
    assert table["ALL"]["index"] == Summary(0, True)


def test_aggregate_empty_selection():
    table = aggregate([], DIMS)
    assert list(table) == ["ALL"]
    assert table["ALL"]["d1"] == Summary(0, True)


def test_aggregate_refuses_repeated_institution():
    # counting institution 1 twice would lift a two-institution cell to three
    repeated = [obs(1, "AR", "1.00", "1.00", "0.0"), obs(1, "AR", "2.00", "2.00", "25.0"), obs(2, "AR", "3.00", "3.00", "50.0")]
    with pytest.raises(ValueError, match="institution 1"):
        aggregate(repeated, DIMS)


def test_aggregate_refuses_reserved_names():
    with pytest.raises(ValueError, match="ALL"):
        aggregate([obs(1, "ALL", "1.00", "1.00", "0.0")], DIMS)
    with pytest.raises(ValueError, match="index"):
        aggregate(OBSERVATIONS, ("d1", "index"))


# --------------------------------------------------------------------------- heatmap


def test_heatmap_order_and_suppressed_cells():
    table = aggregate(list(reversed(OBSERVATIONS)), DIMS)
    cells = heatmap_cells(table, DIMS)
    assert cells == [
        ("AR", "d1", D("2.00")),
        ("AR", "d2", D("3.00")),   # 2 3 4
        ("BR", "d1", None),        # suppressed: 2 institutions
        ("BR", "d2", None),
        ("CL", "d1", D("3.50")),
        ("CL", "d2", D("3.00")),
        ("ALL", "d1", D("3.00")),
        ("ALL", "d2", D("3.00")),
    ]


def test_heatmap_can_include_the_index_and_sorts_unsorted_tables():
    table = aggregate(OBSERVATIONS, DIMS)
    shuffled = {"ALL": table["ALL"], "CL": table["CL"], "AR": table["AR"]}
    assert heatmap_cells(shuffled, ["index"]) == [("AR", "index", D("37.50")), ("CL", "index", D("62.50")), ("ALL", "index", D("62.50"))]


# --------------------------------------------------------------------------- histogram


def test_histogram_bins_half_open_last_closed():
    edges = [0, 25, 50, 75, 100]
    values = [D("0"), D("24.9"), D("25"), D("50.0"), D("74.99"), D("75"), D("100"), None, 99.9]
    # [0,25): 0, 24.9 | [25,50): 25 | [50,75): 50, 74.99 | [75,100]: 75, 100, 99.9
    assert histogram(values, edges) == [2, 1, 2, 3]


def test_histogram_ignores_values_outside():
    # -0.1 and 100.1 fall outside [0, 100]; 5 falls in [1, 5] (last bin closed)
    assert histogram([-0.1, 100.1, 1, 5, D("5.00"), 0.999], [1, 2, 3, 4, 5]) == [1, 0, 0, 2]


def test_histogram_float_edges_compare_as_decimals():
    # edge 0.1 (a float) and the value Decimal("0.1") are the same number: it goes to the upper bin
    assert histogram([D("0.1"), 0.1, D("0.05")], [0.0, 0.1, 0.2]) == [1, 2]


def test_histogram_refuses_bad_edges():
    with pytest.raises(ValueError):
        histogram([1], [1])
    with pytest.raises(ValueError):
        histogram([1], [0, 2, 2, 3])


# --------------------------------------------------------------------------- kappa


def test_kappa_perfect_agreement_is_one():
    k = quadratic_weighted_kappa([(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (3, 3)])
    assert k == D("1.000") and str(k) == "1.000"


def test_kappa_five_levels_symmetric_swap():
    # pairs (1,1) (2,2) (3,4) (4,3) (5,5), N = 5, k = 5
    # O: ones on the diagonal at 1, 2, 5 and at (3,4), (4,3)
    #    sum (i-j)^2 * O = 1 + 1 = 2
    # marginals: every level once on both sides, so E_ij = 1 * 1 / 5 = 1/5 in all 25 cells
    #    sum over the 5x5 grid of (i-j)^2: |i-j| = 1: 8 cells * 1, 2: 6 * 4, 3: 4 * 9, 4: 2 * 16 = 100
    #    sum (i-j)^2 * E = 100 / 5 = 20
    # kappa = 1 - 2/20 = 0.9
    assert quadratic_weighted_kappa([(1, 1), (2, 2), (3, 4), (4, 3), (5, 5)]) == D("0.900")


def test_kappa_asymmetric_three_levels():
    # categories (1, 2, 3), k = 3, w = (i-j)^2 / 4: w(|d|=1) = 1/4, w(|d|=2) = 1
    # pairs (1,1) (2,1) (3,2) (3,3), N = 4
    # O = [[1,0,0],[1,0,0],[0,1,1]]; sum wO = 1/4 + 1/4 = 1/2
    # rows (self) = (1, 1, 2); cols (validated) = (2, 1, 1)
    # E = rows_i * cols_j / 4 = [[2/4, 1/4, 1/4], [2/4, 1/4, 1/4], [4/4, 2/4, 2/4]]
    # sum wE = 1/4*1/4 (1,2) + 1*1/4 (1,3) + 1/4*2/4 (2,1) + 1/4*1/4 (2,3) + 1*4/4 (3,1) + 1/4*2/4 (3,2)
    #        = (1 + 4 + 2 + 1 + 16 + 2) / 16 = 26/16 = 13/8
    # kappa = 1 - (1/2) / (13/8) = 1 - 4/13 = 9/13 = 0.6923.. -> 0.692
    assert quadratic_weighted_kappa([(1, 1), (2, 1), (3, 2), (3, 3)], categories=(1, 2, 3)) == D("0.692")


def test_kappa_two_categories_equals_cohens_kappa():
    # categories (1, 2): quadratic weights are 0 on, 1 off the diagonal (plain Cohen's kappa)
    # O = [[2, 1], [0, 1]], N = 4; rows (3, 1), cols (2, 2)
    # E = [[3*2/4, 3*2/4], [1*2/4, 1*2/4]] = [[1.5, 1.5], [0.5, 0.5]]
    # sum wO = 1 + 0 = 1; sum wE = 1.5 + 0.5 = 2; kappa = 1 - 1/2 = 0.5
    # (check: po = 3/4, pe = (3*2 + 1*2)/16 = 1/2, (3/4 - 1/2) / (1/2) = 0.5)
    assert quadratic_weighted_kappa([(1, 1), (1, 1), (1, 2), (2, 2)], categories=(1, 2)) == D("0.500")


def test_kappa_systematic_over_rating():
    # self = validated + 1 on four criteria: (2,1) (3,2) (4,3) (5,4), N = 4
    # sum (i-j)^2 * O = 4 * 1 = 4
    # rows: 2 3 4 5 once, cols: 1 2 3 4 once -> E_ij = 1/4 on those 16 cells
    # sum over self in 2..5, validated in 1..4 of (self - validated)^2 = 56 -> sum wE = 56 / 4 = 14
    # kappa = 1 - 4/14 = 5/7 = 0.714285.. -> 0.714
    pairs = [(2, 1), (3, 2), (4, 3), (5, 4)]
    assert quadratic_weighted_kappa(pairs) == D("0.714")
    a = agreement(pairs)
    assert a.kappa == D("0.714") and a.kappa < 1
    assert a.mean_signed_difference == D("1.00")


def test_kappa_complete_disagreement_is_negative():
    # (1,5) (5,1): sum wO = 16 + 16 = 32; rows = cols = {1: 1, 5: 1} -> E = 1/2 at (1,1) (1,5) (5,1) (5,5)
    # sum wE = (16 + 16) / 2 = 16; kappa = 1 - 32/16 = -1
    assert quadratic_weighted_kappa([(1, 5), (5, 1)]) == D("-1.000")


def test_kappa_none_without_expected_disagreement_or_pairs():
    # all pairs in one category: E is only at (3,3) where w = 0 -> expected disagreement 0
    assert quadratic_weighted_kappa([(3, 3), (3, 3), (3, 3)]) is None
    assert quadratic_weighted_kappa([(2, 4)]) is None
    assert quadratic_weighted_kappa([]) is None


def test_kappa_refuses_levels_outside_the_categories():
    with pytest.raises(ValueError):
        quadratic_weighted_kappa([(1, 1), (0, 2)])
    with pytest.raises(ValueError):
        quadratic_weighted_kappa([(1, 1), (2, 6)])
    with pytest.raises(ValueError):
        quadratic_weighted_kappa([(1, 1)], categories=(1,))


# --------------------------------------------------------------------------- agreement


def test_agreement_counts_pairs_without_institutions():
    # identical single category: kappa None, but the difference is 0.00 and the cell is shown
    assert agreement([(3, 3)] * 3) == Agreement(n=3, pairs=3, suppressed=False, kappa=None, mean_signed_difference=D("0.00"))
    assert agreement([(3, 3), (4, 2)]) == Agreement(n=2, pairs=2, suppressed=True, kappa=None, mean_signed_difference=None)


def test_agreement_difference_rounds_half_up_and_harsh_is_negative():
    # differences 1 + 0 * 7 = 1 over 8 pairs -> 0.125 -> 0.13; reversed -> -0.125 -> -0.13
    generous = [(2, 1)] + [(3, 3)] * 7
    assert agreement(generous).mean_signed_difference == D("0.13")
    assert agreement([(b, a) for a, b in generous]).mean_signed_difference == D("-0.13")


def test_agreement_table_suppresses_by_distinct_institutions():
    rows = [
        # AR: one institution, six criteria pairs on d1 -> still suppressed
        *[("AR", "d1", 10, 4, 3) for _ in range(6)],
        # BR: three institutions on d1 (one pair each), two on d2
        ("BR", "d1", 20, 3, 3), ("BR", "d1", 21, 4, 3), ("BR", "d1", 22, 2, 2),
        ("BR", "d2", 20, 5, 5), ("BR", "d2", 21, 1, 2), ("BR", "d2", 21, 2, 2),
    ]
    table = agreement_table(rows)
    assert list(table) == [("AR", "d1"), ("BR", "d1"), ("BR", "d2"), ("ALL", "d1"), ("ALL", "d2")]

    assert table[("AR", "d1")] == Agreement(n=1, pairs=6, suppressed=True, kappa=None, mean_signed_difference=None)
    assert table[("BR", "d2")] == Agreement(n=2, pairs=3, suppressed=True, kappa=None, mean_signed_difference=None)

    # BR d1: (3,3) (4,3) (2,2); differences 0 + 1 + 0 = 1 over 3 -> 0.333.. -> 0.33
    # kappa: sum wO = 1; rows 2:1 3:1 4:1, cols 2:1 3:2 -> E_ij = rows_i * cols_j / 3
    #   sum (i-j)^2 rows_i cols_j = self 2: (0*1 + 1*2) + self 3: (1*1 + 0*2) + self 4: (4*1 + 1*2) = 2 + 1 + 6 = 9
    #   sum wE = 9 / 3 = 3; kappa = 1 - 1/3 = 0.667
    br = table[("BR", "d1")]
    assert (br.n, br.pairs, br.suppressed, br.kappa, br.mean_signed_difference) == (3, 3, False, D("0.667"), D("0.33"))

    # ALL d1: institutions 10, 20, 21, 22 -> n = 4, 9 pairs; differences 6 * 1 + 1 = 7 -> 7/9 = 0.777.. -> 0.78
    every = table[("ALL", "d1")]
    assert (every.n, every.pairs, every.suppressed, every.mean_signed_difference) == (4, 9, False, D("0.78"))
    assert every.kappa == quadratic_weighted_kappa([(4, 3)] * 6 + [(3, 3), (4, 3), (2, 2)])
    # ALL d2: only institutions 20 and 21 -> suppressed although three pairs
    assert table[("ALL", "d2")].suppressed and table[("ALL", "d2")].n == 2


def test_agreement_table_empty_and_reserved_country():
    assert agreement_table([]) == {}
    with pytest.raises(ValueError, match="ALL"):
        agreement_table([("ALL", "d1", 1, 3, 3)])


# --------------------------------------------------------------------------- change


def test_change_since():
    previous = {"d1": D("2.50"), "d2": D("3.00"), "d3": None, "index": D("40.0"), "gone": D("1.00")}
    current = {"d1": D("3.17"), "d2": D("2.75"), "d3": D("4.00"), "index": D("45.5"), "new": D("2.00")}
    assert change_since(previous, current) == {
        "d1": D("0.67"),      # 3.17 - 2.50
        "d2": D("-0.25"),     # 2.75 - 3.00
        "d3": None,           # no previous score
        "index": D("5.5"),    # 45.5 - 40.0
        "new": None,          # not in previous
        "gone": None,         # not in current
    }
    assert list(change_since(previous, current)) == ["d1", "d2", "d3", "index", "new", "gone"]


# --------------------------------------------------------------------------- purity


def test_module_imports_only_the_standard_library():
    path = PROJECT_ROOT / "rubric_app" / "domain" / "comparison.py"
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add("." * node.level + (node.module or "").split(".")[0])
    assert roots, "the scan found no import at all"
    assert not roots & {"flask", "sqlalchemy", "numpy", "werkzeug", "wtforms", "flask_babel", "flask_login"}
    assert roots <= {"__future__", "bisect", "dataclasses", "decimal", "fractions", "typing", "statistics", "collections", "math"}
    assert "import_module" not in source and "__import__" not in source


def test_region_mean_is_withheld_when_suppressed_countries_hold_one_or_two_institutions():
    from decimal import Decimal as D

    from rubric_app.domain.comparison import Observation, aggregate

    obs = [Observation(i, "AR", {"d": D("3.00")}, None) for i in range(1, 4)]  # AR: 3 institutions, visible
    obs.append(Observation(9, "PE", {"d": D("1.00")}, None))  # PE: 1 institution, suppressed
    table = aggregate(obs, ["d"])
    assert table["PE"]["d"].suppressed
    # ALL mean (3*3 + 1) / 4 = 2.5 and AR's mean 3.00 would give PE's score away: withheld
    assert table["ALL"]["d"].mean is None
    assert table["ALL"]["d"].median == D("3.00") and table["ALL"]["d"].n == 4
    # with 3 or more suppressed-away institutions (or none) the region mean is published
    more = obs + [Observation(10, "CO", {"d": D("2.00")}, None), Observation(11, "BO", {"d": D("2.00")}, None)]
    assert aggregate(more, ["d"])["ALL"]["d"].mean == D("2.33")  # (3 + 3 + 3 + 1 + 2 + 2) / 6 = 2.333.. -> 2.33
