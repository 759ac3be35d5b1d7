"""Cross-country comparison (DOMAIN.md, "Comparability across countries").

* Only assessments on one instrument id *and* version are compared; a selection mixing versions
  is refused with :class:`MixedVersions`, whose message names every (id, version) present.
* Statistical disclosure control (``docs/comparison.md``, "Disclosure control"): no combination
  of published figures may give back one institution's score.  The rule lives here:

  1. *Threshold.*  Every published figure (a cell's median, quartiles and mean; an agreement
     cell; a histogram bar; a member's benchmark) covers at least :func:`threshold` institutions
     -- :data:`MIN_CELL` = 5 by default, configurable upwards only.  A cell is one group and one
     dimension (or the overall index); its size is the number of institutions *with a value*.
  2. *Coarse grid.*  Published statistics are never exact: medians and quartiles are rounded to
     :data:`QUANTILE_GRID` (half a level, 10 index points), means to :data:`MEAN_GRID` (a
     quarter level, 5 index points), agreement figures likewise (:data:`KAPPA_GRID`,
     :data:`MEAN_GRID`).  Two queries that differ by one institution then leave that
     institution's score uncertain by more than 0.25 of a level / 5 index points (see
     :func:`publish`).
  3. *Fixed region.*  The region (group ``"ALL"``) is computed over a universe that does not
     depend on the country filter, so adding or dropping a country cannot move it.
  4. *Histograms* merge adjacent bins until every bar holds at least the threshold
     (:func:`protected_histogram`); base bins are wide (20 index points, one level).
  5. *Benchmarks* for a member count only the *other* institutions (:func:`benchmark_table`).

  Minimum and maximum are single institutions' scores and are never published.
* Self-assessed versus reviewer-validated levels: quadratic-weighted kappa and the mean signed
  difference (self - validated; positive = self-assessment runs high) per country and dimension,
  under the same threshold and grid.

Arithmetic is exact (:class:`~fractions.Fraction`) and results are rounded half-up once, at the
end (halves away from zero, as :data:`decimal.ROUND_HALF_UP`).  A ``float`` input is read as its
shortest decimal representation (``str(2.345)`` = ``"2.345"``), so ``2.345`` is the decimal
2.345, not the binary number just below it; ``Decimal`` and ``int`` inputs are taken as they
are.  NaN and infinities are refused.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Iterable, Mapping, Sequence

#: the smallest number of institutions behind any published figure (never configurable lower)
MIN_CELL = 5
#: medians and quartiles are published on this grid: dimension scores ("level") and index
QUANTILE_GRID = {"level": Decimal("0.5"), "index": Decimal("10")}
#: means (of scores, of the index, and the agreement's mean signed difference) on this grid
MEAN_GRID = {"level": Decimal("0.25"), "index": Decimal("5")}
#: kappa is published on this grid
KAPPA_GRID = Decimal("0.05")
#: the group holding the whole selection (every country together: the region)
ALL = "ALL"
#: the key of the overall index in an :func:`aggregate` table, next to the dimension ids
INDEX = "index"

Number = Decimal | float | int


def threshold(requested: int | None = None) -> int:
    """The cell threshold to apply: ``requested`` (e.g. from configuration), never below MIN_CELL."""
    if requested is None:
        return MIN_CELL
    if isinstance(requested, bool) or not isinstance(requested, int):
        raise TypeError(f"the cell threshold must be a whole number, not {requested!r}")
    return max(MIN_CELL, requested)


# --------------------------------------------------------------------------- versions


class MixedVersions(ValueError):
    """Assessments on several instrument versions were selected together.

    ``versions`` lists every (instrument id, version) present, sorted.
    """

    def __init__(self, versions: Iterable[tuple[str, str]]):
        self.versions: list[tuple[str, str]] = sorted(set(versions))
        listed = ", ".join(f"{rid} {version}" for rid, version in self.versions)
        super().__init__(
            f"Assessments on different instrument versions cannot be compared: {listed}. Choose one version."
        )


def check_single_version(keys: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """The one (instrument id, version) of a selection of assessments.

    ``keys`` holds one (id, version) per assessment (repeats are expected).  Returns None for an
    empty selection; raises :class:`MixedVersions` when more than one pair is present (a
    different id counts as a different instrument, so it is refused too).
    """
    found = {(str(rid), str(version)) for rid, version in keys}
    if not found:
        return None
    if len(found) > 1:
        raise MixedVersions(found)
    return next(iter(found))


# --------------------------------------------------------------------------- numbers


def _exact(value: Number) -> Fraction:
    """The exact value of a number (floats through their shortest decimal repr)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a score")
    if isinstance(value, float):
        value = Decimal(repr(value))
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"not a finite number: {value}")
    if not isinstance(value, (Decimal, int, Fraction)):
        raise TypeError(f"not a number: {value!r}")
    return Fraction(value)


def _round(value: Fraction, places: int) -> Decimal:
    """Round an exact fraction half-up (halves away from zero) to ``places`` decimals."""
    scaled = abs(value) * 10**places
    whole, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest >= scaled.denominator:
        whole += 1
    return Decimal(-whole if value < 0 else whole).scaleb(-places)


def to_grid(value: Number | Fraction, step: Decimal) -> Decimal:
    """``value`` rounded half-up (halves away from zero) to a multiple of ``step``.

    The result carries the decimals of ``step`` at least (0.5 -> ``"2.50"`` style with two
    decimals for level grids, ``"45"`` for a 5-point index grid).  Example: 2.37 on 0.25 is 2.25,
    2.375 is 2.50; 47.5 on 5 is 50.
    """
    exact = value if isinstance(value, Fraction) else _exact(value)
    units = _round(exact / Fraction(step), 0)
    places = max(2, -step.as_tuple().exponent) if step < 1 else 0
    return (units * step).quantize(Decimal(1).scaleb(-places))


def _quantile(ordered: Sequence[Fraction | Decimal], p: Fraction) -> Fraction:
    """Inclusive linear interpolation at ``p`` (0..1) over sorted, non-empty data."""
    h = (len(ordered) - 1) * p
    j = h.numerator // h.denominator
    if j + 1 >= len(ordered):
        return Fraction(ordered[-1])
    low, high = Fraction(ordered[j]), Fraction(ordered[j + 1])
    return low + (h - j) * (high - low)


def _ordered(values: Iterable[Number | None]) -> tuple[list, Fraction]:
    """The values sorted, and their exact sum.

    Finite Decimals (what scores are) are sorted and summed as Decimals, which is exact and much
    faster than Fractions; any other number falls back to exact Fractions.
    """
    present = [v for v in values if v is not None]
    if all(type(v) is Decimal and v.is_finite() for v in present):
        with localcontext() as ctx:
            ctx.prec = 60
            total = sum(present, Decimal(0))
        return sorted(present), Fraction(total)
    exact = sorted(_exact(v) for v in present)
    return exact, sum(exact, Fraction(0))


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class Summary:
    """Distribution of one cell.

    ``n`` counts the values present (Nones excluded).  When ``suppressed`` (n below the
    threshold) every statistic is None; ``n`` itself is still given.  A summary from
    :func:`summarize` holds exact statistics rounded to 2 decimals (for computation and tests,
    never published); one from :func:`publish` holds the published, grid-rounded figures and no
    minimum or maximum.
    """

    n: int
    suppressed: bool
    median: Decimal | None = None
    q1: Decimal | None = None
    q3: Decimal | None = None
    mean: Decimal | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None


def _statistics(values: Iterable[Number | None]) -> tuple[int, dict[str, Fraction]]:
    """n and the exact q1, median, q3, mean, minimum, maximum (empty dict for no values)."""
    ordered, total = _ordered(values)
    n = len(ordered)
    if n == 0:
        return 0, {}
    return n, {"median": _quantile(ordered, Fraction(1, 2)), "q1": _quantile(ordered, Fraction(1, 4)),
               "q3": _quantile(ordered, Fraction(3, 4)), "mean": total / n,
               "minimum": Fraction(ordered[0]), "maximum": Fraction(ordered[-1])}


def summarize(values: Iterable[Number | None], min_cell: int = MIN_CELL) -> Summary:
    """Exact median, quartiles, mean, minimum and maximum of the values; Nones are ignored.

    Quartiles use the *inclusive* linear-interpolation method (``statistics.quantiles(...,
    method="inclusive")``, Excel ``QUARTILE.INC``, R type 7): with the n values sorted as
    x[0] <= ... <= x[n-1], the p-quantile is at position h = (n - 1) * p, i.e.
    x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]); q1, median and q3 are
    p = 1/4, 1/2, 3/4.  Example: 1, 2, 3, 4 gives q1 1.75, median 2.5, q3 3.25.

    Everything is computed exactly and rounded half-up to 2 decimals at the end.  Fewer than
    ``min_cell`` values give a suppressed summary (all statistics None).  These are *not* the
    published figures (quartiles of three values give the values back): publish with
    :func:`publish`.
    """
    n, stats = _statistics(values)
    if n == 0 or n < min_cell:
        return Summary(n, True)
    return Summary(n=n, suppressed=False, **{k: _round(v, 2) for k, v in stats.items()})


def publish(values: Iterable[Number | None], scale: str = "level", min_cell: int | None = None) -> Summary:
    """The published summary of one cell: threshold, then the coarse grid; no minimum or maximum.

    ``scale`` is ``"level"`` for dimension scores (1..5) or ``"index"`` for the overall index
    (0..100).  A cell with fewer than :func:`threshold` (``min_cell``) values is suppressed.
    Otherwise median, q1 and q3 are rounded half-up to :data:`QUANTILE_GRID` and the mean to
    :data:`MEAN_GRID`, each once, from the exact value.

    Why these grids: adding one institution x to a cell moves the mean by (x - mean) / (n + 1),
    so x = (n + 1) * mean' - n * mean; with both means known only to +-g/2 (g the mean grid), x
    is known only to +-(2n + 1) * g / 2, at n >= 5 at least +-1.4 levels / 27 index points.  The
    median of an even cell is the midpoint of two values, so x = 2 * median' - median is known
    only to +-1.5 * G (G the quantile grid: +-0.75 level, +-15 index points); quartiles
    interpolate with weights of 1/4 or less, which only widens the interval.  Dimension scores
    lie on a grid of thirds, and an interval of +-0.75 always holds at least four of them.
    """
    if scale not in QUANTILE_GRID:
        raise ValueError(f"scale must be one of {sorted(QUANTILE_GRID)}, not {scale!r}")
    n, stats = _statistics(values)
    if n == 0 or n < threshold(min_cell):
        return Summary(n, True)
    quantile, mean = QUANTILE_GRID[scale], MEAN_GRID[scale]
    return Summary(n=n, suppressed=False, median=to_grid(stats["median"], quantile), q1=to_grid(stats["q1"], quantile),
                   q3=to_grid(stats["q3"], quantile), mean=to_grid(stats["mean"], mean))


def _statistics_counts(counts: Mapping[Number, int]) -> tuple[int, dict[str, Fraction]]:
    """As :func:`_statistics`, from how many times each value occurs (the values need not be distinct)."""
    present = [(value, times) for value, times in counts.items() if value is not None and times]
    if all(type(value) is Decimal and value.is_finite() for value, _ in present):
        merged: dict = {}
        for value, times in present:  # Decimals compare and hash by value: 2.5 and 2.50 are one
            merged[value] = merged.get(value, 0) + times
        with localcontext() as ctx:
            ctx.prec = 60
            total_decimal = sum((value * times for value, times in merged.items()), Decimal(0))
        items = sorted(merged.items())
        total = Fraction(total_decimal)
    else:
        merged = {}
        for value, times in present:
            exact = _exact(value)
            merged[exact] = merged.get(exact, 0) + times
        items = sorted(merged.items())
        total = sum((value * times for value, times in items), Fraction(0))
    n = sum(times for _, times in items)
    if n == 0:
        return 0, {}
    cumulative, running = [], 0
    for _, times in items:
        running += times
        cumulative.append(running)

    def at(position: int) -> Fraction:
        return Fraction(items[bisect_right(cumulative, position)][0])

    def quantile(p: Fraction) -> Fraction:
        h = (n - 1) * p
        j = h.numerator // h.denominator
        if j + 1 >= n:
            return at(n - 1)
        low, high = at(j), at(j + 1)
        return low + (h - j) * (high - low)

    return n, {"median": quantile(Fraction(1, 2)), "q1": quantile(Fraction(1, 4)), "q3": quantile(Fraction(3, 4)),
               "mean": total / n, "minimum": Fraction(items[0][0]), "maximum": Fraction(items[-1][0])}


def publish_counts(counts: Mapping[Number, int], scale: str = "level", min_cell: int | None = None) -> Summary:
    """:func:`publish` of the values given as a frequency table (value -> how many institutions
    have it): the same figures as ``publish`` over the expanded list, without expanding it."""
    if scale not in QUANTILE_GRID:
        raise ValueError(f"scale must be one of {sorted(QUANTILE_GRID)}, not {scale!r}")
    n, stats = _statistics_counts(counts)
    if n == 0 or n < threshold(min_cell):
        return Summary(n, True)
    quantile, mean = QUANTILE_GRID[scale], MEAN_GRID[scale]
    return Summary(n=n, suppressed=False, median=to_grid(stats["median"], quantile), q1=to_grid(stats["q1"], quantile),
                   q3=to_grid(stats["q3"], quantile), mean=to_grid(stats["mean"], mean))


def aggregate_counts(counts: Mapping[str, Mapping[str, Mapping[Number, int]]], dimension_ids: Sequence[str], *,
                     countries: Iterable[str] | None = None, min_cell: int | None = None) -> dict[str, dict[str, Summary]]:
    """:func:`aggregate` from frequency tables: ``counts[country][dimension id or "index"][value]``
    is how many institutions (one observation each) of the universe have that value.

    Every country present as a key has a row (as a country with observations has in ``aggregate``);
    the result, suppression and complementary suppression included, equals ``aggregate``'s over
    the same observations.
    """
    k = threshold(min_cell)
    keys = list(dimension_ids)
    if INDEX in keys:
        raise ValueError(f"'{INDEX}' is reserved for the overall index and cannot be a dimension id")
    if len(set(keys)) != len(keys):
        raise ValueError("dimension ids must be unique")
    keys.append(INDEX)
    if ALL in counts:
        raise ValueError(f"'{ALL}' is reserved for the whole selection and cannot be a country code")
    region: dict[str, dict] = {key: {} for key in keys}
    for row in counts.values():
        for key in keys:
            cell = region[key]
            for value, times in (row.get(key) or {}).items():
                if value is not None:
                    cell[value] = cell.get(value, 0) + times

    def scale(key: str) -> str:
        return "index" if key == INDEX else "level"

    universe = {group: {key: publish_counts(region[key] if group == ALL else (counts[group].get(key) or {}), scale(key), k)
                        for key in keys} for group in _group_order(counts)}
    for key in keys:
        hidden = sum(universe[g][key].n for g in universe if g != ALL and universe[g][key].suppressed)
        if 0 < hidden < k and not universe[ALL][key].suppressed:
            universe[ALL][key] = replace(universe[ALL][key], mean=None)
    shown = None if countries is None else set(countries)
    return {group: row for group, row in universe.items() if group == ALL or shown is None or group in shown}


@dataclass(frozen=True)
class Observation:
    """One assessment of one institution: its dimension scores (2 decimals or None) and index."""

    institution_id: int
    country: str
    scores: Mapping[str, Decimal | None]
    index: Decimal | None


def _group_order(groups: Iterable[str]) -> list[str]:
    """Country codes sorted, then ``ALL``."""
    return sorted(g for g in set(groups) if g != ALL) + [ALL]


def aggregate(observations: Sequence[Observation], dimension_ids: Sequence[str], *, countries: Iterable[str] | None = None,
              min_cell: int | None = None) -> dict[str, dict[str, Summary]]:
    """Published summaries per group and dimension: ``table[group][dimension id or "index"]``.

    ``observations`` are the *universe*: every institution the region (``"ALL"``) covers, in
    every country.  Country rows are given for the countries in ``countries`` (default: every
    country present; a named country without observations has no row), sorted, then ``"ALL"``
    over the whole universe -- so choosing fewer countries never changes the region, and
    comparing two country selections cannot single out an institution.  Every group row holds
    every dimension id (in the given order) and then ``"index"``; a dimension missing from an
    observation's scores counts as None.  Each cell is published on its own (see
    :func:`publish`: threshold, then the coarse grid).

    The observations must be one per institution (pick one assessment per institution first): a
    repeated institution id raises ValueError, since counting it twice would weigh it double and
    could lift a small cell above the threshold.  ``"ALL"`` is reserved and cannot be a country
    code, and no dimension may be called ``"index"``.

    Complementary suppression: when the suppressed countries of the universe hold between 1 and
    threshold - 1 institutions in a column, the region's mean for that column is withheld (set
    to None), since it and the other countries' means would bound their total.
    """
    k = threshold(min_cell)
    keys = list(dimension_ids)
    if INDEX in keys:
        raise ValueError(f"'{INDEX}' is reserved for the overall index and cannot be a dimension id")
    if len(set(keys)) != len(keys):
        raise ValueError("dimension ids must be unique")
    keys.append(INDEX)

    values: dict[str, dict[str, list[Decimal]]] = {ALL: {key: [] for key in keys}}
    seen: set[int] = set()
    for obs in observations:
        if obs.country == ALL:
            raise ValueError(f"'{ALL}' is reserved for the whole selection and cannot be a country code")
        if obs.institution_id in seen:
            raise ValueError(f"institution {obs.institution_id} appears more than once; give one assessment per institution")
        seen.add(obs.institution_id)
        row = values.setdefault(obs.country, {key: [] for key in keys})
        for key in keys:
            value = obs.index if key == INDEX else obs.scores.get(key)
            if value is not None:
                row[key].append(value)
                values[ALL][key].append(value)

    def scale(key: str) -> str:
        return "index" if key == INDEX else "level"

    universe = {group: {key: publish(values[group][key], scale(key), k) for key in keys} for group in _group_order(values)}
    for key in keys:
        hidden = sum(universe[g][key].n for g in universe if g != ALL and universe[g][key].suppressed)
        if 0 < hidden < k and not universe[ALL][key].suppressed:
            universe[ALL][key] = replace(universe[ALL][key], mean=None)
    shown = None if countries is None else set(countries)
    return {group: row for group, row in universe.items() if group == ALL or shown is None or group in shown}


def benchmark_table(observations: Sequence[Observation], dimension_ids: Sequence[str], institution_id: int, country: str,
                    min_cell: int | None = None) -> dict[str, dict[str, Summary]]:
    """A member's benchmark: its country's and the region's published summaries, ``{"country": ..., "region": ...}``.

    The member knows its own score, so a cell counts only the *other* institutions towards the
    threshold: a cell is suppressed unless at least :func:`threshold` institutions besides the
    member have a value there (a country of 3 shows the member nothing, since the median of its
    own and two other scores would give those back).  The figures themselves are computed over
    everyone in the cell (the member included) and published like :func:`aggregate`'s.
    """
    k = threshold(min_cell)
    keys = [*dimension_ids, INDEX]
    cells: dict[str, dict[str, list[Decimal]]] = {"country": {key: [] for key in keys}, "region": {key: [] for key in keys}}
    own: dict[str, bool] = dict.fromkeys(keys, False)
    for obs in observations:
        for key in keys:
            value = obs.index if key == INDEX else obs.scores.get(key)
            if value is None:
                continue
            if obs.institution_id == institution_id:
                own[key] = True
            cells["region"][key].append(value)
            if obs.country == country:
                cells["country"][key].append(value)
    result: dict[str, dict[str, Summary]] = {}
    for group, row in cells.items():
        result[group] = {}
        for key, vals in row.items():
            others = len(vals) - (1 if own[key] else 0)
            summary = publish(vals, "index" if key == INDEX else "level", k)
            result[group][key] = summary if others >= k else Summary(len(vals), True)
    return result


def heatmap_cells(table: Mapping[str, Mapping[str, Summary]], dimension_ids: Sequence[str]) -> list[tuple[str, str, Decimal | None]]:
    """Cells of a country x dimension heatmap: (group, dimension id, median).

    Rows are the table's countries sorted, then ``"ALL"`` (when present); within a row the
    dimensions come in the given order.  The median is None for a suppressed cell.  Pass
    ``"index"`` among ``dimension_ids`` to include the overall index.
    """
    groups = [g for g in _group_order(table) if g in table]
    return [(group, dim, table[group][dim].median) for group in groups for dim in dimension_ids]


def histogram(values: Iterable[Number | None], edges: Sequence[Number]) -> list[int]:
    """Counts per bin ``[edges[i], edges[i+1])``; the last bin is closed ``[edges[-2], edges[-1]]``.

    Nones and values outside ``[edges[0], edges[-1]]`` are ignored.  Comparisons are exact (a
    float edge or value is read as its shortest decimal repr).  ``edges`` must be at least two,
    strictly increasing, or ValueError is raised.
    """
    bounds = [_exact(e) for e in edges]
    if len(bounds) < 2:
        raise ValueError("a histogram needs at least two edges")
    if any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ValueError("histogram edges must be strictly increasing")
    return _histogram(((value, 1) for value in values), bounds)


def histogram_counts(counts: Mapping[Number, int], edges: Sequence[Number]) -> list[int]:
    """:func:`histogram` of values given as a frequency table (value -> how many times it occurs)."""
    bounds = [_exact(e) for e in edges]
    if len(bounds) < 2:
        raise ValueError("a histogram needs at least two edges")
    if any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
        raise ValueError("histogram edges must be strictly increasing")
    return _histogram(counts.items(), bounds)


def _histogram(weighted: Iterable[tuple[Number | None, int]], bounds: list[Fraction]) -> list[int]:
    counts = [0] * (len(bounds) - 1)
    decimal_bounds = [Decimal(b.numerator) / Decimal(b.denominator) for b in bounds]
    exact_bounds = all(Fraction(d) == b for d, b in zip(decimal_bounds, bounds, strict=False))
    for value, times in weighted:
        if value is None:
            continue
        if exact_bounds and type(value) is Decimal and value.is_finite():
            x, edges_ = value, decimal_bounds  # fast path: Decimal against Decimal, still exact
        else:
            x, edges_ = _exact(value), bounds
        if x < edges_[0] or x > edges_[-1]:
            continue
        counts[min(bisect_right(edges_, x) - 1, len(counts) - 1)] += times
    return counts


@dataclass(frozen=True)
class Bin:
    """One published histogram bar: institutions with a value in ``[low, high)`` (the last bar closed)."""

    low: Decimal
    high: Decimal
    count: int


def protected_histogram(counts: Sequence[int], edges: Sequence[Number], min_cell: int | None = None) -> list[Bin]:
    """Histogram bars of at least :func:`threshold` institutions each, merging adjacent bins.

    ``counts`` come from :func:`histogram` over ``edges``.  Bins are merged left to right until
    the running count reaches the threshold; a short remainder at the end joins the last bar.
    Empty stretches join their neighbours too, so every bar spans at least one base bin and holds
    at least the threshold.  With fewer institutions than the threshold in all, nothing is
    published (an empty list).  Two selections that differ by one institution then tell only
    which (merged) bar it falls in: keep base bins at least twice the protection interval wide
    (the comparison uses 20 index points and one level).
    """
    k = threshold(min_cell)
    if len(edges) != len(counts) + 1:
        raise ValueError("a histogram has one more edge than bins")
    bounds = [Decimal(str(e)) if isinstance(e, float) else Decimal(e) for e in edges]
    bars: list[Bin] = []
    running, start = 0, 0
    for i, count in enumerate(counts):
        running += count
        if running >= k:
            bars.append(Bin(bounds[start], bounds[i + 1], running))
            running, start = 0, i + 1
    if start < len(counts):
        if not bars:
            return []
        last = bars.pop()
        bars.append(Bin(last.low, bounds[-1], last.count + running))
    return bars


# --------------------------------------------------------------------------- agreement


def quadratic_weighted_kappa(pairs: Sequence[tuple[int, int]], categories: Sequence[int] = (1, 2, 3, 4, 5)) -> Decimal | None:
    """Cohen's kappa with quadratic weights between two ratings of the same items.

    With k categories in the given order and i, j their positions, w_ij = (i - j)^2 / (k - 1)^2;
    O_ij is the number of pairs rated (i, j), E_ij = row_i * col_j / N from the marginals, and
    kappa = 1 - sum(w * O) / sum(w * E).  1 is perfect agreement, 0 agreement as by chance,
    negative worse than chance.

    Returns None when there are fewer than 2 pairs or when the expected weighted disagreement
    is 0 (e.g. every rating in one category).  Computed exactly, rounded half-up to 3 decimals.
    A rating outside ``categories`` raises ValueError.
    """
    counts: dict[tuple[int, int], int] = {}
    for a, b in pairs:
        counts[(a, b)] = counts.get((a, b), 0) + 1
    return _kappa_from_counts(counts, categories)


def _kappa_from_counts(counts: Mapping[tuple[int, int], int], categories: Sequence[int] = (1, 2, 3, 4, 5)) -> Decimal | None:
    """Quadratic-weighted kappa from the number of times each (a, b) rating pair occurs (3 decimals)."""
    exact = _exact_kappa(counts, categories)
    return _round(exact, 3) if exact is not None else None


def _exact_kappa(counts: Mapping[tuple[int, int], int], categories: Sequence[int] = (1, 2, 3, 4, 5)) -> Fraction | None:
    """Quadratic-weighted kappa as an exact fraction (None when undefined)."""
    position = {c: i for i, c in enumerate(categories)}
    k = len(position)
    if k < 2 or k != len(categories):
        raise ValueError("kappa needs at least two distinct categories")
    rows = [0] * k
    cols = [0] * k
    observed = 0
    n = 0
    for (a, b), times in counts.items():
        if a not in position or b not in position or isinstance(a, bool) or isinstance(b, bool):
            raise ValueError(f"rating pair ({a!r}, {b!r}) outside the categories {tuple(categories)}")
        i, j = position[a], position[b]
        rows[i] += times
        cols[j] += times
        observed += (i - j) ** 2 * times
        n += times
    if n < 2:
        return None
    # The common factor 1 / (k - 1)^2 of the weights cancels in the ratio.
    expected = Fraction(sum((i - j) ** 2 * rows[i] * cols[j] for i in range(k) for j in range(k)), n)
    if expected == 0:
        return None
    return 1 - observed / expected


@dataclass(frozen=True)
class Agreement:
    """Self-assessed versus validated levels in one cell.

    ``n`` is the number of institutions (what suppression looks at), ``pairs`` the number of
    (self, validated) criterion pairs.  When ``suppressed`` (n below the threshold) kappa and the
    difference are None.  ``mean_signed_difference`` = mean of (self - validated): positive means
    self-assessment runs high (generous), negative harsh.  Both are published on a coarse grid
    (kappa on :data:`KAPPA_GRID`, the difference on the level mean grid).  ``kappa`` may be None
    in an unsuppressed cell (see :func:`quadratic_weighted_kappa`).
    """

    n: int
    pairs: int
    suppressed: bool
    kappa: Decimal | None
    mean_signed_difference: Decimal | None


def agreement(pairs: Sequence[tuple[int, int]], institutions: int | None = None, min_cell: int | None = None) -> Agreement:
    """Agreement over (self level, validated level) pairs of criteria (levels 1..5), as published.

    ``institutions`` is how many distinct institutions the pairs come from; without it every
    pair counts as its own unit (n = number of pairs).  Suppressed when n is below
    :func:`threshold`.  Levels are checked even in a suppressed cell (ValueError outside 1..5).
    """
    counts: dict[tuple[int, int], int] = {}
    for a, b in pairs:
        counts[(a, b)] = counts.get((a, b), 0) + 1
    return _agreement_from_counts(counts, institutions, threshold(min_cell))


def _agreement_from_counts(counts: Mapping[tuple[int, int], int], institutions: int | None, k: int) -> Agreement:
    exact_kappa = _exact_kappa(counts)  # validates the levels; rounded once, to the grid, below
    total = sum(counts.values())
    n = total if institutions is None else institutions
    if n < k:
        return Agreement(n, total, True, None, None)
    kappa = to_grid(exact_kappa, KAPPA_GRID) if exact_kappa is not None else None
    difference = to_grid(Fraction(sum((a - b) * times for (a, b), times in counts.items()), total), MEAN_GRID["level"]) if total else None
    return Agreement(n, total, False, kappa, difference)


def agreement_table(rows: Iterable[tuple[str, str, int, int, int]], *, countries: Iterable[str] | None = None,
                    min_cell: int | None = None) -> dict[tuple[str, str], Agreement]:
    """Agreement per (country, dimension id) and per ("ALL", dimension id), as published.

    ``rows`` are (country, dimension id, institution id, self level, validated level), one per
    criterion with both levels, over the whole universe (as :func:`aggregate`'s observations):
    ``"ALL"`` covers every row, country cells are given for ``countries`` (default: all).  A
    cell's ``n`` is its number of distinct institutions and it is suppressed when that is below
    :func:`threshold`, however many criteria pairs it holds; kappa and the mean difference are
    published on the coarse grid (see :class:`Agreement`).  Keys come
    in order: countries sorted, then ``"ALL"``; within a group, dimensions in order of first
    appearance.  ``"ALL"`` cannot be a country code (ValueError).  One pass: each cell keeps the
    counts of every (self, validated) combination, not the pairs themselves.
    """
    counts: dict[tuple[str, str], dict[tuple[int, int], int]] = {}
    institutions: dict[tuple[str, str], set[int]] = {}
    dims: dict[str, None] = {}
    for country, dim, institution, own, validated in rows:
        if country == ALL:
            raise ValueError(f"'{ALL}' is reserved for the whole selection and cannot be a country code")
        dims.setdefault(dim)
        for key in ((country, dim), (ALL, dim)):
            cell = counts.get(key)
            if cell is None:
                cell = counts[key] = {}
                institutions[key] = set()
            pair = (own, validated)
            cell[pair] = cell.get(pair, 0) + 1
            institutions[key].add(institution)
    k = threshold(min_cell)
    shown = None if countries is None else set(countries)
    groups = [g for g in _group_order(country for country, _ in counts) if g == ALL or shown is None or g in shown]
    result = {}
    for group in groups:
        for dim in dims:
            key = (group, dim)
            if key in counts:
                result[key] = _agreement_from_counts(counts[key], len(institutions[key]), k)
    return result


# --------------------------------------------------------------------------- change


def change_since(previous: Mapping[str, Decimal | None], current: Mapping[str, Decimal | None]) -> dict[str, Decimal | None]:
    """Per key, current - previous (exact Decimal subtraction); None where either side is None.

    Keys are those of ``current`` in order, then keys only in ``previous``; a key missing on one
    side counts as None.
    """
    keys = list(current) + [k for k in previous if k not in current]
    result: dict[str, Decimal | None] = {}
    for key in keys:
        before, now = previous.get(key), current.get(key)
        result[key] = None if before is None or now is None else Decimal(now) - Decimal(before)
    return result


def agreement_table_counts(cells: Mapping[tuple[str, str], tuple[Mapping[tuple[int, int], int], int]], *,
                           countries: Iterable[str] | None = None, dimension_ids: Sequence[str] = (),
                           min_cell: int | None = None) -> dict[tuple[str, str], Agreement]:
    """:func:`agreement_table` from counted pairs: ``cells[(country, dimension id)]`` is (how many
    times each (self, validated) pair occurs, how many distinct institutions gave them).

    Each institution belongs to one country, so the region's institutions are the sum of the
    countries'.  Published figures equal ``agreement_table``'s over the same rows; within a group
    the dimensions come in the order of ``dimension_ids``, then any others sorted.
    """
    region: dict[str, tuple[dict[tuple[int, int], int], int]] = {}
    for (country, dim), (pairs, institutions) in cells.items():
        if country == ALL:
            raise ValueError(f"'{ALL}' is reserved for the whole selection and cannot be a country code")
        merged, total = region.get(dim, ({}, 0))
        for pair, times in pairs.items():
            merged[pair] = merged.get(pair, 0) + times
        region[dim] = (merged, total + institutions)
    order = {d: i for i, d in enumerate(dimension_ids)}
    dims = sorted(region, key=lambda d: (order.get(d, len(order)), d))
    k = threshold(min_cell)
    shown = None if countries is None else set(countries)
    groups = [g for g in _group_order(country for country, _ in cells) if g == ALL or shown is None or g in shown]
    result = {}
    for group in groups:
        for dim in dims:
            cell = region.get(dim) if group == ALL else cells.get((group, dim))
            if cell is not None:
                result[(group, dim)] = _agreement_from_counts(cell[0], cell[1], k)
    return result
