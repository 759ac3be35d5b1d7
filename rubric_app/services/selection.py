"""Selection rounds: settings, runs on a snapshot of the registry, freezing, overrides (audited)."""
from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from ..domain.instruments import ProviderInstrument, Registry
from ..domain.selection import ProviderInput, RoundResult, RoundSettings, SelectionError, run_round, validate_settings
from ..inputs import MAX_DECIMAL_DIGITS, ascii_int, plain_decimal
from ..models import LETTER_TERMS, ROUND_FROZEN, ROUND_OPEN, AuditEntry, Provider, SelectionOverride, SelectionRound, User, utcnow
from sqlalchemy.orm.attributes import flag_modified

from . import N_, Conflict, Invalid, NotFound, PreconditionFailed, commit_or_conflict
from .providers import provider_instrument, require_staff

SNAPSHOT_FIELDS = ("code", "name", "country", "city", "type", "contact_name", "contact_email", "contact_phone",
                   "legal_representative", "legal_representative_position")
MAX_DRAWS = 100_000


#: the largest magnitude a numeric setting is read with (checked before any conversion, so "1e1000000"
#: or 40 digits cost nothing); the domain's rules (0..100, at most MAX_DRAWS, not negative) come after
DECIMAL_LIMIT = Decimal(1_000_000)
INT_LIMITS = {"quotas": 1_000_000, "default_quota": 1_000_000, "draws": 1_000_000, "seed": 2**63 - 1}
#: at most this many countries in a round's ``countries`` (ISO 3166-1 has 249)
MAX_COUNTRIES = 300


def _decimal(value: Any, field: str, problems: list) -> Decimal | None:
    """A plainly written number (at most :data:`MAX_DECIMAL_DIGITS` digits, no exponent) within the
    field's limit; anything else adds a problem naming the field and gives None."""
    if value is None or value == "":
        return None
    number = plain_decimal(value)
    if number is None:
        shown = value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)[:40]
        problems.append({"field": field, "message": f"{field} must be a number written like 12 or 0.5 (at most "
                                                    f"{MAX_DECIMAL_DIGITS} digits, no exponent), got {shown!r}",
                         "msgid": N_("Write a number such as 12 or 0.5."), "params": {}})
        return None
    if abs(number) > DECIMAL_LIMIT:
        problems.append({"field": field, "message": f"{field} must be at most {DECIMAL_LIMIT}, got {number}",
                         "msgid": N_("At most %(limit)s."), "params": {"limit": int(DECIMAL_LIMIT)}})
        return None
    return number


def _int(value: Any, field: str, problems: list, default: int = 0) -> int:
    """A whole number in ASCII digits within the field's limit; anything else adds a problem naming the field."""
    if value is None or value == "":
        return default
    limit = INT_LIMITS[field.split(".")[0]]
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    number = ascii_int(text, max_digits=len(str(limit)))
    if number is None:
        shown = value if isinstance(value, (int, float)) and not isinstance(value, bool) and len(str(value)) <= 40 else str(value)[:40]
        problems.append({"field": field, "message": f"{field} must be a whole number from 0 to {limit}, got {shown!r}",
                         "msgid": N_("Write a whole number from 0 to %(limit)s."), "params": {"limit": limit}})
        return default
    if abs(number) > limit:
        problems.append({"field": field, "message": f"{field} must be a whole number from 0 to {limit}, got {number}",
                         "msgid": N_("Write a whole number from 0 to %(limit)s."), "params": {"limit": limit}})
        return default
    return number


def _decimal_map(raw: dict, name: str, problems: list) -> dict[str, Decimal]:
    """``raw[name]`` as category id -> number, adding a problem for anything else."""
    values = raw.get(name) or {}
    if not isinstance(values, dict):
        problems.append({"field": name, "message": f"{name} must map category ids to numbers"})
        return {}
    result = {}
    for key, value in values.items():
        number = _decimal(value, f"{name}.{key}", problems)
        if number is not None:
            result[str(key)] = number
    return result


def parse_settings(instrument: ProviderInstrument, raw: dict) -> RoundSettings:
    """Round settings from JSON-like input; raises :class:`Invalid` listing every problem."""
    if not isinstance(raw, dict):
        raise Invalid("The round settings must be a JSON object.")
    problems: list[dict] = []
    weights = _decimal_map(raw, "weights", problems)
    min_scores = _decimal_map(raw, "min_scores", problems)
    knockouts = raw.get("knockouts") or []
    if not isinstance(knockouts, list) or not all(isinstance(k, str) for k in knockouts):
        problems.append({"field": "knockouts", "message": "knockouts must be a list of eligibility fact ids"})
        knockouts = []
    quotas = {}
    raw_quotas = raw.get("quotas") or {}
    if not isinstance(raw_quotas, dict):
        problems.append({"field": "quotas", "message": "quotas must map country codes to whole numbers"})
        raw_quotas = {}
    for key, value in raw_quotas.items():
        quotas[str(key).upper()] = _int(value, f"quotas.{key}", problems)
    countries = _countries(raw.get("countries"), problems)
    include_synthetic = raw.get("include_synthetic")
    if include_synthetic is None:
        include_synthetic = True  # rounds stored before this setting: every provider took part
    elif not isinstance(include_synthetic, bool):
        problems.append({"field": "include_synthetic", "message": "include_synthetic must be true or false",
                         "msgid": N_("Say whether synthetic providers take part (true or false)."), "params": {}})
        include_synthetic = True
    rule = raw.get("rule", "quota")
    settings = RoundSettings(
        weights=weights,
        knockouts=tuple(knockouts),
        min_scores=min_scores,
        rule=rule if isinstance(rule, str) else "",
        quotas=quotas,
        default_quota=_int(raw.get("default_quota"), "default_quota", problems),
        threshold=_decimal(raw.get("threshold"), "threshold", problems),
        draws=_int(raw.get("draws"), "draws", problems, default=1000),
        seed=_int(raw.get("seed"), "seed", problems, default=0),
        countries=countries,
        include_synthetic=include_synthetic,
    )
    if not problems:
        problems = [_settings_problem(message) for message in validate_settings(instrument, settings)]
    if problems:
        raise SettingsInvalid(problems)
    return settings


def _countries(raw: Any, problems: list) -> tuple[str, ...]:
    """The ISO 3166-1 alpha-2 codes of ``countries`` (a list; upper-cased, each once, in the order given);
    None or an empty list: none named (the round then covers its default countries)."""
    if raw is None or raw == "":
        return ()
    if not isinstance(raw, (list, tuple)) or len(raw) > MAX_COUNTRIES or not all(isinstance(c, str) for c in raw):
        problems.append({"field": "countries", "message": f"countries must be a list of at most {MAX_COUNTRIES} ISO 3166-1 "
                                                          "alpha-2 country codes",
                         "msgid": N_("Name countries by their ISO 3166 code."), "params": {}})
        return ()
    codes: list[str] = []
    for raw_code in raw:
        code = raw_code.strip().upper()
        if not re.fullmatch(r"[A-Z]{2}", code):
            problems.append({"field": "countries", "message": f"countries: {raw_code[:40]!r} is not an ISO 3166-1 alpha-2 country code",
                             "msgid": N_("Name countries by their ISO 3166 code."), "params": {}})
        elif code not in codes:
            codes.append(code)
    return tuple(codes)


class SettingsInvalid(Invalid):
    """Invalid round settings. ``details`` hold field and English message (the API's answer);
    ``problems`` add to each a ``msgid`` and ``params`` for the interface language."""

    def __init__(self, problems: list[dict], message: str = N_("The round settings are not valid.")):
        super().__init__(message, [{"field": p["field"], "message": p["message"]} for p in problems])
        self.problems = problems


#: the domain's messages about settings (``validate_settings``) -> the field they concern and the
#: interface wording; an unlisted message keeps its field and a general wording
_DOMAIN_MESSAGES = [
    (re.compile(r"^(weights|min_scores): unknown category '(.*)'"), "{0}.{1}", N_("Unknown category.")),
    (re.compile(r"^weights: the weight of '(.*)' must be a number"), "weights.{0}", N_("Write a number such as 12 or 0.5.")),
    (re.compile(r"^weights: the weight of '(.*)' must not be negative"), "weights.{0}", N_("A weight must not be negative.")),
    (re.compile(r"^weights: at least one category must have a weight above zero"), "weights",
     N_("At least one category needs a weight above zero.")),
    (re.compile(r"^knockouts: unknown eligibility fact"), "knockouts", N_("Unknown eligibility condition.")),
    (re.compile(r"^min_scores: the minimum score of '(.*)' must be a number"), "min_scores.{0}", N_("Write a number such as 12 or 0.5.")),
    (re.compile(r"^min_scores: the minimum score of '(.*)' must be between"), "min_scores.{0}",
     N_("A minimum score is a number from 0 to 100.")),
    (re.compile(r"^rule: unknown rule"), "rule", N_("Choose a selection rule.")),
    (re.compile(r"^threshold: the threshold rule needs a threshold"), "threshold", N_("The threshold rule needs a threshold from 0 to 100.")),
    (re.compile(r"^threshold: must be"), "threshold", N_("The threshold is a number from 0 to 100.")),
    (re.compile(r"^quotas: (.*) is not an ISO 3166-1"), "quotas", N_("Name countries by their ISO 3166 code.")),
    (re.compile(r"^quotas: (\S+) is not a country this round covers"), "quotas.{0}", N_("%(code)s is not a country this round covers.")),
    (re.compile(r"^countries: "), "countries", N_("Name countries by their ISO 3166 code.")),
    (re.compile(r"^include_synthetic: "), "include_synthetic", N_("Say whether synthetic providers take part (true or false).")),
    (re.compile(r"^quotas: the quota of (\S+) must not be negative"), "quotas.{0}", N_("A quota must not be negative.")),
    (re.compile(r"^quotas: the quota of (\S+) must be a whole number"), "quotas.{0}", N_("Write a whole number from 0 to %(limit)s.")),
    (re.compile(r"^default_quota: must not be negative"), "default_quota", N_("A quota must not be negative.")),
    (re.compile(r"^draws: must be between"), "draws", N_("Write a whole number from 0 to %(limit)s.")),
    (re.compile(r"^seed: "), "seed", N_("The seed is a whole number of 0 or more.")),
]


def _settings_problem(message: str) -> dict:
    """One of the domain's messages about settings as a problem with its field and interface wording."""
    for pattern, field, msgid in _DOMAIN_MESSAGES:
        match = pattern.match(message)
        if match:
            limit = MAX_DRAWS if field == "draws" else INT_LIMITS["quotas"]
            params = {"limit": limit, **({"code": match.group(1)[:40]} if match.groups() else {})}
            return {"field": field.format(*match.groups())[:80], "message": message, "msgid": msgid, "params": params}
    return {"field": message.split(":", 1)[0][:40] if ":" in message else "settings", "message": message,
            "msgid": N_("The round settings are not valid."), "params": {}}


def check_coverage(settings: RoundSettings, countries: list[str]) -> None:
    """A new round covers only countries where some provider takes part, its quotas name only countries
    it covers and, under the quota rule, select someone: at least one quota above 0.

    ``countries``: the countries of the providers that would take part (active, and not synthetic unless
    the round includes synthetic providers). The round covers ``settings.countries``, or all of
    ``countries`` when it names none.
    """
    problems = []
    available = set(countries)
    covered = set(settings.countries) if settings.countries else available
    for country in settings.countries:
        if country not in available:
            problems.append({"field": "countries",
                             "message": f"countries: no provider of {country} takes part in this round "
                                        f"({'synthetic providers included' if settings.include_synthetic else 'synthetic providers left out'})",
                             "msgid": N_("%(code)s: no active provider of this country takes part in this round.") if settings.include_synthetic
                             else N_("%(code)s: no active provider of this country takes part in this round (synthetic providers are "
                                     "left out)."),
                             "params": {"code": country}})
    if not covered & available:
        problems.append({"field": "countries", "message": "countries: no active provider takes part in this round",
                         "msgid": N_("No active provider takes part in this round."), "params": {}})
    for country in settings.quotas:
        if country not in covered:
            problems.append({"field": f"quotas.{country}"[:80],
                             "message": f"quotas: {country} is not a country this round covers ({', '.join(sorted(covered)) or 'none'})",
                             "msgid": N_("%(code)s is not a country this round covers."), "params": {"code": country}})
    if settings.rule == "quota":
        quotas = [settings.quotas.get(c, settings.default_quota) for c in covered] or [settings.default_quota]
        if not any(k > 0 for k in quotas):
            problems.append({"field": "quotas", "message": "quotas: at least one country must have a quota above 0",
                             "msgid": N_("At least one country needs a quota above 0, or the round selects nobody."), "params": {}})
    if problems:
        raise SettingsInvalid(problems)


def settings_json(settings: RoundSettings, instrument: ProviderInstrument | None = None) -> dict:
    """Settings as stored and returned by the API (decimals as strings, exact). With the ``instrument``,
    ``weights`` are the effective ones: every category's, the instrument's default where the round
    named none."""
    weights = dict(settings.weights)
    if instrument is not None:
        weights = {cat.id: settings.weights.get(cat.id, cat.weight) for cat in instrument.categories}
    return {
        "weights": {k: str(v) for k, v in weights.items()},
        "knockouts": list(settings.knockouts),
        "min_scores": {k: str(v) for k, v in settings.min_scores.items()},
        "rule": settings.rule,
        "quotas": dict(settings.quotas),
        "default_quota": settings.default_quota,
        "threshold": str(settings.threshold) if settings.threshold is not None else None,
        "draws": settings.draws,
        "seed": settings.seed,
        "countries": list(settings.countries),
        "include_synthetic": settings.include_synthetic,
    }


def with_round_defaults(session: Session, settings: RoundSettings, raw: dict) -> RoundSettings:
    """A new round's settings with the defaults filled in where ``raw`` left them out:

    * ``include_synthetic``: false when any active provider is not synthetic (a real round does not mix
      in demo data), true when every active provider is synthetic (the demo's rounds);
    * ``countries``: every country of the active providers that take part.
    """
    include = settings.include_synthetic if raw.get("include_synthetic") is not None else not has_real_providers(session)
    countries = settings.countries or tuple(round_countries(session, include_synthetic=include))
    return replace(settings, include_synthetic=include, countries=countries)


def has_real_providers(session: Session) -> bool:
    """Whether any active (not archived) provider is not synthetic."""
    return bool(session.scalar(select(exists().where(Provider.archived_at.is_(None), Provider.synthetic.is_(False)))))


def _snapshot(providers: list[Provider]) -> list[dict]:
    return [{**{f: getattr(p, f) for f in SNAPSHOT_FIELDS}, "facts": dict(p.facts or {}), "item_scores": dict(p.item_scores or {}),
             "synthetic": p.synthetic} for p in providers]


def _inputs(instrument: ProviderInstrument, snapshot: list[dict]) -> list[ProviderInput]:
    """Domain inputs, keeping only the items and facts this instrument knows."""
    items = {item.id for item in instrument.items}
    facts = {fact.id for fact in instrument.eligibility}
    return [ProviderInput(p["code"], p["country"].upper(), {k: v for k, v in (p["item_scores"] or {}).items() if k in items},
                          {k: bool(v) for k, v in (p["facts"] or {}).items() if k in facts}, bool(p.get("synthetic")))
            for p in snapshot]


def results_json(result: RoundResult) -> list[dict]:
    def dec(value):
        return str(value) if value is not None else None

    return [
        {
            "code": r.code,
            "country": r.country,
            "category_scores": {k: dec(v) for k, v in r.category_scores.items()},
            "total": dec(r.total),
            "eligible": r.eligible,
            "exclusions": [{"kind": e.kind, "subject": e.subject, "value": dec(e.value), "required": dec(e.required)} for e in r.exclusions],
            "categories_at_least_50": r.categories_at_least_50,
            "rank": r.rank,
            "selected_by_rule": r.selected,
            "frequency": dec(r.frequency),
            "flag": r.flag,
        }
        for r in result.results
    ]


def compute(registry: Registry, rnd: SelectionRound) -> list[dict]:
    """Run the round's settings on its stored inputs (pure: writes nothing)."""
    instrument = round_instrument(registry, rnd)
    settings = parse_settings(instrument, rnd.settings)
    try:
        return results_json(run_round(instrument, _inputs(instrument, rnd.inputs), settings))
    except SelectionError as exc:
        raise Invalid(N_("Some providers' data cannot be used in a round."), [{"field": "providers", "message": str(exc)}]) from exc


def round_instrument(registry: Registry, rnd: SelectionRound) -> ProviderInstrument:
    instrument = registry.get(rnd.instrument_id, rnd.instrument_version)
    if not isinstance(instrument, ProviderInstrument):
        raise NotFound(f"Instrument {rnd.instrument_id} {rnd.instrument_version} is not available.")
    return instrument


def parse_letter_terms(raw: Any) -> dict[str, int]:
    """The commitment letters' term and targets (:data:`~rubric_app.models.LETTER_TERMS`) from JSON-like
    input; a missing or blank value takes the default; raises :class:`Invalid` listing every problem."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise Invalid(N_("The commitment letter terms are not valid."),
                      [{"field": "letter_terms", "message": "letter_terms must be a JSON object"}])
    problems, terms = [], {}
    for key in sorted(set(raw) - set(LETTER_TERMS)):
        problems.append({"field": f"letter_terms.{str(key)[:40]}", "message": "unknown field"})
    for key, (default, low, high) in LETTER_TERMS.items():
        value = raw.get(key)
        if value is None or value == "":
            terms[key] = default
            continue
        text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else None
        number = ascii_int(text, max_digits=4)
        if number is None or not low <= number <= high:
            shown = str(value)[:40]
            problems.append({"field": f"letter_terms.{key}", "message": f"{key} must be a whole number from {low} to {high}, got {shown!r}"})
            continue
        terms[key] = number
    if problems:
        raise Invalid(N_("The commitment letter terms are not valid."), problems)
    return terms


def letter_terms(rnd: SelectionRound) -> dict[str, int]:
    """The round's commitment-letter term and targets, defaults filled in for a round not flushed yet."""
    return {key: getattr(rnd, key) if getattr(rnd, key) is not None else default for key, (default, _lo, _hi) in LETTER_TERMS.items()}


def create_round(session: Session, registry: Registry, user: User, name: str, raw_settings: dict,
                 raw_terms: dict | None = None) -> SelectionRound:
    """Validate the settings and the letter terms, snapshot the registry, run, and store the round with its results."""
    require_staff(user)
    instrument = provider_instrument(registry)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise Invalid(N_("The round needs a name (at most 200 characters)."), [{"field": "name"}])
    problems: list[dict] = []
    settings = terms = None
    try:
        settings = with_round_defaults(session, parse_settings(instrument, raw_settings), raw_settings)
        check_coverage(settings, round_countries(session, include_synthetic=settings.include_synthetic))
    except SettingsInvalid as exc:
        problems += exc.problems
    try:
        terms = parse_letter_terms(raw_terms)
    except Invalid as exc:
        if not problems:
            raise
        problems += [{**d, "msgid": N_("The commitment letter terms are not valid."), "params": {}} for d in exc.details]
    if problems:
        raise SettingsInvalid(problems)
    rnd = SelectionRound(name=name, instrument_id=instrument.id, instrument_version=instrument.version, instrument_hash=instrument.hash,
                         settings=settings_json(settings, instrument), status=ROUND_OPEN, created_by_id=user.id, **terms)
    _run(session, registry, rnd)
    session.add(rnd)
    commit_or_conflict(session)
    return rnd


def round_countries(session: Session, *, include_synthetic: bool = True) -> list[str]:
    """The countries a new round can cover: those of the active (not archived) providers, of the
    non-synthetic ones only when ``include_synthetic`` is false."""
    query = select(Provider.country).where(Provider.archived_at.is_(None))
    if not include_synthetic:
        query = query.where(Provider.synthetic.is_(False))
    return list(session.scalars(query.distinct().order_by(Provider.country)))


def _run(session: Session, registry: Registry, rnd: SelectionRound) -> None:
    """Snapshot the providers that take part (active ones of the countries the round covers, synthetic
    ones only when it includes them; rounds stored before these settings: every active provider) and
    run the round on them."""
    query = select(Provider).where(Provider.archived_at.is_(None))
    countries = (rnd.settings or {}).get("countries")
    if countries:
        query = query.where(Provider.country.in_([str(c) for c in countries]))
    if (rnd.settings or {}).get("include_synthetic") is False:
        query = query.where(Provider.synthetic.is_(False))
    providers = list(session.scalars(query.order_by(Provider.code)))
    rnd.inputs = _snapshot(providers)
    rnd.results = compute(registry, rnd)
    rnd.run_at = utcnow()


def check_round_version(rnd: SelectionRound, expected_version: int | None) -> None:
    """Refuse a change based on an older version of the round than the stored one.

    The version is checked again where the change commits (``UPDATE ... WHERE version = :seen``);
    a change that loses that race gets :class:`Conflict`.
    """
    if expected_version is not None and expected_version != rnd.version:
        raise PreconditionFailed(N_("Someone else changed this round after you opened the page. Look at its current state "
                                    "below and try again."), [{"field": "version", "seen": expected_version, "current": rnd.version}])


def rerun(session: Session, registry: Registry, user: User, rnd: SelectionRound, *,
          expected_version: int | None = None) -> SelectionRound:
    """Open round: run again on the current registry. Frozen round: recompute from the stored inputs and
    seed, and refuse if anything differs (it never should)."""
    require_staff(user)
    check_round_version(rnd, expected_version)
    if rnd.status == ROUND_FROZEN:
        if _comparable(compute(registry, rnd)) != _comparable(rnd.results):
            raise Conflict("Re-running the frozen round gave different results.")
        return rnd
    _run(session, registry, rnd)
    commit_or_conflict(session)
    return rnd


def freeze(session: Session, user: User, rnd: SelectionRound, *, expected_version: int | None = None) -> SelectionRound:
    """Keep the round's inputs, seed and results as they are; overrides can no longer change."""
    require_staff(user)
    check_round_version(rnd, expected_version)
    if rnd.status == ROUND_FROZEN:
        raise Conflict(N_("This round is already frozen."))
    rnd.status, rnd.frozen_at = ROUND_FROZEN, utcnow()
    session.add(AuditEntry(user_id=user.id, subject=f"round:{rnd.id}", field="status", old=ROUND_OPEN, new=ROUND_FROZEN))
    commit_or_conflict(session)
    return rnd


def set_override(session: Session, user: User, rnd: SelectionRound, code: str, selected: bool | None, rationale: str, *,
                 expected_version: int | None = None) -> None:
    """Select or deselect a provider against the rule (``selected`` None removes the override).

    A rationale is required; every change is written to the audit log.  The round's version is
    bumped, so an override racing a freeze (or another override) loses with a conflict.
    """
    require_staff(user)
    check_round_version(rnd, expected_version)
    if rnd.status == ROUND_FROZEN:
        raise Conflict(N_("This round is frozen; its selection can no longer change."))
    if code not in {r["code"] for r in rnd.results}:
        raise NotFound(N_("This provider is not in the round."))
    rationale = (rationale or "").strip()
    if not rationale:
        raise Invalid(N_("A rationale is required for an override."), [{"field": "rationale"}])
    if len(rationale) > 5000:
        raise Invalid("The rationale is too long.", [{"field": "rationale"}])
    current = next((o for o in rnd.overrides if o.provider_code == code), None)
    old = None if current is None else ("selected" if current.selected else "not selected")
    if selected is None:
        if current is not None:
            rnd.overrides.remove(current)
    elif current is None:
        rnd.overrides.append(SelectionOverride(provider_code=code, selected=selected, rationale=rationale, user_id=user.id))
    else:
        current.selected, current.rationale, current.user_id, current.at = selected, rationale, user.id, utcnow()
    new = None if selected is None else ("selected" if selected else "not selected")
    session.add(AuditEntry(user_id=user.id, subject=f"round:{rnd.id} provider:{code}", field="selection", old=old, new=new, comment=rationale))
    flag_modified(rnd, "status")  # the round's row is written with its version check
    commit_or_conflict(session)


def _comparable(results: list[dict]) -> list[dict]:
    """Results as compared on a re-run: rounds stored before ineligible providers lost their stability
    flag ("robust") give the same results as today's code."""
    return [{**r, "flag": None} if not r.get("eligible") else r for r in results]


def final_results(rnd: SelectionRound) -> list[dict]:
    """Stored results with the provider details and the overrides applied (``selected`` is final).

    An ineligible provider has no stability flag, also in rounds stored before that rule (they said
    "robust"): it is counted neither robust nor borderline.
    """
    overrides = {o.provider_code: o for o in rnd.overrides}
    details = {p["code"]: p for p in rnd.inputs}
    rows = []
    for r in rnd.results:
        o = overrides.get(r["code"])
        info = details.get(r["code"], {})
        if not r.get("eligible"):
            r = {**r, "flag": None}
        rows.append({**r, **{f: info.get(f, "") for f in SNAPSHOT_FIELDS if f not in ("code", "country")},
                     "synthetic": info.get("synthetic", False),
                     "selected": o.selected if o is not None else r["selected_by_rule"],
                     "override": {"selected": o.selected, "rationale": o.rationale, "at": o.at.isoformat()} if o is not None else None})
    return rows


def list_rounds(session: Session, user: User) -> list[SelectionRound]:
    require_staff(user)
    return list(session.scalars(select(SelectionRound).order_by(SelectionRound.created_at.desc(), SelectionRound.id.desc())))


def get_round(session: Session, user: User, round_id: int) -> SelectionRound:
    require_staff(user)
    rnd = session.get(SelectionRound, round_id)
    if rnd is None:
        raise NotFound(N_("Selection round not found."))
    return rnd
