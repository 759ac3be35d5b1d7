"""Cross-country comparison: one query for the stored scores, one pass to aggregate."""
from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timezone
from decimal import Decimal
from itertools import compress

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..domain.comparison import (
    KAPPA_GRID,
    MEAN_GRID,
    QUANTILE_GRID,
    Agreement,
    Observation,
    Summary,
    agreement_table,
    agreement_table_counts,
    aggregate,
    aggregate_counts,
    benchmark_table,
    check_single_version,
    histogram,
    histogram_counts,
    protected_histogram,
    threshold,
)
from ..domain.instruments import Registry, Rubric
from ..extensions import app_cache
from ..inputs import MAX_ID, ascii_int
from ..models import SUBMITTED, VALIDATED, Assessment, Institution, ScoreTokens, User
from . import N_, Forbidden, Invalid, stamps
from .score_rows import SCORE_COLUMNS, read_pair_token, read_score_token, write_score_rows

COMPARE_ROLES = ("reviewer", "staff", "admin")
#: base histogram bins: 20 index points and one level, twice the protection interval
#: (docs/comparison.md); bars under the threshold are merged with their neighbours
INDEX_EDGES = [0, 20, 40, 60, 80, 100]
SCORE_EDGES = [1, 2, 3, 4, 5]
#: says what the institution-level tables are, wherever they are given (page, exports)
INSTITUTION_LEVEL_NOTICE = N_("Institution-level data: each row is one institution's scores. For reviewers and administrators "
                              "only; not for publication or onward sharing.")


def require_compare(user: User) -> None:
    if user is None or user.role not in COMPARE_ROLES:
        raise Forbidden(N_("Only reviewers, project staff and administrators can compare institutions."))


@dataclass(frozen=True)
class Filters:
    instrument: str | None = None
    #: one version; several (or none, when several exist) are refused as mixing
    versions: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    type: str | None = None
    sector: str | None = None
    round_number: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    #: "self" or "validated"
    basis: str = "self"

    def as_query(self) -> dict:
        return {"instrument": self.instrument or "", "version": ",".join(self.versions), "countries": ",".join(self.countries),
                "type": self.type or "", "sector": self.sector or "", "round": self.round_number or "",
                "date_from": self.date_from.isoformat() if self.date_from else "",
                "date_to": self.date_to.isoformat() if self.date_to else "", "basis": self.basis}


def parse_filters(args) -> Filters:
    """Filters from query arguments (``countries=AR,CO`` or repeated ``country``); raises Invalid."""
    problems = []

    def listed(name: str, single: str | None = None) -> tuple[str, ...]:
        values = [v for raw in args.getlist(name) for v in str(raw).split(",")]
        if single:
            values += args.getlist(single)
        return tuple(sorted({v.strip() for v in values if v.strip()}))

    def as_date(name: str) -> date | None:
        raw = (args.get(name) or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            problems.append({"field": name, "message": f"{name} must be a date like 2026-01-31"})
            return None

    basis = args.get("basis") or "self"
    if basis not in ("self", "validated"):
        problems.append({"field": "basis", "message": "basis must be 'self' or 'validated'"})
    round_raw = (args.get("round") or "").strip()
    round_number = ascii_int(round_raw, 1, MAX_ID)
    if round_raw and round_number is None:
        problems.append({"field": "round", "message": f"round must be a whole number from 1 to {MAX_ID}"})
    countries = tuple(c.upper() for c in listed("countries", "country"))
    if any(len(c) != 2 or not c.isalpha() for c in countries):
        problems.append({"field": "countries", "message": "countries must be ISO 3166 alpha-2 codes, e.g. AR,CO"})
    filters = Filters(instrument=(args.get("instrument") or "").strip() or None, versions=listed("version"), countries=countries,
                      type=args.get("type") or None, sector=args.get("sector") or None,
                      round_number=round_number, date_from=as_date("date_from"),
                      date_to=as_date("date_to"), basis=basis)
    if problems:
        raise Invalid(N_("The comparison filters are not valid."), problems)
    return filters


@dataclass
class Comparison:
    rubric: Rubric
    filters: Filters
    observations: list[Observation]
    table: dict[str, dict[str, Summary]]
    agreement: dict[tuple[str, str], Agreement]
    #: published histogram of the index: merged edges and counts (every bar >= the threshold;
    #: both empty when the selection holds fewer institutions than the threshold)
    index_histogram: list[int]
    score_histograms: dict[str, list[int]]
    institution_rows: list[dict] = field(default_factory=list)
    #: the cell threshold applied (never below domain.comparison.MIN_CELL)
    min_cell: int = 5
    index_edges: list = field(default_factory=list)
    score_edges: dict[str, list] = field(default_factory=dict)
    #: institutions in the region's universe (every country, the other filters applied)
    region_institutions: int = 0
    #: institutions compared (in the chosen countries) that are synthetic demo data
    synthetic: int = 0
    #: rendered charts by language, filled by the web layer
    rendered: dict = field(default_factory=dict, repr=False, compare=False)
    #: institutions compared per country (the region's universe); set when ``observations`` are not loaded
    country_counts: dict[str, int] | None = None
    #: the key of this result in the app's cache (None when computed without the cache)
    cache_key: str | None = field(default=None, compare=False)

    @property
    def countries(self) -> list[str]:
        return [g for g in self.table if g != "ALL"]

    def agreement_rows(self) -> list[tuple[tuple[str, str], Agreement]]:
        """The agreement cells by country (in the table's order, the region last), dimensions in rubric order."""
        groups = {g: i for i, g in enumerate(list(self.table))}
        dims = {d.id: i for i, d in enumerate(self.rubric.dimensions)}
        return sorted(self.agreement.items(), key=lambda kv: (groups.get(kv[0][0], len(groups)), kv[0][0] == "ALL", kv[0][0],
                                                              dims.get(kv[0][1], len(dims)), kv[0][1]))

    @property
    def institutions(self) -> int:
        """Institutions in the selected countries (the observations are the region's universe)."""
        chosen = set(self.filters.countries)
        if self.country_counts is not None:
            return sum(n for country, n in self.country_counts.items() if not chosen or country in chosen)
        return len(self.observations) if not chosen else sum(1 for o in self.observations if o.country in chosen)


def _conditions(filters: Filters, *, by_country: bool = True) -> list:
    """WHERE clauses of the filters (assessments joined to their institution); ``by_country=False``
    ignores the country filter (the region's universe)."""
    statuses = (VALIDATED,) if filters.basis == "validated" else (SUBMITTED, VALIDATED)
    where = [Assessment.status.in_(statuses)]
    if filters.instrument:
        where.append(Assessment.instrument_id == filters.instrument)
    if len(filters.versions) == 1:
        where.append(Assessment.instrument_version == filters.versions[0])
    elif filters.versions:
        where.append(Assessment.instrument_version.in_(filters.versions))
    if filters.countries and by_country:
        where.append(Institution.country.in_(filters.countries))
    if filters.type:
        where.append(Institution.type == filters.type)
    if filters.sector:
        where.append(Institution.sector == filters.sector)
    if filters.round_number:
        where.append(Assessment.round_number == filters.round_number)
    if filters.date_from:
        where.append(Assessment.submitted_at >= datetime.combine(filters.date_from, time.min, tzinfo=timezone.utc))
    if filters.date_to:
        where.append(Assessment.submitted_at <= datetime.combine(filters.date_to, time.max, tzinfo=timezone.utc))
    return where


def _rows(session: Session, filters: Filters, *, by_country: bool = True):
    """Stored scores of the matching assessments; ``by_country=False`` ignores the country filter
    (the region's universe).  The reference path: :func:`compare` aggregates in SQL instead."""
    scores = Assessment.validated_scores if filters.basis == "validated" else Assessment.self_scores
    query = (select(Assessment.id, Assessment.institution_id, Institution.name, Institution.country, Assessment.instrument_id,
                    Assessment.instrument_version, Assessment.round_number, Assessment.submitted_at,
                    scores.label("scores"), Assessment.level_pairs, Institution.synthetic)
             .join(Institution, Institution.id == Assessment.institution_id)
             .where(*_conditions(filters, by_country=by_country)))
    return session.execute(query).all()


def _decimal(value) -> Decimal | None:
    return Decimal(value) if value is not None else None


def data_stamp(session: Session) -> tuple:
    """Changes whenever an assessment or institution is added or changes (:mod:`.stamps`)."""
    return stamps.data_stamp(session)


def _cache_key(*parts) -> str:
    """A key for the shared cache: the same inputs give the same key in every process and machine."""
    return "comparison:" + hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


def _registry_stamp(registry: Registry) -> tuple:
    return tuple((r.id, r.version, r.hash) for r in registry.rubrics())


def clear_cache() -> None:
    """Forget every cached comparison of the current app (benchmarks; the data stamp already
    keeps the cache correct)."""
    app_cache().clear()


def compare(session: Session, registry: Registry, user: User, filters: Filters, *, with_institutions: bool = False,
            use_cache: bool = True, min_cell: int | None = None) -> Comparison:
    """Published aggregates per country and dimension for the filters, and agreement (docs/comparison.md).

    The universe is every matching assessment in *every* country (the region: the other filters
    apply, the country filter does not), the latest one per institution (highest round, then
    latest submission, then highest id).  Country rows cover the chosen countries, the region all
    of them.  Every figure follows the disclosure rule of :mod:`rubric_app.domain.comparison`
    with the threshold ``min_cell`` (never below 5).  Mixing instrument versions in the chosen
    countries raises MixedVersions.

    One statement reads the universe's assessments with their score tokens (see :func:`_counted`):
    the database sorts nothing, Python keeps the latest assessment per institution and counts equal
    tokens per country in C (:class:`collections.Counter`), so the work grows linearly with the
    assessments and the statistics with the number of distinct scores.  Results are kept in the app's cache
    (:data:`rubric_app.extensions.cache`: shared through Redis when configured) under the filters,
    threshold and data stamp (see :func:`data_stamp`), so a new submission anywhere is seen by
    every server.
    """
    require_compare(user)
    k = threshold(min_cell)
    if not use_cache:
        return _compute(session, registry, filters, with_institutions, k)
    store = app_cache()
    key = _cache_key("compare", filters, with_institutions, k, data_stamp(session), _registry_stamp(registry))
    cached = store.get(key)
    if cached is not None:
        rubric = registry.get(*cached["rubric"])
        if isinstance(rubric, Rubric):
            return replace(cached["result"], rubric=rubric, rendered={}, cache_key=key)
    result = _compute(session, registry, filters, with_institutions, k)
    store.set(key, {"rubric": (result.rubric.id, result.rubric.version), "result": replace(result, rubric=None, rendered={})})
    return replace(result, cache_key=key)


def _rubric_of(session: Session, registry: Registry, filters: Filters) -> Rubric:
    """The one instrument version of the selection (MixedVersions when several), or the filters' one."""
    query = select(Assessment.instrument_id, Assessment.instrument_version).distinct().where(*_conditions(filters))
    if filters.countries or filters.type or filters.sector:  # every assessment has its institution: no filter, no join
        query = query.join(Institution, Institution.id == Assessment.institution_id)
    keys = session.execute(query).all()
    found = check_single_version((rid, version) for rid, version in keys)
    if filters.versions:
        check_single_version((filters.instrument or "ifp-migrant-inclusion", v) for v in filters.versions)
        if registry.get(filters.instrument or "ifp-migrant-inclusion", filters.versions[0]) is None:
            raise Invalid(N_("Unknown instrument or version."), [{"field": "version"}])
    if found:
        rubric = registry.get(*found)
    else:
        rubric = (registry.get(filters.instrument, filters.versions[0]) if filters.instrument and filters.versions else None) \
            or registry.latest(filters.instrument or "ifp-migrant-inclusion")
    if not isinstance(rubric, Rubric):
        raise Invalid(N_("Unknown instrument or version."), [{"field": "instrument"}])
    return rubric


def _universe(filters: Filters, rubric: Rubric, basis: str, with_institutions: bool):
    """Every assessment matching the filters on the rubric's version, in every country (the region:
    the country filter does not apply), with what the counts need, in this order: institution id,
    assessment id, country, synthetic flag, score tokens of ``basis``, pair tokens (:mod:`.score_rows`),
    round, and with ``with_institutions`` the institution's name.

    One scan of the assessments joined by key to the institutions and the tokens: the database
    sorts nothing.  :func:`_latest_rows` keeps the latest assessment of each institution."""
    tokens = ScoreTokens.__table__
    columns = [Assessment.institution_id, Assessment.id, Institution.country, Institution.synthetic, tokens.c[SCORE_COLUMNS[basis]],
               tokens.c.level_pairs, Assessment.round_number]
    if with_institutions:
        columns.append(Institution.name)
    return (select(*columns)
            .join(Institution, Institution.id == Assessment.institution_id)
            .outerjoin(tokens, tokens.c.assessment_id == Assessment.id)
            .where(*_conditions(filters, by_country=False), Assessment.instrument_id == rubric.id,
                   Assessment.instrument_version == rubric.version))


def _submitted_text(dialect: str):
    """The submission time as text that orders as the database orders the times (or NULL).

    SQLite stores it as text and orders that text: the column as it is (the driver returns the
    text).  PostgreSQL writes it in UTC with all six digits of the microseconds (its precision), so
    the driver returns strings of one format instead of datetimes, which cost more to make."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", Assessment.submitted_at), "YYYY-MM-DD HH24:MI:SS.US")
    return Assessment.submitted_at


def _latest_rows(session: Session, rows: list[tuple]) -> list[tuple]:
    """The latest of :func:`_universe`'s rows per institution: highest round, then latest submission
    (none counts as earliest), then highest id.

    When no institution has two assessments in the universe the rows are the answer; the round
    decides most others.  Only assessments that tie on their institution's highest round need
    their submission times, read by id in a second statement (by id, so that a change committed
    between the two statements cannot make one go missing; an assessment deleted meanwhile counts
    as submitted at no time)."""
    if len(set(row[0] for row in rows)) == len(rows):
        return rows
    best: dict[int, list[tuple]] = {}
    for row in rows:
        found = best.get(row[0])
        if found is None or row[6] > found[0][6]:
            best[row[0]] = [row]
        elif row[6] == found[0][6]:
            found.append(row)
    tied = [row[1] for found in best.values() if len(found) > 1 for row in found]
    if not tied:
        return [found[0] for found in best.values()]
    submitted = _submitted_text(session.get_bind().dialect.name)
    times: dict[int, str | None] = {}
    for start in range(0, len(tied), 500):
        times.update(_plain_rows(session, select(Assessment.id, submitted).where(Assessment.id.in_(tied[start:start + 500]))))

    def later(row: tuple) -> tuple:
        at = times.get(row[1])
        return (at is not None, at, row[1])

    return [max(found, key=later) if len(found) > 1 else found[0] for found in best.values()]


@dataclass
class _Counts:
    """What :func:`_counted` found in the universe."""

    #: ``scores[country][key][score]``: institutions with that stored score (keys: dimensions, "index")
    scores: dict
    #: institutions per country, countries sorted
    institutions: dict[str, int]
    #: synthetic institutions per country (countries without any may be missing)
    synthetic: dict[str, int]
    #: ``pairs[(country, dimension id)]``: (times each (self, validated) level pair occurs, institutions giving pairs)
    pairs: dict
    #: one row per institution of the chosen countries when asked for (name, country, assessment, round, scores)
    rows: list[dict]


def _counted(session: Session, filters: Filters, rubric: Rubric, keys: list[str], *, chosen: set[str],
             with_institutions: bool) -> _Counts:
    """Everything the published figures need, from one statement over the universe (see
    :func:`_universe`): the latest assessment of each institution with its row of score tokens.

    The database returns one row per assessment and sorts nothing; Python keeps the latest per
    institution (:func:`_latest_rows`), counts equal tokens per country (``" ".join`` + ``split`` +
    :class:`collections.Counter`, in C) and decodes each distinct token once.  A score token stands
    for one institution's score in one measure, a pair token for one (self, validated) pair, and the
    tokens of the dimensions' first pairs count the institutions giving pairs.

    Assessments of the universe without tokens of the basis (data written around the services) get
    them from their JSON first, in the caller's transaction (see :func:`_write_unwritten`).
    """
    statement = _universe(filters, rubric, filters.basis, with_institutions)
    rows = _latest_rows(session, _plain_rows(session, statement))
    unwritten = [row[1] for row in rows if row[4] is None]
    if unwritten and _write_unwritten(session, unwritten, filters.basis):
        rows = _latest_rows(session, _plain_rows(session, statement))
    countries, flags, scored, paired = list(zip(*rows))[2:6] if rows else ((), (), (), ())
    institutions = Counter(countries)
    synthetic = Counter(compress(countries, flags))
    scored_by: dict[str, list[str]] = defaultdict(list)
    paired_by: dict[str, list[str]] = defaultdict(list)
    for country, stored in zip(countries, scored):
        if stored:
            scored_by[country].append(stored)
    for country, stored in compress(zip(countries, paired), paired):
        paired_by[country].append(stored)
    wanted = set(keys)
    scores: dict[str, dict[str, dict[Decimal, int]]] = {country: {} for country in sorted(institutions)}
    for country, listed in scored_by.items():
        cells = scores[country]
        for token, n in Counter(" ".join(listed).split(" ")).items():
            read = read_score_token(token)
            if read is None or read[0] not in wanted:
                continue
            cell = cells.setdefault(read[0], {})
            cell[read[1]] = cell.get(read[1], 0) + n
    pairs: dict[tuple[str, str], tuple[dict[tuple[int, int], int], int]] = {}
    for country, listed in paired_by.items():
        counted: dict[str, dict[tuple[int, int], int]] = {}
        giving: dict[str, int] = {}
        for token, n in Counter(" ".join(listed).split(" ")).items():
            read = read_pair_token(token)
            if read is None:
                continue
            dimension_id, pair, first = read
            cell = counted.setdefault(dimension_id, {})
            cell[pair] = cell.get(pair, 0) + n
            if first:  # one per institution giving pairs in the dimension
                giving[dimension_id] = giving.get(dimension_id, 0) + n
        for dimension_id, cell in counted.items():
            pairs[(country, dimension_id)] = (cell, giving.get(dimension_id, 0))
    found = []
    if with_institutions:
        for _institution, assessment_id, country, _synthetic, stored, _pairs, round_number, name in rows:
            if chosen and country not in chosen:
                continue
            # tokens are never empty in a non-empty string (one space between two)
            values = dict(map(read_score_token, stored.split(" "))) if stored else {}
            row = {"institution": name, "country": country, "assessment": assessment_id, "round": round_number}
            row.update(zip(keys, map(values.get, keys)))
            found.append(row)
    return _Counts(scores=scores, institutions={country: institutions[country] for country in sorted(institutions)},
                   synthetic=dict(synthetic), pairs=pairs, rows=found)


def _plain_rows(session: Session, statement) -> list[tuple]:
    """The rows of a Core ``statement`` as the driver's plain tuples, in the session's transaction.

    For the comparison's one row per assessment (text, integers, a boolean that is only tested for
    truth and a submission time that is only compared), where SQLAlchemy's result rows and type
    processing would cost more than the counting."""
    result = session.connection().execute(statement)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _write_unwritten(session: Session, ids: list[int], basis: str) -> bool:
    """Write the score rows and tokens of the assessments ``ids`` (the latest of their institution,
    without tokens of ``basis``: their JSON scores were written around the services, e.g. inserted
    directly), copied from the JSON in the caller's transaction.  True when some were written (those
    whose JSON column of ``basis`` holds a mapping)."""
    copies = []
    for start in range(0, len(ids), 500):
        found = session.execute(select(Assessment.id.label("id"), Assessment.self_scores, Assessment.validated_scores,
                                       Assessment.level_pairs).where(Assessment.id.in_(ids[start:start + 500]))).mappings().all()
        copies += [row for row in found if isinstance(row[SCORE_COLUMNS[basis]], dict)]
    if copies:
        write_score_rows(session, copies)
    return bool(copies)


def _compute(session: Session, registry: Registry, filters: Filters, with_institutions: bool, k: int) -> Comparison:
    rubric = _rubric_of(session, registry, filters)
    chosen = set(filters.countries)
    dims = [d.id for d in rubric.dimensions]
    keys = [*dims, "index"]
    found = _counted(session, filters, rubric, keys, chosen=chosen, with_institutions=with_institutions)
    counts, per_country, synthetic, pairs = found.scores, found.institutions, found.synthetic, found.pairs
    shown = chosen or None
    table = aggregate_counts(counts, dims, countries=shown, min_cell=k)
    selected: dict[str, dict[Decimal, int]] = {key: {} for key in keys}
    for country, row in counts.items():
        if chosen and country not in chosen:
            continue
        for key, cell in row.items():
            merged = selected[key]
            for value, times in cell.items():
                merged[value] = merged.get(value, 0) + times
    index_edges, index_counts = _published_counts(selected["index"], INDEX_EDGES, k)
    score_edges, score_counts = {}, {}
    for d in dims:
        score_edges[d], score_counts[d] = _published_counts(selected[d], SCORE_EDGES, k)
    institutions = found.rows
    return Comparison(
        rubric=rubric,
        filters=filters,
        observations=[],
        table=table,
        agreement=agreement_table_counts(pairs, countries=shown, dimension_ids=dims, min_cell=k),
        index_histogram=index_counts,
        score_histograms=score_counts,
        institution_rows=sorted(institutions, key=lambda r: (r["country"], r["institution"])),
        min_cell=k,
        index_edges=index_edges,
        score_edges=score_edges,
        region_institutions=sum(per_country.values()),
        synthetic=sum(n for country, n in synthetic.items() if not chosen or country in chosen),
        country_counts=per_country,
    )


def compute_in_python(session: Session, registry: Registry, filters: Filters, with_institutions: bool = False,
                      min_cell: int | None = None) -> Comparison:
    """The comparison computed row by row in Python with the domain functions over every stored
    score (the reference :func:`compare` is checked against; slow on large data)."""
    k = threshold(min_cell)
    rubric = _rubric_of(session, registry, filters)
    universe = _rows(session, filters, by_country=False)
    chosen = set(filters.countries)
    latest: dict[int, object] = {}
    for row in universe:
        if (row.instrument_id, row.instrument_version) != (rubric.id, rubric.version):
            continue
        current = latest.get(row.institution_id)
        # highest round, then latest submission (none counts as earliest), then highest id
        if current is None or (row.round_number, row.submitted_at is not None, row.submitted_at, row.id) > \
                (current.round_number, current.submitted_at is not None, current.submitted_at, current.id):
            latest[row.institution_id] = row
    dims = [d.id for d in rubric.dimensions]
    observations, pair_rows, institutions = [], [], []
    for row in latest.values():
        stored = row.scores or {}
        scores = {d: _decimal(stored.get(d)) for d in dims}
        observations.append(Observation(row.institution_id, row.country, scores, _decimal(stored.get("index"))))
        for dim_id, pairs in (row.level_pairs or {}).items():
            for self_level, validated_level in pairs:
                pair_rows.append((row.country, dim_id, row.institution_id, self_level, validated_level))
        if with_institutions and (not chosen or row.country in chosen):
            institutions.append({"institution": row.name, "country": row.country, "assessment": row.id, "round": row.round_number,
                                 **{d: scores[d] for d in dims}, "index": _decimal(stored.get("index"))})
    shown = chosen or None
    selected = [o for o in observations if not chosen or o.country in chosen]
    index_edges, index_counts = _published_histogram((o.index for o in selected), INDEX_EDGES, k)
    score_edges, score_counts = {}, {}
    for d in dims:
        score_edges[d], score_counts[d] = _published_histogram((o.scores[d] for o in selected), SCORE_EDGES, k)
    return Comparison(
        rubric=rubric, filters=filters, observations=observations, table=aggregate(observations, dims, countries=shown, min_cell=k),
        agreement=agreement_table(pair_rows, countries=shown, min_cell=k), index_histogram=index_counts,
        score_histograms=score_counts, institution_rows=sorted(institutions, key=lambda r: (r["country"], r["institution"])),
        min_cell=k, index_edges=index_edges, score_edges=score_edges, region_institutions=len(observations),
        synthetic=sum(1 for row in latest.values() if row.synthetic and (not chosen or row.country in chosen)))


def _published_counts(counts: dict, edges, k: int) -> tuple[list, list[int]]:
    """As :func:`_published_histogram`, from a frequency table."""
    bars = protected_histogram(histogram_counts(counts, edges), edges, k)
    if not bars:
        return [], []
    return [b.low for b in bars] + [bars[-1].high], [b.count for b in bars]


def _published_histogram(values, edges, k: int) -> tuple[list, list[int]]:
    """Merged edges and counts of a histogram whose every bar holds at least ``k`` institutions."""
    bars = protected_histogram(histogram(values, edges), edges, k)
    if not bars:
        return [], []
    return [b.low for b in bars] + [bars[-1].high], [b.count for b in bars]


def _num(value) -> str | None:
    return str(value) if value is not None else None


def summary_json(summary: Summary) -> dict:
    if summary.suppressed:
        return {"n": summary.n, "suppressed": True}
    return {"n": summary.n, "suppressed": False, "median": _num(summary.median), "q1": _num(summary.q1), "q3": _num(summary.q3),
            "mean": _num(summary.mean)}


def disclosure_json(min_cell: int) -> dict:
    """The disclosure rule applied, as published with every export (docs/comparison.md)."""
    return {"min_cell": min_cell, "quantile_grid": {k: str(v) for k, v in QUANTILE_GRID.items()},
            "mean_grid": {k: str(v) for k, v in MEAN_GRID.items()}, "kappa_grid": str(KAPPA_GRID),
            "region": "all countries with the instrument version and the other filters, whatever countries are chosen"}


def comparison_json(result: Comparison, *, with_institutions: bool = False) -> dict:
    """What the page shows, as JSON (minimum and maximum are never published)."""
    data = {
        "instrument": {"id": result.rubric.id, "version": result.rubric.version},
        "filters": result.filters.as_query(),
        "min_cell": result.min_cell,
        "disclosure": disclosure_json(result.min_cell),
        "institutions": result.institutions,
        "region_institutions": result.region_institutions,
        "synthetic_institutions": result.synthetic,
        "groups": {group: {key: summary_json(s) for key, s in cells.items()} for group, cells in result.table.items()},
        "agreement": [
            {"country": country, "dimension": dim, "institutions": a.n, "pairs": a.pairs, "suppressed": a.suppressed,
             "kappa": _num(a.kappa), "mean_signed_difference": _num(a.mean_signed_difference)}
            for (country, dim), a in result.agreement_rows()
        ],
        "index_histogram": {"edges": [_num(e) for e in result.index_edges], "counts": result.index_histogram},
    }
    if with_institutions:
        data["institution_level_data"] = str(INSTITUTION_LEVEL_NOTICE)
        data["institution_scores"] = [{k: (_num(v) if isinstance(v, Decimal) else v) for k, v in row.items()} for row in result.institution_rows]
    return data


def comparison_csv(result: Comparison, *, with_institutions: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", "measure", "n", "suppressed", "median", "q1", "q3", "mean"])
    # (the threshold and grids are in the JSON export and docs/comparison.md; the header stays stable)
    for group, cells in result.table.items():
        for key, s in cells.items():
            js = summary_json(s)
            writer.writerow([group, key, s.n, s.suppressed, js.get("median", ""), js.get("q1", ""), js.get("q3", ""), js.get("mean", "")])
    writer.writerow([])
    writer.writerow(["country", "dimension", "institutions", "pairs", "suppressed", "kappa", "mean_signed_difference"])
    for (country, dim), a in sorted(result.agreement.items()):
        writer.writerow([country, dim, a.n, a.pairs, a.suppressed, _num(a.kappa) or "", _num(a.mean_signed_difference) or ""])
    if with_institutions:
        writer.writerow([])
        dims = [d.id for d in result.rubric.dimensions]
        writer.writerow(["INSTITUTION-LEVEL DATA", str(INSTITUTION_LEVEL_NOTICE)])
        writer.writerow(["institution", "country", "assessment", "round", *dims, "index"])
        for row in result.institution_rows:
            writer.writerow([_cell(row["institution"]), row["country"], row["assessment"], row["round"], *[_num(row[d]) or "" for d in dims],
                             _num(row["index"]) or ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def comparison_xlsx(result: Comparison, *, with_institutions: bool = False) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "aggregates"
    ws.append(["group", "measure", "n", "suppressed", "median", "q1", "q3", "mean"])
    for group, cells in result.table.items():
        for key, s in cells.items():
            ws.append([group, key, s.n, s.suppressed, *(float(v) if v is not None else None for v in (s.median, s.q1, s.q3, s.mean))])
    ws2 = wb.create_sheet("agreement")
    ws2.append(["country", "dimension", "institutions", "pairs", "suppressed", "kappa", "mean_signed_difference"])
    for (country, dim), a in sorted(result.agreement.items()):
        ws2.append([country, dim, a.n, a.pairs, a.suppressed, float(a.kappa) if a.kappa is not None else None,
                    float(a.mean_signed_difference) if a.mean_signed_difference is not None else None])
    if with_institutions:
        dims = [d.id for d in result.rubric.dimensions]
        ws3 = wb.create_sheet("institutions")
        ws3.append(["institution", "country", "assessment", "round", *dims, "index"])
        notice = wb.create_sheet("institution-level data", 0)
        notice.append(["INSTITUTION-LEVEL DATA"])
        notice.append([str(INSTITUTION_LEVEL_NOTICE)])
        notice.append(["The sheet 'institutions' holds one row per institution; the other sheets hold only published aggregates."])
        for row in result.institution_rows:
            ws3.append([_cell(row["institution"]), row["country"], row["assessment"], row["round"],
                        *[float(row[d]) if row[d] is not None else None for d in dims], float(row["index"]) if row["index"] is not None else None])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def comparison_json_bytes(result: Comparison, *, with_institutions: bool = False) -> bytes:
    return json.dumps(comparison_json(result, with_institutions=with_institutions), ensure_ascii=False, indent=1).encode("utf-8")


def benchmark(session: Session, registry: Registry, assessment: Assessment, min_cell: int | None = None) -> dict[str, dict[str, Summary]]:
    """The country's and the region's published aggregates for an institution's own results page.

    Self basis, same instrument version, the latest assessment per institution; published by
    :func:`~rubric_app.domain.comparison.benchmark_table`: a cell is suppressed unless at least the
    threshold of *other* institutions have a value there, and medians lie on the coarse grid.  Not
    scoped by role: it publishes aggregates only.  Cached with the comparison results (same data
    stamp)."""
    k = threshold(min_cell)
    store = app_cache()
    key = _cache_key("benchmark", assessment.instrument_id, assessment.instrument_version, k, data_stamp(session),
                     _registry_stamp(registry))
    cached = store.get(key)
    if cached is None:
        filters = Filters(instrument=assessment.instrument_id, versions=(assessment.instrument_version,))
        latest: dict[int, object] = {}
        for row in _rows(session, filters):
            current = latest.get(row.institution_id)
            if current is None or (row.round_number, row.id) > (current.round_number, current.id):
                latest[row.institution_id] = row
        dims = [d.id for d in rubric_for_assessment(registry, assessment).dimensions]
        observations = [Observation(r.institution_id, r.country, {d: _decimal((r.scores or {}).get(d)) for d in dims},
                                    _decimal((r.scores or {}).get("index"))) for r in latest.values()]
        cached = (dims, observations)
        store.set(key, cached)
    dims, observations = cached
    return benchmark_table(observations, dims, assessment.institution_id, assessment.institution.country, k)


def rubric_for_assessment(registry: Registry, assessment: Assessment) -> Rubric:
    from .assessments import rubric_for

    return rubric_for(registry, assessment)




@dataclass(frozen=True)
class Overview:
    """How many self-assessments there are, for the home page of reviewers, staff and admins."""

    #: submitted and waiting for a reviewer
    submitted: int
    validated: int
    #: institutions and countries with at least one submitted or validated assessment
    institutions: int
    countries: int

    @property
    def total(self) -> int:
        return self.submitted + self.validated


def overview(session: Session, user: User) -> Overview:
    """Counts of submitted and validated self-assessments (no institution named: staff see it too)."""
    require_compare(user)
    done = Assessment.status.in_((SUBMITTED, VALIDATED))
    by_status = dict(session.execute(select(Assessment.status, func.count(Assessment.id)).where(done).group_by(Assessment.status)).all())
    institutions, countries = session.execute(
        select(func.count(func.distinct(Assessment.institution_id)), func.count(func.distinct(Institution.country)))
        .join(Institution, Institution.id == Assessment.institution_id).where(done)).one()
    return Overview(submitted=by_status.get(SUBMITTED, 0), validated=by_status.get(VALIDATED, 0),
                    institutions=institutions or 0, countries=countries or 0)
