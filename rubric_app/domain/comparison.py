"""Cross-country comparison (DOMAIN.md, "Comparability across countries").

* Only assessments on one instrument id *and* version are compared; a selection mixing versions
  is refused with :class:`MixedVersions`, whose message names every (id, version) present.
* Aggregates per country and for the whole selection (the region, group ``"ALL"``) are
  suppressed when fewer than :data:`MIN_CELL` institutions are in the cell, so no single
  institution is exposed.  A cell is one group and one dimension (or the overall index): its
  size is the number of institutions *with a value* there, so a country of three institutions
  where one has no score on a dimension has a suppressed cell for that dimension.
* Self-assessed versus reviewer-validated levels: quadratic-weighted kappa and the mean signed
  difference (self - validated; positive = self-assessment runs high) per country and dimension,
  suppressed when fewer than :data:`MIN_CELL` distinct institutions contribute.

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

#: aggregates over fewer institutions than this are suppressed
MIN_CELL = 3
#: the group holding the whole selection (every country together: the region)
ALL = "ALL"
#: the key of the overall index in an :func:`aggregate` table, next to the dimension ids
INDEX = "index"

Number = Decimal | float | int


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
    """Distribution of one cell.  Every statistic is rounded half-up to 2 decimals.

    ``n`` counts the values present (Nones excluded).  When ``suppressed`` (n < MIN_CELL) every
    statistic is None; ``n`` itself is still given.
    """

    n: int
    suppressed: bool
    median: Decimal | None = None
    q1: Decimal | None = None
    q3: Decimal | None = None
    mean: Decimal | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None


def summarize(values: Iterable[Number | None]) -> Summary:
    """Median, quartiles, mean, minimum and maximum of the values; Nones are ignored.

    Quartiles use the *inclusive* linear-interpolation method (``statistics.quantiles(...,
    method="inclusive")``, Excel ``QUARTILE.INC``, R type 7): with the n values sorted as
    x[0] <= ... <= x[n-1], the p-quantile is at position h = (n - 1) * p, i.e.
    x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)]); q1, median and q3 are
    p = 1/4, 1/2, 3/4.  Example: 1, 2, 3, 4 gives q1 1.75, median 2.5, q3 3.25.

    Everything is computed exactly and rounded half-up to 2 decimals at the end.  Fewer than
    :data:`MIN_CELL` values give a suppressed summary (all statistics None).
    """
    ordered, total = _ordered(values)
    n = len(ordered)
    if n < MIN_CELL or n == 0:
        return Summary(n, True)

    def r(x: Fraction) -> Decimal:
        return _round(x, 2)

    return Summary(
        n=n,
        suppressed=False,
        median=r(_quantile(ordered, Fraction(1, 2))),
        q1=r(_quantile(ordered, Fraction(1, 4))),
        q3=r(_quantile(ordered, Fraction(3, 4))),
        mean=r(total / n),
        minimum=r(Fraction(ordered[0])),
        maximum=r(Fraction(ordered[-1])),
    )


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


def aggregate(observations: Sequence[Observation], dimension_ids: Sequence[str]) -> dict[str, dict[str, Summary]]:
    """Summaries per group and dimension: ``table[group][dimension id or "index"]``.

    Groups are every country code present (sorted) and then ``"ALL"``, the whole selection.
    Every group row holds every dimension id (in the given order) and then ``"index"``; a
    dimension missing from an observation's scores counts as None.  Each cell is suppressed on
    its own (see :func:`summarize`).

    The observations must be one per institution (pick one assessment per institution first): a
    repeated institution id raises ValueError, since counting it twice would weigh it double and
    could lift a cell of fewer than MIN_CELL institutions above the threshold.  ``"ALL"`` is
    reserved and cannot be a country code, and no dimension may be called ``"index"``.

    Note: a suppressed country still contributes to ``"ALL"`` (the region must include every
    institution).  When the suppressed countries of a column hold only 1 or 2 institutions, the
    region's mean is withheld (set to None) for that column, since it minus the visible
    countries' figures would reveal their total.  Minimum and maximum are computed but must not
    be published (they are single institutions' scores).
    """
    keys = list(dimension_ids)
    if INDEX in keys:
        raise ValueError(f"'{INDEX}' is reserved for the overall index and cannot be a dimension id")
    if len(set(keys)) != len(keys):
        raise ValueError("dimension ids must be unique")
    keys.append(INDEX)

    values: dict[str, dict[str, list[Decimal]]] = {ALL: {k: [] for k in keys}}
    seen: set[int] = set()
    for obs in observations:
        if obs.country == ALL:
            raise ValueError(f"'{ALL}' is reserved for the whole selection and cannot be a country code")
        if obs.institution_id in seen:
            raise ValueError(f"institution {obs.institution_id} appears more than once; give one assessment per institution")
        seen.add(obs.institution_id)
        row = values.setdefault(obs.country, {k: [] for k in keys})
        for key in keys:
            value = obs.index if key == INDEX else obs.scores.get(key)
            if value is not None:
                row[key].append(value)
                values[ALL][key].append(value)

    table = {group: {key: summarize(values[group][key]) for key in keys} for group in _group_order(values)}
    # Complementary suppression: when the suppressed countries of a column hold 1 or 2
    # institutions in all, the region's mean minus the visible countries' means would give their
    # total away, so the region's mean is withheld for that column.
    for key in keys:
        hidden = sum(table[g][key].n for g in table if g != ALL and table[g][key].suppressed)
        if 0 < hidden < MIN_CELL and not table[ALL][key].suppressed:
            table[ALL][key] = replace(table[ALL][key], mean=None)
    return table


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
    counts = [0] * (len(bounds) - 1)
    decimal_bounds = [Decimal(b.numerator) / Decimal(b.denominator) for b in bounds]
    exact_bounds = all(Fraction(d) == b for d, b in zip(decimal_bounds, bounds, strict=False))
    for value in values:
        if value is None:
            continue
        if exact_bounds and type(value) is Decimal and value.is_finite():
            x, edges_ = value, decimal_bounds  # fast path: Decimal against Decimal, still exact
        else:
            x, edges_ = _exact(value), bounds
        if x < edges_[0] or x > edges_[-1]:
            continue
        counts[min(bisect_right(edges_, x) - 1, len(counts) - 1)] += 1
    return counts


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
    """Quadratic-weighted kappa from the number of times each (a, b) rating pair occurs."""
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
    return _round(1 - observed / expected, 3)


@dataclass(frozen=True)
class Agreement:
    """Self-assessed versus validated levels in one cell.

    ``n`` is the number of institutions (what suppression looks at), ``pairs`` the number of
    (self, validated) criterion pairs.  When ``suppressed`` (n < MIN_CELL) kappa and the
    difference are None.  ``mean_signed_difference`` = mean of (self - validated), rounded
    half-up to 2 decimals: positive means self-assessment runs high (generous), negative harsh.
    ``kappa`` may be None in an unsuppressed cell (see :func:`quadratic_weighted_kappa`).
    """

    n: int
    pairs: int
    suppressed: bool
    kappa: Decimal | None
    mean_signed_difference: Decimal | None


def agreement(pairs: Sequence[tuple[int, int]], institutions: int | None = None) -> Agreement:
    """Agreement over (self level, validated level) pairs of criteria (levels 1..5).

    ``institutions`` is how many distinct institutions the pairs come from; without it every
    pair counts as its own unit (n = number of pairs).  Suppressed when n < MIN_CELL.  Levels are
    checked even in a suppressed cell (ValueError outside 1..5).
    """
    counts: dict[tuple[int, int], int] = {}
    for a, b in pairs:
        counts[(a, b)] = counts.get((a, b), 0) + 1
    return _agreement_from_counts(counts, institutions)


def _agreement_from_counts(counts: Mapping[tuple[int, int], int], institutions: int | None) -> Agreement:
    kappa = _kappa_from_counts(counts)  # validates the levels
    total = sum(counts.values())
    n = total if institutions is None else institutions
    if n < MIN_CELL:
        return Agreement(n, total, True, None, None)
    difference = _round(Fraction(sum((a - b) * times for (a, b), times in counts.items()), total), 2) if total else None
    return Agreement(n, total, False, kappa, difference)


def agreement_table(rows: Iterable[tuple[str, str, int, int, int]]) -> dict[tuple[str, str], Agreement]:
    """Agreement per (country, dimension id) and per ("ALL", dimension id).

    ``rows`` are (country, dimension id, institution id, self level, validated level), one per
    criterion with both levels.  A cell's ``n`` is its number of distinct institutions and it
    is suppressed when that is below MIN_CELL, however many criteria pairs it holds.  Keys come
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
    groups = _group_order(country for country, _ in counts)
    result = {}
    for group in groups:
        for dim in dims:
            key = (group, dim)
            if key in counts:
                result[key] = _agreement_from_counts(counts[key], len(institutions[key]))
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
