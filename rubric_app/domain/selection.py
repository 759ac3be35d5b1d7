"""Selection of SDE providers (DOMAIN.md, "Instrument 2"): eligibility, ranking, selection, sensitivity.

Rules, applied to one selection round (:class:`RoundSettings`):

* Category score = mean of the *assessed* item scores / 4 * 100, kept as an exact
  :class:`~fractions.Fraction`.  Items left blank (missing key or ``None``) are excluded from the
  mean; a category with no assessed item has no score (``None``).
* Weighted total = sum(w_c * score_c) / sum(w_c) over the instrument's categories, with the
  round's weights (the instrument's default weight for every category the round does not list).
  A category without a score counts as 0.
* Eligibility (every reason is recorded, in instrument order):

  1. ``knockout``: every eligibility fact the round requires must be True (a missing fact is False);
  2. ``missing_scores``: a category that *counts in this round* has no assessed item.  A category
     counts when its weight in the round is above zero or the round sets a minimum score for it.
     (A category the round weighs at zero and sets no minimum for cannot change the outcome, so a
     provider is not excluded for not having been assessed on it.)  A provider with a missing
     category would otherwise be ranked with a 0 there, which punishes an unfinished assessment as
     if it were a bad one: it is excluded instead, so staff complete the assessment first;
  3. ``min_score``: a category below the round's minimum score for it (compared exactly).  A
     category that has no score is reported once, as ``missing_scores``.

* Participants: the providers of the countries the round covers (``countries``; empty: every
  country of the providers given), synthetic ones only when ``include_synthetic`` is true (its
  default here, which keeps rounds stored before these settings as they were; new rounds get their
  default from services/selection.py). Others take no part: no row, no rank.
* Ranking per country among eligible providers: exact weighted total descending; ties broken by
  the number of categories scoring at least 50 (more first), then by provider code (ascending,
  plain string order).
* Selection: ``quota`` = the top k of each country (k from ``quotas``, else ``default_quota``);
  ``threshold`` = every eligible provider whose exact total is >= the threshold.
* Sensitivity: ``numpy.random.default_rng(seed).uniform(0.8, 1.2, size=(draws, n_categories))``
  (instrument category order) multiplies the weights; each draw recomputes the totals in float64
  and applies the same rule and tie-breaks.  Frequency = times selected / draws, rounded half-up to
  3 decimals; "robust" when the exact frequency is >= 0.9 or <= 0.1, otherwise "borderline".
  Eligibility does not depend on the weights (a factor is never zero, so a counted category stays
  counted), so ineligible providers have frequency 0 and no flag (None): the weights cannot
  select them, so they are neither robust nor borderline and are not counted as either.

Results depend only on the set of providers, the settings and the seed, never on the order of
the providers list: providers are processed in code order, and every float total is computed
element by element in a fixed order (no BLAS reductions), so equal score profiles give bit-equal
totals and the tie rule, not rounding noise, decides between them.
"""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

from .instruments import ProviderInstrument

QUOTA = "quota"
THRESHOLD = "threshold"
RULES: tuple[str, ...] = (QUOTA, THRESHOLD)

KNOCKOUT = "knockout"
MISSING_SCORES = "missing_scores"
MIN_SCORE = "min_score"

ROBUST = "robust"
BORDERLINE = "borderline"

#: sensitivity factors are drawn uniformly from [LOW, HIGH)
FACTOR_LOW = 0.8
FACTOR_HIGH = 1.2
#: a frequency at or above ROBUST_HIGH, or at or below ROBUST_LOW, is robust
ROBUST_HIGH = Fraction(9, 10)
ROBUST_LOW = Fraction(1, 10)
MAX_DRAWS = 100_000
#: the tie-break counts categories scoring at least this
GOOD_SCORE = 50
SCORE_PLACES = 2
FREQUENCY_PLACES = 3
#: float64 elements per work array in the sensitivity loop (8 MiB): bounds memory at any size
CHUNK_ELEMENTS = 1 << 20

_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ProviderInput:
    """One assessed provider."""

    #: unique within a round
    code: str
    #: ISO 3166-1 alpha-2, upper case
    country: str
    #: item id -> 0..4; a missing key or None means "not assessed"
    item_scores: Mapping[str, int | None]
    #: eligibility fact id -> yes/no; a missing fact counts as False
    facts: Mapping[str, bool]
    #: generated demo or benchmark data (takes part only in rounds that include synthetic providers)
    synthetic: bool = False


def _freeze(mapping: Mapping | None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class RoundSettings:
    """The parameters of one selection round (recorded with its result).

    Mappings are copied and frozen on construction, so a recorded round cannot change later.
    """

    #: category id -> weight >= 0; categories not listed (or an empty mapping) take the
    #: instrument's default weight
    weights: Mapping[str, Decimal] = field(default_factory=dict)
    #: eligibility fact ids required in this round
    knockouts: tuple[str, ...] = ()
    #: category id -> minimum category score 0..100
    min_scores: Mapping[str, Decimal] = field(default_factory=dict)
    #: "quota" | "threshold"
    rule: str = QUOTA
    #: country -> k (quota rule)
    quotas: Mapping[str, int] = field(default_factory=dict)
    #: k for countries not in ``quotas``
    default_quota: int = 0
    #: threshold rule: eligible providers with total >= threshold are selected
    threshold: Decimal | None = None
    #: sensitivity draws (0 = no sensitivity analysis)
    draws: int = 1000
    seed: int = 0
    #: the countries the round covers (ISO 3166-1 alpha-2); empty: every country of the providers given
    countries: tuple[str, ...] = ()
    #: whether synthetic (demo or benchmark) providers take part
    include_synthetic: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", _freeze(self.weights))
        object.__setattr__(self, "min_scores", _freeze(self.min_scores))
        object.__setattr__(self, "quotas", _freeze(self.quotas))
        object.__setattr__(self, "knockouts", tuple(self.knockouts))
        object.__setattr__(self, "countries", tuple(self.countries))

    def takes_part(self, provider: "ProviderInput") -> bool:
        """Whether ``provider`` takes part in the round: its country is covered, and it is not
        synthetic unless the round includes synthetic providers."""
        return ((not self.countries or provider.country in self.countries)
                and (self.include_synthetic or not provider.synthetic))

    def quota(self, country: str) -> int:
        """k for ``country`` under the quota rule."""
        return self.quotas.get(country, self.default_quota)


class SelectionError(ValueError):
    """Settings or provider data that break the rules; carries every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


# --------------------------------------------------------------------------- numbers


def _number(value: Any) -> Fraction | None:
    """An exact Fraction for an int, Decimal, Fraction or float (by its shortest repr); None if not a finite number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (Fraction, numbers.Integral)):
        return Fraction(value)
    if isinstance(value, Decimal):
        return Fraction(value) if value.is_finite() else None
    if isinstance(value, float):
        return Fraction(repr(value)) if np.isfinite(value) else None
    return None


def round_fraction(value: Fraction, places: int) -> Decimal:
    """``value`` rounded half-up (ties away from zero) to ``places`` decimals, exactly.

    Dividing first in Decimal and then quantizing could round twice (12.344999... -> 12.34500 ->
    12.35); this works on the integer numerator and denominator instead.
    """
    return _round_ratio(value.numerator, value.denominator, places)


def _round_ratio(numerator: int, denominator: int, places: int) -> Decimal:
    """numerator / denominator (denominator > 0) rounded half-up to ``places`` decimals, exactly."""
    quotient, remainder = divmod(abs(numerator) * 10**places, denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    sign = "-" if numerator < 0 and quotient else ""
    return Decimal(f"{sign}{quotient}E-{places}")


def _integral(value: Any) -> bool:
    """A whole number (int or numpy integer), not a bool."""
    return type(value) is int or (isinstance(value, numbers.Integral) and not isinstance(value, bool))


# --------------------------------------------------------------------------- validation


def default_weights(instrument: ProviderInstrument) -> dict[str, Decimal]:
    """Category id -> the instrument's default weight, in instrument order."""
    return {cat.id: cat.weight for cat in instrument.categories}


def effective_weights(instrument: ProviderInstrument, settings: RoundSettings) -> dict[str, Fraction]:
    """Category id -> the round's exact weight, in instrument order (defaults for unlisted categories)."""
    out: dict[str, Fraction] = {}
    for cat in instrument.categories:
        value = settings.weights.get(cat.id, cat.weight)
        number = _number(value)
        if number is None:
            raise SelectionError([f"weights: the weight of '{cat.id}' must be a number, found {value!r}"])
        out[cat.id] = number
    return out


def validate_settings(instrument: ProviderInstrument, settings: RoundSettings) -> list[str]:
    """Every problem with ``settings`` for ``instrument``, as human-readable messages (empty when fine)."""
    problems: list[str] = []
    category_ids = [cat.id for cat in instrument.categories]
    fact_ids = {fact.id for fact in instrument.eligibility}

    for cid, value in settings.weights.items():
        if cid not in category_ids:
            problems.append(f"weights: unknown category '{cid}'")
            continue
        number = _number(value)
        if number is None:
            problems.append(f"weights: the weight of '{cid}' must be a number, found {value!r}")
        elif number < 0:
            problems.append(f"weights: the weight of '{cid}' must not be negative, found {value}")
    weights = [_number(settings.weights.get(cid, instrument.category(cid).weight)) for cid in category_ids]
    if all(w is not None and w >= 0 for w in weights) and sum(weights) == 0:
        problems.append("weights: at least one category must have a weight above zero")

    for fid in settings.knockouts:
        if fid not in fact_ids:
            problems.append(f"knockouts: unknown eligibility fact '{fid}'")

    for cid, value in settings.min_scores.items():
        if cid not in category_ids:
            problems.append(f"min_scores: unknown category '{cid}'")
            continue
        number = _number(value)
        if number is None:
            problems.append(f"min_scores: the minimum score of '{cid}' must be a number, found {value!r}")
        elif not 0 <= number <= 100:
            problems.append(f"min_scores: the minimum score of '{cid}' must be between 0 and 100, found {value}")

    if settings.rule not in RULES:
        problems.append(f"rule: unknown rule {settings.rule!r}; expected one of {', '.join(RULES)}")
    elif settings.rule == THRESHOLD:
        if settings.threshold is None:
            problems.append("threshold: the threshold rule needs a threshold")
        else:
            number = _number(settings.threshold)
            if number is None:
                problems.append(f"threshold: must be a number, found {settings.threshold!r}")
            elif not 0 <= number <= 100:
                problems.append(f"threshold: must be between 0 and 100, found {settings.threshold}")

    for country, k in settings.quotas.items():
        if not (isinstance(country, str) and _COUNTRY_RE.match(country)):
            problems.append(f"quotas: {country!r} is not an ISO 3166-1 alpha-2 country code (two upper-case letters)")
        if not _integral(k):
            problems.append(f"quotas: the quota of {country} must be a whole number, found {k!r}")
        elif k < 0:
            problems.append(f"quotas: the quota of {country} must not be negative, found {k}")
    if not _integral(settings.default_quota):
        problems.append(f"default_quota: must be a whole number, found {settings.default_quota!r}")
    elif settings.default_quota < 0:
        problems.append(f"default_quota: must not be negative, found {settings.default_quota}")

    seen: set = set()
    for country in settings.countries:
        if not (isinstance(country, str) and _COUNTRY_RE.match(country)):
            problems.append(f"countries: {country!r} is not an ISO 3166-1 alpha-2 country code (two upper-case letters)")
        elif country in seen:
            problems.append(f"countries: {country} is named twice")
        seen.add(country)
    if settings.countries:
        for country in settings.quotas:
            if isinstance(country, str) and _COUNTRY_RE.match(country) and country not in seen:
                problems.append(f"quotas: {country} is not a country this round covers ({', '.join(sorted(seen))})")
    if not isinstance(settings.include_synthetic, bool):
        problems.append(f"include_synthetic: must be true or false, found {settings.include_synthetic!r}")

    if not _integral(settings.draws):
        problems.append(f"draws: must be a whole number, found {settings.draws!r}")
    elif not 0 <= settings.draws <= MAX_DRAWS:
        problems.append(f"draws: must be between 0 and {MAX_DRAWS}, found {settings.draws}")
    if not _integral(settings.seed) or settings.seed < 0:
        problems.append(f"seed: must be a whole number >= 0, found {settings.seed!r}")
    return problems


def validate_providers(instrument: ProviderInstrument, providers: Sequence[ProviderInput]) -> list[str]:
    """Every problem with the provider data: duplicate or empty codes, bad countries, unknown ids, scores off the scale."""
    problems: list[str] = []
    item_ids = {item.id for item in instrument.items}
    fact_ids = {fact.id for fact in instrument.eligibility}
    scale = {point.value for point in instrument.scale}
    seen: set[str] = set()
    for p in providers:
        if not (isinstance(p.code, str) and p.code.strip()):
            problems.append(f"provider {p.code!r}: the code must be a non-empty string")
        elif p.code in seen:
            problems.append(f"provider {p.code}: duplicate code")
        seen.add(p.code)
        if not (isinstance(p.country, str) and _COUNTRY_RE.match(p.country)):
            problems.append(f"provider {p.code}: {p.country!r} is not an ISO 3166-1 alpha-2 country code (two upper-case letters)")
        for iid, value in p.item_scores.items():
            if iid not in item_ids:
                problems.append(f"provider {p.code}: unknown item '{iid}'")
            elif value is not None and not ((type(value) is int or _integral(value)) and value in scale):
                problems.append(f"provider {p.code}: the score of item '{iid}' must be one of {sorted(scale)} or blank, found {value!r}")
        for fid, value in p.facts.items():
            if fid not in fact_ids:
                problems.append(f"provider {p.code}: unknown eligibility fact '{fid}'")
            elif not isinstance(value, bool):
                problems.append(f"provider {p.code}: eligibility fact '{fid}' must be True or False, found {value!r}")
    return problems


# --------------------------------------------------------------------------- scores


def category_scores(instrument: ProviderInstrument, item_scores: Mapping[str, int | None]) -> dict[str, Fraction | None]:
    """Category id -> mean of the assessed item scores / 4 * 100 (exact), in instrument order.

    Blank items (missing key or None) are left out of the mean; a category with no assessed item
    is None.  Raises ValueError for a score off the scale.
    """
    top = instrument.max_value
    scale = {point.value for point in instrument.scale}
    out: dict[str, Fraction | None] = {}
    for cat in instrument.categories:
        total = count = 0
        for item in cat.items:
            value = item_scores.get(item.id)
            if value is None:
                continue
            if not (_integral(value) and value in scale):
                raise ValueError(f"the score of item '{item.id}' must be one of {sorted(scale)} or blank, found {value!r}")
            total += int(value)
            count += 1
        out[cat.id] = Fraction(total * 100, count * top) if count else None
    return out


def weighted_total(scores: Mapping[str, Fraction | None], weights: Mapping[str, Fraction]) -> Fraction:
    """sum(w_c * score_c) / sum(w_c) over the categories of ``weights``; a missing score counts as 0."""
    weight_sum = sum(weights.values(), Fraction(0))
    if weight_sum <= 0:
        raise ValueError("the weights must add up to more than zero")
    numerator = Fraction(0)
    for cid, weight in weights.items():
        score = scores.get(cid)
        if score is not None and weight:
            numerator += weight * score
    return numerator / weight_sum


def categories_at_least(scores: Mapping[str, Fraction | None], floor: int = GOOD_SCORE) -> int:
    """How many categories score at least ``floor`` (exact comparison; unscored ones do not count)."""
    return sum(1 for score in scores.values() if score is not None and score >= floor)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Exclusion:
    """One reason a provider is not eligible."""

    #: "knockout" | "min_score" | "missing_scores"
    kind: str
    #: the fact id (knockout) or the category id (min_score, missing_scores)
    subject: str
    #: min_score: the provider's category score (2 decimals; more when 2 would round it up to the minimum)
    value: Decimal | None = None
    #: min_score: the round's minimum
    required: Decimal | None = None

    def __str__(self) -> str:
        if self.kind == MIN_SCORE:
            return f"{self.subject}: score {self.value} below the minimum {self.required}"
        if self.kind == MISSING_SCORES:
            return f"{self.subject}: no item assessed"
        return f"{self.subject}: required"


@dataclass(frozen=True)
class ProviderResult:
    code: str
    country: str
    #: category id -> score rounded half-up to 2 decimals (None: no item assessed), instrument order
    category_scores: Mapping[str, Decimal | None]
    #: weighted total rounded half-up to 2 decimals (ranking uses the exact value)
    total: Decimal
    eligible: bool
    #: every reason, in instrument order: knock-out facts, then missing-score categories, then minimum scores
    exclusions: tuple[Exclusion, ...]
    categories_at_least_50: int
    #: 1-based rank within the country among eligible providers; None when ineligible
    rank: int | None
    selected: bool
    #: share of sensitivity draws in which the provider was selected (3 decimals); None without draws
    frequency: Decimal | None
    #: "robust" | "borderline"; None without draws and for ineligible providers
    flag: str | None
    #: True when ``selected`` was set by a person (see :func:`apply_overrides`)
    overridden: bool = False


@dataclass(frozen=True)
class RoundResult:
    #: ordered by country, then rank; within a country the ineligible come last, by code
    results: tuple[ProviderResult, ...]
    settings: RoundSettings
    instrument_hash: str
    #: the weights actually used (category id -> weight, instrument order, defaults filled in)
    weights: Mapping[str, Decimal] = field(default_factory=dict)
    _index: Mapping[str, ProviderResult] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "results", tuple(self.results))
        object.__setattr__(self, "weights", _freeze(self.weights))
        object.__setattr__(self, "_index", MappingProxyType({r.code: r for r in self.results}))

    def by_code(self, code: str) -> ProviderResult:
        """The result of one provider; KeyError when the code is not in the round."""
        return self._index[code]

    def countries(self) -> list[str]:
        """The countries of the round, sorted."""
        return sorted({r.country for r in self.results})

    def selected(self) -> list[ProviderResult]:
        """The selected providers, in result order."""
        return [r for r in self.results if r.selected]


class _Scorer:
    """Category scores and exact weighted totals for one round, on integers.

    Every total of the round is an integer numerator over one common denominator
    ``M * sum(A_c)``, where ``A_c = w_c * B`` are the weights scaled to integers (B = lcm of their
    denominators) and ``M = top * lcm(1..n_items)`` is divisible by every possible ``count * top``:

        total = sum(w_c * 100 * s_c / (n_c * top)) / sum(w_c)
              = sum(A_c * 100 * s_c * (M // (n_c * top))) / (M * sum(A_c))

    (s_c the sum and n_c the number of assessed items of category c).  Ranking and the threshold
    rule then compare plain integers; the result equals :func:`weighted_total` of
    :func:`category_scores`, which stay the reference definition.
    """

    def __init__(self, instrument: ProviderInstrument, weights: Mapping[str, Fraction]):
        self.top = top = instrument.max_value
        scale_b = math.lcm(*(w.denominator for w in weights.values()))
        self.categories = [(cat.id, tuple(item.id for item in cat.items), int(weights[cat.id] * scale_b))
                           for cat in instrument.categories]
        self.m = top * math.lcm(*range(1, max(len(items) for _, items, _ in self.categories) + 1))
        self.denominator = self.m * sum(a for _, _, a in self.categories)

    def score(self, item_scores: Mapping[str, int | None]) -> tuple[dict[str, Fraction | None], int, int]:
        """(category scores, total numerator, categories at least 50) of validated item scores."""
        scores: dict[str, Fraction | None] = {}
        numerator = good = 0
        top, m = self.top, self.m
        for cid, items, a in self.categories:
            total = count = 0
            for iid in items:
                value = item_scores.get(iid)
                if value is not None:
                    total += value
                    count += 1
            if count:
                total = int(total)
                scores[cid] = Fraction(100 * total, count * top)
                numerator += a * 100 * total * (m // (count * top))
                good += 100 * total >= GOOD_SCORE * count * top
            else:
                scores[cid] = None
        return scores, numerator, good


@dataclass
class _Row:
    """Working state of one provider during :func:`run_round`."""

    provider: ProviderInput
    scores: dict[str, Fraction | None]
    #: exact total = numerator / denominator (the denominator is common to the round)
    numerator: int
    denominator: int
    good: int
    exclusions: list[Exclusion]
    rank: int | None = None
    selected: bool = False
    times: int = 0

    @property
    def eligible(self) -> bool:
        return not self.exclusions


def _exclusions(instrument: ProviderInstrument, provider: ProviderInput, scores: Mapping[str, Fraction | None],
                knockouts: set[str], counted: set[str], minimums: Mapping[str, tuple[Fraction, Decimal]]) -> list[Exclusion]:
    out = [Exclusion(KNOCKOUT, fact.id) for fact in instrument.eligibility
           if fact.id in knockouts and provider.facts.get(fact.id) is not True]
    out += [Exclusion(MISSING_SCORES, cat.id) for cat in instrument.categories
            if cat.id in counted and scores[cat.id] is None]
    for cat in instrument.categories:
        if cat.id in minimums and scores[cat.id] is not None:
            exact, shown = minimums[cat.id]
            if scores[cat.id] < exact:
                out.append(Exclusion(MIN_SCORE, cat.id, _shown_below(scores[cat.id], exact), shown))
    return out


def _shown_below(score: Fraction, minimum: Fraction) -> Decimal:
    """``score`` with 2 decimals, or more when 2 would round it up to the minimum it fails.

    41.666... fails a minimum of 41.67: shown as 41.667, not as a puzzling "41.67 < 41.67".
    """
    places = SCORE_PLACES
    shown = round_fraction(score, places)
    while Fraction(shown) >= minimum and places < 12:
        places += 1
        shown = round_fraction(score, places)
    return shown


def run_round(instrument: ProviderInstrument, providers: Sequence[ProviderInput], settings: RoundSettings) -> RoundResult:
    """Score, rank and select ``providers`` under ``settings``, with the sensitivity analysis.

    Raises :class:`SelectionError` listing every problem when the settings or the provider data
    are invalid.
    """
    providers = [p for p in providers if settings.takes_part(p)]
    problems = validate_settings(instrument, settings) + validate_providers(instrument, providers)
    if problems:
        raise SelectionError(problems)
    weights = effective_weights(instrument, settings)
    knockouts = set(settings.knockouts)
    # category id -> (exact minimum, minimum as shown in an exclusion)
    minimums = {cid: (_number(v), v if isinstance(v, Decimal) else _decimal(_number(v)))
                for cid, v in settings.min_scores.items()}
    counted = {cid for cid, w in weights.items() if w > 0} | set(minimums)

    scorer = _Scorer(instrument, weights)
    rows: list[_Row] = []
    for p in sorted(providers, key=lambda p: p.code):
        scores, numerator, good = scorer.score(p.item_scores)
        rows.append(_Row(p, scores, numerator, scorer.denominator, good,
                         _exclusions(instrument, p, scores, knockouts, counted, minimums)))

    by_country: dict[str, list[_Row]] = {}
    for row in rows:
        by_country.setdefault(row.provider.country, []).append(row)
    # per country, the eligible rows in rank order
    ranked: dict[str, list[_Row]] = {}
    for country, group in by_country.items():
        eligible = sorted((r for r in group if r.eligible), key=lambda r: (-r.numerator, -r.good, r.provider.code))
        for position, row in enumerate(eligible, start=1):
            row.rank = position
        ranked[country] = eligible

    threshold = _number(settings.threshold) if settings.rule == THRESHOLD else None
    if settings.rule == QUOTA:
        for country, eligible in ranked.items():
            for row in eligible[: settings.quota(country)]:
                row.selected = True
    else:
        # total >= T  <=>  numerator >= T * denominator (exact, all totals share the denominator)
        bar = threshold * scorer.denominator
        for row in rows:
            row.selected = row.eligible and row.numerator >= bar

    if settings.draws:
        _sensitivity(instrument, settings, weights, ranked, threshold)

    results: list[ProviderResult] = []
    for country in sorted(by_country):
        ineligible = [r for r in by_country[country] if not r.eligible]  # already in code order
        for row in ranked[country] + ineligible:
            results.append(_result(row, settings.draws))
    return RoundResult(tuple(results), settings, instrument.hash,
                       {cid: _decimal(w) for cid, w in weights.items()})


def _decimal(value: Fraction) -> Decimal:
    """An exact Decimal for a Fraction that has one (weights given as decimals), else 6 decimals."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact if Fraction(exact) == value else round_fraction(value, 6)


def _result(row: _Row, draws: int) -> ProviderResult:
    frequency = flag = None
    if draws:
        share = Fraction(row.times, draws)
        frequency = round_fraction(share, FREQUENCY_PLACES)
        if row.eligible:  # the weights cannot select an ineligible provider: no stability to speak of
            flag = ROBUST if share >= ROBUST_HIGH or share <= ROBUST_LOW else BORDERLINE
    return ProviderResult(
        code=row.provider.code,
        country=row.provider.country,
        category_scores=MappingProxyType({cid: None if s is None else _round_ratio(s.numerator, s.denominator, SCORE_PLACES)
                                          for cid, s in row.scores.items()}),
        total=_round_ratio(row.numerator, row.denominator, SCORE_PLACES),
        eligible=row.eligible,
        exclusions=tuple(row.exclusions),
        categories_at_least_50=row.good,
        rank=row.rank,
        selected=row.selected,
        frequency=frequency,
        flag=flag,
    )


# --------------------------------------------------------------------------- sensitivity


def perturbed_weights(weights: Mapping[str, Fraction], draws: int, seed: int) -> np.ndarray:
    """(draws, n_categories) float64 weights: each weight times a factor from U[0.8, 1.2), categories in ``weights`` order."""
    rng = np.random.default_rng(seed)
    factors = rng.uniform(FACTOR_LOW, FACTOR_HIGH, size=(draws, len(weights)))
    return factors * np.array([float(w) for w in weights.values()], dtype=np.float64)


def _score_matrix(rows: Sequence[_Row], category_ids: Sequence[str], shift: float = 0.0) -> np.ndarray:
    """(n_rows, n_categories) float64 category scores (a missing one as 0) minus ``shift``."""
    matrix = np.array([[float(r.scores[c]) if r.scores[c] is not None else 0.0 for c in category_ids] for r in rows],
                      dtype=np.float64).reshape(len(rows), len(category_ids))
    return matrix - shift if shift else matrix


def _weighted_sums(weights: np.ndarray, scores: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> np.ndarray:
    """out[d, i] = sum_c weights[d, c] * scores[i, c], category by category in a fixed order.

    Element-wise ufuncs give every (draw, provider) cell the same operations in the same order,
    whatever its position, so equal score rows give bit-equal sums (a BLAS product might not).
    """
    np.multiply(weights[:, 0, None], scores[None, :, 0], out=out)
    for c in range(1, scores.shape[1]):
        np.multiply(weights[:, c, None], scores[None, :, c], out=tmp)
        out += tmp
    return out


def _chunks(draws: int, width: int):
    step = max(1, CHUNK_ELEMENTS // max(1, width))
    for start in range(0, draws, step):
        yield start, min(draws, start + step)


def _sensitivity(instrument: ProviderInstrument, settings: RoundSettings, weights: Mapping[str, Fraction],
                 ranked: Mapping[str, list[_Row]], threshold: Fraction | None) -> None:
    """Count, for every eligible row, the draws in which it is selected (sets ``row.times``)."""
    category_ids = [cat.id for cat in instrument.categories]
    perturbed = perturbed_weights(weights, settings.draws, settings.seed)
    draws = settings.draws

    if settings.rule == THRESHOLD:
        # selected iff sum w_c (s_c - T) >= 0: exact when every s_c equals T, no division
        eligible = [row for country in sorted(ranked) for row in ranked[country]]
        if not eligible:
            return
        scores = _score_matrix(eligible, category_ids, float(threshold))
        counts = np.zeros(len(eligible), dtype=np.int64)
        for start, stop in _chunks(draws, len(eligible)):
            w = perturbed[start:stop]
            out = np.empty((stop - start, len(eligible)))
            _weighted_sums(w, scores, out, np.empty_like(out))
            counts += (out >= 0).sum(axis=0)
        for row, n in zip(eligible, counts.tolist(), strict=False):
            row.times = n
        return

    for country in sorted(ranked):
        # columns in tie-break order (more categories >= 50 first, then code): among equal totals
        # in a draw, the leftmost wins; this order does not depend on the weights
        group = sorted(ranked[country], key=lambda r: (-r.good, r.provider.code))
        m, k = len(group), settings.quota(country)
        if not m or k <= 0:
            continue
        if k >= m:
            for row in group:
                row.times = draws
            continue
        scores = _score_matrix(group, category_ids)
        counts = np.zeros(m, dtype=np.int64)
        for start, stop in _chunks(draws, m):
            w = perturbed[start:stop]
            # totals up to the common positive factor 1 / sum(w): same order as the totals
            sums = _weighted_sums(w, scores, np.empty((stop - start, m)), np.empty((stop - start, m)))
            kth = np.partition(sums, m - k, axis=1)[:, m - k, None]  # k-th largest per draw
            above = sums > kth
            ties = sums == kth
            room = k - above.sum(axis=1, keepdims=True)
            selected = above | (ties & (np.cumsum(ties, axis=1) <= room))
            counts += selected.sum(axis=0)
        for row, n in zip(group, counts.tolist(), strict=False):
            row.times = n


# --------------------------------------------------------------------------- overrides


def apply_overrides(result: RoundResult, overrides: Mapping[str, bool]) -> RoundResult:
    """A new result with ``selected`` set by a person for the listed codes (marked ``overridden``).

    Ranks, eligibility and sensitivity frequencies are unchanged (they describe the rule, not the
    decision); an ineligible provider may be selected by hand and keeps its exclusions on record.
    Raises KeyError for a code not in the round and TypeError for a value that is not a bool.
    """
    for code, value in overrides.items():
        result.by_code(code)  # KeyError for an unknown code
        if not isinstance(value, bool):
            raise TypeError(f"override of {code} must be True or False, found {value!r}")
    results = tuple(replace(r, selected=overrides[r.code], overridden=True) if r.code in overrides else r
                    for r in result.results)
    return replace(result, results=results)
