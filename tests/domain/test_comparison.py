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
    MEAN_GRID,
    MIN_CELL,
    QUANTILE_GRID,
    Agreement,
    Bin,
    MixedVersions,
    Observation,
    Summary,
    aggregate,
    agreement,
    agreement_table,
    change_since,
    check_single_version,
    heatmap_cells,
    benchmark_table,
    histogram,
    protected_histogram,
    publish,
    quadratic_weighted_kappa,
    summarize,
    threshold,
    to_grid,
)

from ._support import PROJECT_ROOT

D = Decimal
DIMS = ("d1", "d2")


# --------------------------------------------------------------------------- summarize


def test_min_cell_is_five_and_never_configurable_lower():
    assert MIN_CELL == 5
    assert threshold() == 5 and threshold(None) == 5
    assert threshold(3) == 5 and threshold(0) == 5 and threshold(-1) == 5
    assert threshold(8) == 8
    with pytest.raises(TypeError):
        threshold("3")


# summarize() is the exact statistic (never published); the quartile arithmetic below is checked
# on small cells by lowering its own threshold.  What is published goes through publish().


def test_summarize_four_values():
    # sorted 1 2 3 4, n = 4
    # q1: h = 3 * 1/4 = 0.75 -> 1 + 0.75 * (2 - 1) = 1.75
    # median: h = 1.5 -> 2 + 0.5 * 1 = 2.5; q3: h = 2.25 -> 3 + 0.25 * 1 = 3.25
    # mean 10 / 4 = 2.5
    s = summarize([4, 1, 3, 2], min_cell=1)
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
    s = summarize([None, D("4.00"), None, D("3.00"), D("3.50")], min_cell=1)
    assert s.n == 3
    assert (s.q1, s.median, s.q3, s.mean) == (D("3.25"), D("3.50"), D("3.75"), D("3.50"))


def test_summarize_rounds_mean_half_up():
    # 2.00 + 2.33 + 2.50 + 2.55 = 9.38; 9.38 / 4 = 2.345 exactly -> 2.35 (half-even would give 2.34)
    # median h = 1.5: 2.33 + 0.5 * 0.17 = 2.415 -> 2.42
    # q1 h = 0.75: 2.00 + 0.75 * 0.33 = 2.2475 -> 2.25; q3 h = 2.25: 2.50 + 0.25 * 0.05 = 2.5125 -> 2.51
    s = summarize([D("2.00"), D("2.33"), D("2.50"), D("2.55")], min_cell=1)
    assert s.mean == D("2.35")
    assert (s.q1, s.median, s.q3) == (D("2.25"), D("2.42"), D("2.51"))


def test_summarize_rounds_median_half_up():
    # median of 1.00 2.34 2.35 4.00 = (2.34 + 2.35) / 2 = 2.345 -> 2.35; mean 9.69 / 4 = 2.4225 -> 2.42
    s = summarize([D("1.00"), D("2.34"), D("2.35"), D("4.00")], min_cell=1)
    assert (s.median, s.mean) == (D("2.35"), D("2.42"))


def test_summarize_reads_floats_as_their_decimal_repr():
    # the float 2.345 is just below 2.345 in binary; read as "2.345" it rounds half-up to 2.35.
    # the same numbers as test_summarize_rounds_mean_half_up, as floats: mean 2.345 -> 2.35
    assert summarize([2.345, 2.345, 2.345], min_cell=1).mean == D("2.35")
    assert summarize([2.00, 2.33, 2.50, 2.55], min_cell=1).mean == D("2.35")


def test_summarize_suppressed_below_its_threshold():
    s = summarize([D("1.00"), D("5.00"), None])
    assert s == Summary(2, True, None, None, None, None, None, None)
    assert summarize([1, 2, 3, 4]).suppressed and not summarize([1, 2, 3, 4, 5]).suppressed  # default: 5
    assert summarize([]) == Summary(0, True)
    assert summarize([], min_cell=0) == Summary(0, True)


def test_summarize_not_suppressed_at_its_threshold():
    # 1 2 6: median 2, q1 h=0.5 -> 1.5, q3 h=1.5 -> 4, mean 3
    s = summarize([1, 2, 6], min_cell=1)
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
    s = summarize(values, min_cell=1)
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


# --------------------------------------------------------------------------- publish (the disclosure rule)


def test_to_grid_rounds_half_up_to_the_step():
    assert to_grid(D("2.37"), D("0.25")) == D("2.25") and to_grid(D("2.375"), D("0.25")) == D("2.50")
    assert to_grid(D("2.67"), D("0.5")) == D("2.50") and to_grid(D("2.75"), D("0.5")) == D("3.00")
    assert to_grid(D("47.5"), D("5")) == D("50") and to_grid(D("44.9"), D("10")) == D("40")
    assert to_grid(Fraction(-1, 8), D("0.25")) == D("-0.25")
    assert str(to_grid(D("3"), D("0.5"))) == "3.00" and str(to_grid(D("62.5"), D("10"))) == "60"


def test_publish_suppresses_below_five_whatever_is_asked():
    assert publish([1, 2, 3, 4]) == Summary(4, True)
    assert publish([1, 2, 3, 4], min_cell=3) == Summary(4, True)  # never below 5
    assert publish([1, 2, 3, 4, 5], min_cell=6) == Summary(5, True)  # but may be raised
    assert not publish([1, 2, 3, 4, 5]).suppressed


def test_publish_puts_quartiles_on_the_half_level_and_means_on_the_quarter():
    # 2.33 2.67 3 3.33 4.67: q1 = x[1] = 2.67 -> 2.50, median 3 -> 3.00, q3 = x[3] = 3.33 -> 3.50
    # mean 16 / 5 = 3.2 -> 3.25; no minimum, no maximum
    s = publish([D("4.67"), D("2.33"), D("3.00"), D("3.33"), D("2.67")])
    assert s == Summary(5, False, median=D("3.00"), q1=D("2.50"), q3=D("3.50"), mean=D("3.25"))
    # index: 12.5 37.5 50 62.5 87.5: q1 37.5 -> 40, median 50, q3 62.5 -> 60; mean 50
    s = publish([D("12.5"), D("37.5"), D("50.0"), D("62.5"), D("87.5")], "index")
    assert (s.q1, s.median, s.q3, s.mean) == (D("40"), D("50"), D("60"), D("50"))
    with pytest.raises(ValueError):
        publish([1, 2, 3, 4, 5], "percent")


def test_publish_rounds_once_from_the_exact_value():
    # exact mean 2.3749.. must go to 2.25 (rounding to 2.37 first, then to the grid, would agree here, but
    # 2.3751 -> 2.50 and 2.37498 -> 2.25 only when rounded once)
    assert publish([D("2.37498")] * 5).mean == D("2.25")
    assert publish([D("2.3751")] * 5).mean == D("2.50")


def test_median_differencing_by_one_institution_stays_ambiguous():
    # A: 5 institutions; B: A plus x inside the middle.  Exact medians would give x = 2 * med_B - med_A.
    base = [D("1.00"), D("2.00"), D("3.00"), D("4.00"), D("5.00")]
    for x in (D("2.33"), D("2.67"), D("3.33"), D("3.67")):
        a, b = publish(base), publish(base + [x])
        guess = 2 * b.median - a.median
        # the grid leaves x uncertain by +-1.5 * 0.5: candidates on thirds within that interval are many
        candidates = [Fraction(k, 3) for k in range(3, 16) if abs(Fraction(k, 3) - Fraction(guess)) <= Fraction(3, 4)]
        assert len(candidates) >= 4, (x, guess, candidates)


def test_grids_are_the_documented_ones():
    assert QUANTILE_GRID == {"level": D("0.5"), "index": D("10")}
    assert MEAN_GRID == {"level": D("0.25"), "index": D("5")}


# --------------------------------------------------------------------------- aggregate


def obs(institution_id, country, d1, d2, index):
    return Observation(institution_id, country, {"d1": d1 and D(d1), "d2": d2 and D(d2)}, index and D(index))


# AR: 5 institutions, BR: 2 (suppressed), CL: 6 (one without a d2 score and without an index)
OBSERVATIONS = [
    obs(1, "BR", "4.00", "3.00", "62.5"),
    obs(2, "AR", "1.00", "2.33", "12.5"),
    obs(3, "AR", "2.00", "2.67", "37.5"),
    obs(4, "CL", "3.00", None, None),
    obs(5, "AR", "3.00", "3.00", "50.0"),
    obs(6, "BR", "5.00", "5.00", "100.0"),
    obs(7, "CL", "2.00", "2.00", "25.0"),
    obs(8, "CL", "4.00", "3.00", "62.5"),
    obs(9, "CL", "5.00", "4.00", "87.5"),
    obs(10, "AR", "4.00", "3.33", "62.5"),
    obs(11, "AR", "5.00", "4.67", "87.5"),
    obs(12, "CL", "2.00", "3.00", "37.5"),
    obs(13, "CL", "4.00", "4.00", "75.0"),
]


def test_aggregate_groups_sorted_with_all_last():
    table = aggregate(OBSERVATIONS, DIMS)
    assert list(table) == ["AR", "BR", "CL", "ALL"]
    assert all(list(row) == ["d1", "d2", "index"] for row in table.values())


def test_aggregate_country_cells():
    table = aggregate(OBSERVATIONS, DIMS)
    # AR d1: 1 2 3 4 5 -> q1 2, median 3, q3 4, mean 3 (all on the grid already)
    ar = table["AR"]["d1"]
    assert (ar.n, ar.suppressed, ar.median, ar.q1, ar.q3, ar.mean) == (5, False, D("3.00"), D("2.00"), D("4.00"), D("3.00"))
    # AR d2: 2.33 2.67 3 3.33 4.67 -> q1 2.67 -> 2.50, median 3.00, q3 3.33 -> 3.50, mean 3.2 -> 3.25
    assert (table["AR"]["d2"].q1, table["AR"]["d2"].median, table["AR"]["d2"].q3, table["AR"]["d2"].mean) == \
        (D("2.50"), D("3.00"), D("3.50"), D("3.25"))
    # BR has two institutions: every BR cell is suppressed
    assert all(cell.suppressed and cell.n == 2 and cell.median is None and cell.mean is None for cell in table["BR"].values())
    # CL d1: 2 2 3 4 4 5 -> median (3 + 4) / 2 = 3.5; q1 h = 1.25 -> 2.25 -> 2.50 (half-up); q3 h = 3.75 -> 4
    # mean 20 / 6 = 3.33 -> 3.25
    cl = table["CL"]["d1"]
    assert (cl.n, cl.median, cl.q1, cl.q3, cl.mean) == (6, D("3.50"), D("2.50"), D("4.00"), D("3.25"))
    # CL d2: institution 4 has no score -> 2 3 3 4 4, n = 5, median 3, mean 3.2 -> 3.25
    assert (table["CL"]["d2"].n, table["CL"]["d2"].median, table["CL"]["d2"].mean) == (5, D("3.00"), D("3.25"))
    # nothing published is a minimum or maximum
    assert all(c.minimum is None and c.maximum is None for row in table.values() for c in row.values())


def test_aggregate_all_includes_every_observation():
    table = aggregate(OBSERVATIONS, DIMS)
    every = table["ALL"]["d1"]
    # d1 of all 13 (BR's suppressed two included): 1 2 2 2 2 3 3 4 4 4 4 5 5 5 -> 13 values
    values = sorted(Fraction(o.scores["d1"]) for o in OBSERVATIONS)
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    assert (every.n, every.median, every.q1, every.q3) == (13, to_grid(median, D("0.5")), to_grid(q1, D("0.5")), to_grid(q3, D("0.5")))
    # the suppressed country holds 2 institutions, so the region mean is withheld (complementary suppression)
    assert every.mean is None
    assert table["ALL"]["d2"].n == 12 and table["ALL"]["d2"].mean is None


def test_aggregate_index_row():
    table = aggregate(OBSERVATIONS, DIMS)
    # AR index 12.5 37.5 50 62.5 87.5 -> q1 37.5 -> 40, median 50, q3 62.5 -> 60, mean 250 / 5 = 50
    ar = table["AR"]["index"]
    assert (ar.n, ar.median, ar.q1, ar.q3, ar.mean) == (5, D("50"), D("40"), D("60"), D("50"))
    # CL: institution 4 has no index -> 25 37.5 62.5 75 87.5, n = 5, mean 287.5 / 5 = 57.5 -> 60 (half-up on 5)
    assert (table["CL"]["index"].n, table["CL"]["index"].mean) == (5, D("60"))


def test_aggregate_region_ignores_the_country_choice():
    every = aggregate(OBSERVATIONS, DIMS)
    only_ar = aggregate(OBSERVATIONS, DIMS, countries=["AR"])
    with_br = aggregate(OBSERVATIONS, DIMS, countries=["AR", "BR"])
    assert list(only_ar) == ["AR", "ALL"] and list(with_br) == ["AR", "BR", "ALL"]
    assert only_ar["ALL"] == with_br["ALL"] == every["ALL"]
    assert list(aggregate(OBSERVATIONS, DIMS, countries=["UY"])) == ["ALL"]


def test_aggregate_threshold_can_be_raised_not_lowered():
    assert aggregate(OBSERVATIONS, DIMS, min_cell=3)["BR"]["d1"].suppressed  # 2 < 5 still
    raised = aggregate(OBSERVATIONS, DIMS, min_cell=6)
    assert raised["AR"]["d1"].suppressed and not raised["CL"]["d1"].suppressed


def test_aggregate_missing_dimension_counts_as_none():
    # scores without "d2" at all: the d2 cells are empty and suppressed
    table = aggregate([Observation(i, "AR", {"d1": D("3.00")}, None) for i in range(1, 6)], DIMS)
    assert table["AR"]["d1"].median == D("3.00")
    assert table["AR"]["d2"] == Summary(0, True)
    assert table["ALL"]["index"] == Summary(0, True)


def test_aggregate_empty_selection():
    table = aggregate([], DIMS)
    assert list(table) == ["ALL"]
    assert table["ALL"]["d1"] == Summary(0, True)


def test_aggregate_refuses_repeated_institution():
    # counting institution 1 twice would lift a small cell
    repeated = [obs(1, "AR", "1.00", "1.00", "0.0"), obs(1, "AR", "2.00", "2.00", "25.0"), obs(2, "AR", "3.00", "3.00", "50.0")]
    with pytest.raises(ValueError, match="institution 1"):
        aggregate(repeated, DIMS)


def test_aggregate_refuses_reserved_names():
    with pytest.raises(ValueError, match="ALL"):
        aggregate([obs(1, "ALL", "1.00", "1.00", "0.0")], DIMS)
    with pytest.raises(ValueError, match="index"):
        aggregate(OBSERVATIONS, ("d1", "index"))


# --------------------------------------------------------------------------- benchmark


def test_benchmark_counts_only_the_other_institutions():
    # a country of 3: the member and two others -> suppressed although the member would make 3
    three = [Observation(i, "PE", {"d": D(v)}, None) for i, v in ((1, "2.00"), (2, "3.00"), (3, "4.00"))]
    bench = benchmark_table(three, ["d"], 1, "PE")
    assert bench["country"]["d"].suppressed and bench["region"]["d"].suppressed
    # the member plus 4 others: still suppressed; plus 5 others: shown, on the half-level grid
    five = three + [Observation(i, "PE", {"d": D("3.33")}, None) for i in (4, 5)]
    assert benchmark_table(five, ["d"], 1, "PE")["country"]["d"].suppressed
    six = five + [Observation(6, "PE", {"d": D("3.67")}, None)]
    shown = benchmark_table(six, ["d"], 1, "PE")["country"]["d"]
    # 2 3 3.33 3.33 3.67 4 -> median 3.33 -> 3.50
    assert (shown.suppressed, shown.n, shown.median) == (False, 6, D("3.50"))
    # the region counts other countries' institutions too
    region = benchmark_table(three + [Observation(i, "AR", {"d": D("3.00")}, None) for i in range(10, 13)], ["d"], 1, "PE")
    assert not region["region"]["d"].suppressed and region["country"]["d"].suppressed


# --------------------------------------------------------------------------- heatmap


def test_heatmap_order_and_suppressed_cells():
    table = aggregate(list(reversed(OBSERVATIONS)), DIMS)
    cells = heatmap_cells(table, DIMS)
    assert cells == [
        ("AR", "d1", D("3.00")),
        ("AR", "d2", D("3.00")),
        ("BR", "d1", None),        # suppressed: 2 institutions
        ("BR", "d2", None),
        ("CL", "d1", D("3.50")),
        ("CL", "d2", D("3.00")),
        ("ALL", "d1", table["ALL"]["d1"].median),
        ("ALL", "d2", table["ALL"]["d2"].median),
    ]


def test_heatmap_can_include_the_index_and_sorts_unsorted_tables():
    table = aggregate(OBSERVATIONS, DIMS)
    shuffled = {"ALL": table["ALL"], "CL": table["CL"], "AR": table["AR"]}
    assert heatmap_cells(shuffled, ["index"]) == [("AR", "index", D("50")), ("CL", "index", D("60")),
                                                 ("ALL", "index", table["ALL"]["index"].median)]


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


def test_protected_histogram_merges_bars_below_the_threshold():
    edges = [0, 20, 40, 60, 80, 100]
    # 1 | 3 | 7 | 2 | 0 -> [0,60): 11 (1 + 3 + 7 reaches 5 at the third bin), then 2 + 0 joins the last bar
    assert protected_histogram([1, 3, 7, 2, 0], edges) == [Bin(D(0), D(100), 13)]
    # 5 | 0 | 6 | 5 | 1 -> [0,20) 5, [20,60) 6, [60,100] 5 + 1
    assert protected_histogram([5, 0, 6, 5, 1], edges) == [Bin(D(0), D(20), 5), Bin(D(20), D(60), 6), Bin(D(60), D(100), 6)]
    # a histogram of one (or of four) draws nothing
    assert protected_histogram([0, 0, 1, 0, 0], edges) == []
    assert protected_histogram([1, 1, 1, 1, 0], edges) == []
    # every bar holds at least the threshold, raised thresholds too
    assert all(b.count >= 8 for b in protected_histogram([3, 4, 5, 6, 7], edges, min_cell=8))
    with pytest.raises(ValueError):
        protected_histogram([1, 2], edges)


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
    # published (5 institutions, one pair each): kappa on the 0.05 grid 0.714 -> 0.70, difference 1.00
    a = agreement(pairs + [(3, 2)], institutions=5)
    assert a.kappa == to_grid(quadratic_weighted_kappa(pairs + [(3, 2)]), D("0.05")) and a.kappa < 1
    assert a.mean_signed_difference == D("1.00")
    assert agreement(pairs).suppressed  # 4 institutions


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
    # identical single category: kappa None, but the difference is 0.00 and the cell is shown (5 units)
    assert agreement([(3, 3)] * 5) == Agreement(n=5, pairs=5, suppressed=False, kappa=None, mean_signed_difference=D("0.00"))
    assert agreement([(3, 3)] * 4) == Agreement(n=4, pairs=4, suppressed=True, kappa=None, mean_signed_difference=None)
    assert agreement([(3, 3), (4, 2)]) == Agreement(n=2, pairs=2, suppressed=True, kappa=None, mean_signed_difference=None)


def test_agreement_difference_is_published_on_the_quarter_level():
    # differences 1 + 0 * 7 = 1 over 8 pairs -> 0.125 -> 0.25 (half-up on the grid); reversed -> -0.25
    generous = [(2, 1)] + [(3, 3)] * 7
    assert agreement(generous).mean_signed_difference == D("0.25")
    assert agreement([(b, a) for a, b in generous]).mean_signed_difference == D("-0.25")
    # 0.1 -> 0.00: a small generosity does not show
    assert agreement([(2, 1)] + [(3, 3)] * 9).mean_signed_difference == D("0.00")


def test_agreement_kappa_is_published_on_a_005_grid():
    pairs = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (2, 1), (4, 5), (3, 3)]
    exact = quadratic_weighted_kappa(pairs)
    assert agreement(pairs).kappa == to_grid(exact, D("0.05"))


def test_agreement_table_suppresses_by_distinct_institutions():
    rows = [
        # AR: one institution, six criteria pairs on d1 -> still suppressed
        *[("AR", "d1", 10, 4, 3) for _ in range(6)],
        # BR: five institutions on d1 (one pair each), four on d2
        ("BR", "d1", 20, 3, 3), ("BR", "d1", 21, 4, 3), ("BR", "d1", 22, 2, 2), ("BR", "d1", 23, 3, 3), ("BR", "d1", 24, 5, 5),
        ("BR", "d2", 20, 5, 5), ("BR", "d2", 21, 1, 2), ("BR", "d2", 21, 2, 2), ("BR", "d2", 22, 3, 3), ("BR", "d2", 23, 3, 3),
    ]
    table = agreement_table(rows)
    assert list(table) == [("AR", "d1"), ("BR", "d1"), ("BR", "d2"), ("ALL", "d1"), ("ALL", "d2")]

    assert table[("AR", "d1")] == Agreement(n=1, pairs=6, suppressed=True, kappa=None, mean_signed_difference=None)
    assert table[("BR", "d2")] == Agreement(n=4, pairs=5, suppressed=True, kappa=None, mean_signed_difference=None)

    # BR d1: differences 0 + 1 + 0 + 0 + 0 = 1 over 5 -> 0.2 -> 0.25
    br = table[("BR", "d1")]
    assert (br.n, br.pairs, br.suppressed, br.mean_signed_difference) == (5, 5, False, D("0.25"))
    assert br.kappa == to_grid(quadratic_weighted_kappa([(3, 3), (4, 3), (2, 2), (3, 3), (5, 5)]), D("0.05"))

    # ALL d1: institutions 10, 20..24 -> n = 6, 11 pairs; differences 6 + 1 = 7 -> 7/11 = 0.636.. -> 0.75
    every = table[("ALL", "d1")]
    assert (every.n, every.pairs, every.suppressed, every.mean_signed_difference) == (6, 11, False, D("0.75"))
    # ALL d2: only institutions 20..23 -> suppressed although five pairs
    assert table[("ALL", "d2")].suppressed and table[("ALL", "d2")].n == 4
    # the region ignores the country choice
    only_br = agreement_table(rows, countries=["BR"])
    assert list(only_br) == [("BR", "d1"), ("BR", "d2"), ("ALL", "d1"), ("ALL", "d2")] and only_br[("ALL", "d1")] == every


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


def test_region_mean_is_withheld_when_suppressed_countries_hold_one_to_four_institutions():
    from decimal import Decimal as D

    from rubric_app.domain.comparison import Observation, aggregate

    obs = [Observation(i, "AR", {"d": D("3.00")}, None) for i in range(1, 6)]  # AR: 5 institutions, visible
    obs.append(Observation(9, "PE", {"d": D("1.00")}, None))  # PE: 1 institution, suppressed
    table = aggregate(obs, ["d"])
    assert table["PE"]["d"].suppressed
    # ALL mean (5*3 + 1) / 6 and AR's mean 3.00 would bound PE's score: withheld
    assert table["ALL"]["d"].mean is None
    assert table["ALL"]["d"].median == D("3.00") and table["ALL"]["d"].n == 6
    # with 5 or more suppressed-away institutions (or none) the region mean is published
    more = obs + [Observation(i, c, {"d": D("2.00")}, None) for i, c in ((10, "CO"), (11, "BO"), (12, "CL"), (13, "UY"))]
    assert aggregate(more, ["d"])["ALL"]["d"].mean == D("2.50")  # (15 + 1 + 8) / 10 = 2.4 -> 2.50
