"""The SDE provider registry: staff-only lookups, create and edit, synthetic demo data."""
from __future__ import annotations

import random
import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..domain.instruments import PROVIDER_SCALE, ProviderInstrument, Registry
from ..domain.selection import ProviderInput
from ..i18n import is_country
from ..inputs import ascii_int
from ..models import PROVIDER_TYPES, AuditEntry, Provider, User, search_fold, utcnow
from . import N_, Conflict, Forbidden, Invalid, NotFound, PreconditionFailed, commit_or_conflict

#: roles that may see and manage providers and selection rounds
STAFF_ROLES = ("staff", "admin")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
PROVIDER_INSTRUMENT = "sde-provider-assessment"


def require_staff(user: User) -> None:
    if user is None or user.role not in STAFF_ROLES:
        raise Forbidden(N_("Only project staff can do this."))


def provider_instrument(registry: Registry) -> ProviderInstrument:
    """The latest provider assessment definition."""
    instrument = registry.latest(PROVIDER_INSTRUMENT)
    if not isinstance(instrument, ProviderInstrument):
        raise NotFound("No provider assessment instrument is loaded.")
    return instrument


def list_providers(session: Session, user: User, *, country: str | None = None, type: str | None = None,
                   search: str | None = None, limit: int | None = None, offset: int = 0,
                   archived: bool | None = False) -> tuple[list[Provider], int]:
    """Providers matching the filters (code order) and their total count.

    ``search`` finds code, name or city ignoring case and accents ("cordoba" finds "Córdoba") on
    every database, through the folded ``search_key`` kept on write. ``archived``: False (the
    default) lists active providers, True archived ones only, None both.
    """
    require_staff(user)
    query = select(Provider)
    if country:
        query = query.where(Provider.country == country.upper())
    if type:
        query = query.where(Provider.type == type)
    if archived is not None:
        query = query.where(Provider.archived_at.is_not(None) if archived else Provider.archived_at.is_(None))
    folded = search_fold(search).strip() if search else ""
    if folded:
        escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Provider.search_key.like(f"%{escaped}%", escape="\\"))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.order_by(Provider.code).offset(offset)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query)), total


def get_provider(session: Session, user: User, provider_id: int) -> Provider:
    require_staff(user)
    provider = session.get(Provider, provider_id)
    if provider is None:
        raise NotFound(N_("Provider not found."))
    return provider


def save_provider(session: Session, user: User, instrument: ProviderInstrument, values: dict,
                  provider: Provider | None = None, *, expected_version: int | None = None) -> Provider:
    """Create (``provider`` None) or update a provider from plain values; all fields checked first.

    ``expected_version`` is the version the person's page showed: a stale one raises
    :class:`PreconditionFailed` with the stored values; the version is checked again where the
    update commits, and a code taken at the same moment by someone else is a conflict, not an error.
    """
    require_staff(user)
    if provider is not None and expected_version is not None and expected_version != provider.version:
        raise PreconditionFailed(N_("Someone else changed this provider after you opened the page. Their values are shown "
                                    "beside yours: keep one, or combine them, and save again."),
                                 [{"field": "version", "seen": expected_version, "current": provider.version}])
    problems = []

    def problem(field: str, msgid: str, **params) -> None:
        problems.append({"field": field, "message": msgid % params if params else msgid, "msgid": msgid, "params": params})

    code = (values.get("code") or "").strip()
    if not CODE_PATTERN.match(code):
        problem("code", N_("Code: letters, digits, '.', '_' or '-', at most 40."))
    name = (values.get("name") or "").strip()
    if not name or len(name) > 200:
        problem("name", N_("The name is required (at most 200 characters)."))
    for field in ("legal_representative", "legal_representative_position", "contact_name"):
        if len((values.get(field) or "").strip()) > 200:
            problem(field, N_("At most 200 characters."))
    if len((values.get("city") or "").strip()) > 120:
        problem("city", N_("At most %(n)s characters."), n=120)
    email = (values.get("contact_email") or "").strip()
    if email and not valid_email(email):
        problem("contact_email", N_("Write an e-mail address such as name@example.org."))
    phone = (values.get("contact_phone") or "").strip()
    if phone and not valid_phone(phone):
        problem("contact_phone", N_("Write a phone number with digits, spaces and + ( ) - . only (6 to 20 digits)."))
    country = (values.get("country") or "").strip().upper()
    if not is_country(country):
        problem("country", N_("Unknown country code."))
    ptype = values.get("type")
    if ptype not in PROVIDER_TYPES:
        problem("type", N_("Unknown provider type."))
    facts = {fact.id: bool((values.get("facts") or {}).get(fact.id)) for fact in instrument.eligibility}
    scores: dict[str, int | None] = {}
    for item in instrument.items:
        raw = (values.get("item_scores") or {}).get(item.id)
        if raw in (None, ""):
            scores[item.id] = None
        elif ascii_int(str(raw), PROVIDER_SCALE[0], PROVIDER_SCALE[-1], max_digits=2) is not None:
            scores[item.id] = int(raw)
        else:
            problem(item.id, N_("Score must be between %(low)s and %(high)s."), low=PROVIDER_SCALE[0], high=PROVIDER_SCALE[-1])
    if problems:
        raise Invalid(N_("The provider was not saved: check the fields marked."), problems)
    clash = session.scalar(select(Provider).where(Provider.code == code))
    if clash is not None and clash is not provider:
        raise Conflict(N_("Another provider already has this code."), [{"field": "code"}])
    if provider is None:
        provider = Provider(code=code, synthetic=False)
        session.add(provider)
    provider.code, provider.name, provider.country, provider.type = code, name, country, ptype
    provider.city = (values.get("city") or "").strip()[:120]
    provider.contact_name = (values.get("contact_name") or "").strip()[:200]
    provider.contact_email = email
    provider.contact_phone = phone
    provider.legal_representative = (values.get("legal_representative") or "").strip()[:200]
    provider.legal_representative_position = (values.get("legal_representative_position") or "").strip()[:200]
    provider.facts, provider.item_scores = facts, scores
    commit_or_conflict(session)
    return provider


EMAIL_PATTERN = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[^@\s<>(),;:\"\[\]]+\.[^@\s<>(),;:\"\[\]]+$")
PHONE_PATTERN = re.compile(r"^\+?[0-9 ().\-]+$")
PHONE_DIGITS = (6, 20)


def valid_email(text: str) -> bool:
    """A plausible e-mail address: one @, a dot in the domain, no spaces, at most 254 characters."""
    local, _sep, domain = text.rpartition("@")
    return (len(text) <= 254 and len(local) <= 64 and EMAIL_PATTERN.match(text) is not None
            and not domain.startswith(".") and not domain.endswith(".") and ".." not in text)


def valid_phone(text: str) -> bool:
    """Digits, spaces and + ( ) - . only (a + only first), 6 to 20 digits, at most 40 characters."""
    digits = sum(ch.isdigit() for ch in text)
    return len(text) <= 40 and PHONE_PATTERN.match(text) is not None and PHONE_DIGITS[0] <= digits <= PHONE_DIGITS[1]


def set_archived(session: Session, user: User, provider: Provider, archived: bool, *,
                 expected_version: int | None = None) -> Provider:
    """Archive (``archived`` True) or bring back a provider, audited.

    An archived provider leaves the registry list and takes no part in new rounds; rounds already
    run keep it in their snapshot. ``expected_version`` is the version the person's page showed: a
    stale one raises :class:`PreconditionFailed`; the version is checked again where the change commits.
    """
    require_staff(user)
    if expected_version is None or expected_version != provider.version:
        raise PreconditionFailed(N_("Someone else changed this provider after you opened the page. Look at it again and retry."),
                                 [{"field": "version", "seen": expected_version, "current": provider.version}])
    if archived == (provider.archived_at is not None):
        raise Conflict(N_("This provider is already archived.") if archived else N_("This provider is not archived."))
    provider.archived_at = utcnow() if archived else None
    session.add(AuditEntry(user_id=user.id, subject=f"provider:{provider.code}", field="archived",
                           old="no" if archived else "yes", new="yes" if archived else "no"))
    commit_or_conflict(session)
    return provider


def provider_inputs(providers: list[Provider]) -> list[ProviderInput]:
    """Domain inputs for a selection run."""
    return [ProviderInput(p.code, p.country, dict(p.item_scores or {}), dict(p.facts or {})) for p in providers]


def countries_in_registry(session: Session) -> list[str]:
    """The countries of the active (not archived) providers: what a new round covers."""
    return list(session.scalars(select(Provider.country).where(Provider.archived_at.is_(None)).distinct().order_by(Provider.country)))


# --------------------------------------------------------------------------- synthetic data

_CITIES = {
    "AR": ["Buenos Aires", "Córdoba", "Rosario", "Mendoza", "La Plata", "Mar del Plata", "Salta"],
    "CO": ["Bogotá", "Medellín", "Cali", "Barranquilla", "Cúcuta", "Bucaramanga", "Cartagena", "Riohacha"],
    "PE": ["Lima", "Arequipa", "Trujillo", "Piura", "Chiclayo", "Cusco", "Tumbes", "Callao"],
    "DO": ["Santo Domingo", "Santiago de los Caballeros", "La Romana", "San Pedro de Macorís", "Puerto Plata"],
}
_SHARES = {"AR": 0.22, "CO": 0.29, "PE": 0.31, "DO": 0.18}
_NAMES = {
    "public_body": ["Agencia de Desarrollo Productivo", "Centro de Servicios Empresariales", "Dirección de Emprendimiento"],
    "private_firm": ["Consultora Impulso", "Asesores Progreso", "Gestión Emprende", "Red Pyme Consultores"],
    "ngo": ["Fundación Oportunidades", "Asociación Manos Unidas", "ONG Camino Digno", "Fundación Puentes"],
    "chamber": ["Cámara de Comercio", "Asociación de Emprendedores", "Gremio de la Pequeña Empresa"],
    "university": ["Universidad Tecnológica", "Instituto Universitario", "Centro de Emprendimiento Universitario"],
    "other": ["Cooperativa de Servicios", "Incubadora Social", "Red de Mentores"],
}
_TYPE_WEIGHTS = {"public_body": 0.18, "private_firm": 0.2, "ngo": 0.27, "chamber": 0.13, "university": 0.14, "other": 0.08}


def synthetic_providers(instrument: ProviderInstrument, count: int, seed: int) -> list[dict]:
    """Deterministic, realistic fictitious providers (labelled synthetic: code prefix SYN-)."""
    rng = random.Random(seed)
    countries = list(_SHARES)
    per_country = {c: int(count * _SHARES[c]) for c in countries}
    for c in countries[: count - sum(per_country.values())]:
        per_country[c] += 1
    rows = []
    for country in countries:
        for n in range(1, per_country[country] + 1):
            ptype = rng.choices(list(_TYPE_WEIGHTS), weights=list(_TYPE_WEIGHTS.values()))[0]
            city = rng.choice(_CITIES[country])
            capacity = rng.betavariate(2.2, 2.0) * 4  # the provider's overall capacity, 0..4
            strengths = {cat.id: rng.gauss(0, 0.7) for cat in instrument.categories}
            scores = {}
            for cat in instrument.categories:
                for item in cat.items:
                    if rng.random() < 0.03:
                        scores[item.id] = None
                        continue
                    value = capacity + strengths[cat.id] + rng.gauss(0, 0.6)
                    scores[item.id] = max(0, min(4, int(round(value))))
            rows.append({
                "code": f"SYN-{country}-{n:05d}" if count > 9999 else f"SYN-{country}-{n:03d}",
                "name": f"{rng.choice(_NAMES[ptype])} {city} {n} (sintético)",
                "country": country,
                "city": city,
                "type": ptype,
                "contact_name": f"Contacto {n}",
                "contact_email": f"contacto{n}.{country.lower()}@sintetico.example",
                "contact_phone": "",
                "legal_representative": f"Representante legal {n}",
                "legal_representative_position": "Dirección ejecutiva",
                "facts": {
                    "entrepreneurship_training": rng.random() < 0.82,
                    "commitment_letter": rng.random() < 0.88,
                    "facilitator_staff": rng.random() < 0.74,
                },
                "item_scores": scores,
            })
    return rows


def seed_synthetic_providers(session: Session, instrument: ProviderInstrument, count: int, seed: int) -> tuple[int, int]:
    """Upsert synthetic providers by code; returns (created, updated). Never touches real providers."""
    existing = {p.code: p for p in session.scalars(select(Provider).where(Provider.synthetic.is_(True)))}
    created = updated = 0
    for row in synthetic_providers(instrument, count, seed):
        provider = existing.get(row["code"])
        if provider is None:
            if session.scalar(select(Provider.id).where(Provider.code == row["code"])) is not None:
                continue
            provider = Provider(synthetic=True, **row)
            session.add(provider)
            created += 1
        else:
            for key, value in row.items():
                setattr(provider, key, value)
            updated += 1
    session.commit()
    return created, updated
