"""Cross-country comparison: one query for the stored scores, one pass to aggregate."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..domain.comparison import (
    MIN_CELL,
    Agreement,
    Observation,
    Summary,
    agreement_table,
    aggregate,
    check_single_version,
    histogram,
)
from ..domain.instruments import Registry, Rubric
from ..models import SUBMITTED, VALIDATED, Assessment, Institution, User
from . import N_, Forbidden, Invalid

COMPARE_ROLES = ("reviewer", "staff", "admin")
INDEX_EDGES = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
SCORE_EDGES = [1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5]


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
    if round_raw and not round_raw.isdigit():
        problems.append({"field": "round", "message": "round must be a whole number"})
    countries = tuple(c.upper() for c in listed("countries", "country"))
    if any(len(c) != 2 or not c.isalpha() for c in countries):
        problems.append({"field": "countries", "message": "countries must be ISO 3166 alpha-2 codes, e.g. AR,CO"})
    filters = Filters(instrument=(args.get("instrument") or "").strip() or None, versions=listed("version"), countries=countries,
                      type=args.get("type") or None, sector=args.get("sector") or None,
                      round_number=int(round_raw) if round_raw.isdigit() else None, date_from=as_date("date_from"),
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
    index_histogram: list[int]
    score_histograms: dict[str, list[int]]
    institution_rows: list[dict] = field(default_factory=list)
    #: rendered charts by language, filled by the web layer (the result is cached with them)
    rendered: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def countries(self) -> list[str]:
        return [g for g in self.table if g != "ALL"]


def _rows(session: Session, filters: Filters):
    statuses = (VALIDATED,) if filters.basis == "validated" else (SUBMITTED, VALIDATED)
    scores = Assessment.validated_scores if filters.basis == "validated" else Assessment.self_scores
    query = (select(Assessment.id, Assessment.institution_id, Institution.name, Institution.country, Assessment.instrument_id,
                    Assessment.instrument_version, Assessment.round_number, Assessment.submitted_at,
                    scores.label("scores"), Assessment.level_pairs)
             .join(Institution, Institution.id == Assessment.institution_id)
             .where(Assessment.status.in_(statuses)))
    if filters.instrument:
        query = query.where(Assessment.instrument_id == filters.instrument)
    if len(filters.versions) == 1:
        query = query.where(Assessment.instrument_version == filters.versions[0])
    elif filters.versions:
        query = query.where(Assessment.instrument_version.in_(filters.versions))
    if filters.countries:
        query = query.where(Institution.country.in_(filters.countries))
    if filters.type:
        query = query.where(Institution.type == filters.type)
    if filters.sector:
        query = query.where(Institution.sector == filters.sector)
    if filters.round_number:
        query = query.where(Assessment.round_number == filters.round_number)
    if filters.date_from:
        query = query.where(Assessment.submitted_at >= datetime.combine(filters.date_from, time.min, tzinfo=timezone.utc))
    if filters.date_to:
        query = query.where(Assessment.submitted_at <= datetime.combine(filters.date_to, time.max, tzinfo=timezone.utc))
    return session.execute(query).all()


def _decimal(value) -> Decimal | None:
    return Decimal(value) if value is not None else None


#: (filters, with_institutions, data stamp) -> Comparison; a new stamp (any assessment or
#: institution added or changed) makes every older entry unreachable
_CACHE: dict[tuple, object] = {}
CACHE_SIZE = 64


def data_stamp(session: Session) -> tuple:
    """Changes whenever an assessment or institution is added or an assessment changes."""
    return tuple(session.execute(select(func.count(Assessment.id), func.max(Assessment.updated_at), func.max(Assessment.id),
                                        select(func.max(Institution.id)).scalar_subquery())).one())


def compare(session: Session, registry: Registry, user: User, filters: Filters, *, with_institutions: bool = False,
            use_cache: bool = True) -> Comparison:
    """Aggregates per country and dimension for the filters, with suppression and agreement.

    One query loads the stored scores of every matching assessment; the latest one per institution
    (highest round, then latest submission) is kept.  Mixing instrument versions raises MixedVersions.
    Results are cached per filters and data stamp (see :func:`data_stamp`).
    """
    require_compare(user)
    key = (filters, with_institutions, data_stamp(session), id(registry))
    if use_cache and key in _CACHE:
        return _CACHE[key]
    result = _compute(session, registry, filters, with_institutions)
    if use_cache:
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = result
    return result


def _compute(session: Session, registry: Registry, filters: Filters, with_institutions: bool) -> Comparison:
    rows = _rows(session, filters)
    check_single_version((r.instrument_id, r.instrument_version) for r in rows)
    if filters.versions:
        check_single_version((filters.instrument or "ifp-migrant-inclusion", v) for v in filters.versions)
        if registry.get(filters.instrument or "ifp-migrant-inclusion", filters.versions[0]) is None:
            raise Invalid(N_("Unknown instrument or version."), [{"field": "version"}])
    if rows:
        rubric = registry.get(rows[0].instrument_id, rows[0].instrument_version)
    else:
        rubric = (registry.get(filters.instrument, filters.versions[0]) if filters.instrument and filters.versions else None) \
            or registry.latest(filters.instrument or "ifp-migrant-inclusion")
    if not isinstance(rubric, Rubric):
        raise Invalid(N_("Unknown instrument or version."), [{"field": "instrument"}])
    latest: dict[int, object] = {}
    for row in rows:
        current = latest.get(row.institution_id)
        if current is None or (row.round_number, row.submitted_at or datetime.min.replace(tzinfo=timezone.utc), row.id) > \
                (current.round_number, current.submitted_at or datetime.min.replace(tzinfo=timezone.utc), current.id):
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
        if with_institutions:
            institutions.append({"institution": row.name, "country": row.country, "assessment": row.id, "round": row.round_number,
                                 **{d: scores[d] for d in dims}, "index": _decimal(stored.get("index"))})
    table = aggregate(observations, dims)
    return Comparison(
        rubric=rubric,
        filters=filters,
        observations=observations,
        table=table,
        agreement=agreement_table(pair_rows),
        index_histogram=histogram((o.index for o in observations), INDEX_EDGES),
        score_histograms={d: histogram((o.scores[d] for o in observations), SCORE_EDGES) for d in dims},
        institution_rows=sorted(institutions, key=lambda r: (r["country"], r["institution"])),
    )


def _num(value) -> str | None:
    return str(value) if value is not None else None


def summary_json(summary: Summary) -> dict:
    if summary.suppressed:
        return {"n": summary.n, "suppressed": True}
    return {"n": summary.n, "suppressed": False, "median": _num(summary.median), "q1": _num(summary.q1), "q3": _num(summary.q3),
            "mean": _num(summary.mean)}


def comparison_json(result: Comparison, *, with_institutions: bool = False) -> dict:
    """What the page shows, as JSON (minimum and maximum are never published)."""
    data = {
        "instrument": {"id": result.rubric.id, "version": result.rubric.version},
        "filters": result.filters.as_query(),
        "min_cell": MIN_CELL,
        "institutions": len(result.observations),
        "groups": {group: {key: summary_json(s) for key, s in cells.items()} for group, cells in result.table.items()},
        "agreement": [
            {"country": country, "dimension": dim, "institutions": a.n, "pairs": a.pairs, "suppressed": a.suppressed,
             "kappa": _num(a.kappa), "mean_signed_difference": _num(a.mean_signed_difference)}
            for (country, dim), a in sorted(result.agreement.items())
        ],
        "index_histogram": {"edges": INDEX_EDGES, "counts": result.index_histogram},
    }
    if with_institutions:
        data["institution_scores"] = [{k: (_num(v) if isinstance(v, Decimal) else v) for k, v in row.items()} for row in result.institution_rows]
    return data


def comparison_csv(result: Comparison, *, with_institutions: bool = False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["group", "measure", "n", "suppressed", "median", "q1", "q3", "mean"])
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
        for row in result.institution_rows:
            ws3.append([_cell(row["institution"]), row["country"], row["assessment"], row["round"],
                        *[float(row[d]) if row[d] is not None else None for d in dims], float(row["index"]) if row["index"] is not None else None])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def comparison_json_bytes(result: Comparison, *, with_institutions: bool = False) -> bytes:
    return json.dumps(comparison_json(result, with_institutions=with_institutions), ensure_ascii=False, indent=1).encode("utf-8")


def benchmark(session: Session, registry: Registry, assessment: Assessment) -> dict[str, dict[str, Summary]]:
    """The country's and the region's aggregates for an institution's own results page (self basis,
    same instrument version, suppression applied).  Not scoped by role: it publishes aggregates only.
    Cached with the comparison results (same data stamp)."""
    key = ("benchmark", assessment.instrument_id, assessment.instrument_version, data_stamp(session), id(registry))
    table = _CACHE.get(key)
    if table is None:
        filters = Filters(instrument=assessment.instrument_id, versions=(assessment.instrument_version,))
        latest: dict[int, object] = {}
        for row in _rows(session, filters):
            current = latest.get(row.institution_id)
            if current is None or (row.round_number, row.id) > (current.round_number, current.id):
                latest[row.institution_id] = row
        dims = [d.id for d in rubric_for_assessment(registry, assessment).dimensions]
        observations = [Observation(r.institution_id, r.country, {d: _decimal((r.scores or {}).get(d)) for d in dims},
                                    _decimal((r.scores or {}).get("index"))) for r in latest.values()]
        table = aggregate(observations, dims)
        if len(_CACHE) >= CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = table
    return {"country": table.get(assessment.institution.country, {}), "region": table.get("ALL", {})}


def rubric_for_assessment(registry: Registry, assessment: Assessment) -> Rubric:
    from .assessments import rubric_for

    return rubric_for(registry, assessment)


