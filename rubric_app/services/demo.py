"""Fictitious demo data: accounts, labelled synthetic institutions in four countries with two rounds
of self-assessments (submitted, validated by a reviewer, one per country returned, one awaiting
review), so that every page -- comparison, agreement, change since the previous round, review queue
-- has something to show.

Every write goes through the services an institution and a reviewer use (start, answer, submit,
review, validate, return), so the stored scores are the scoring rules' own; only the dates are
moved afterwards, to put the first round a year before the second.  Deterministic: the levels of an
institution depend only on the seed and its name.  Idempotent: an institution that already has an
assessment is left as it is.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..domain.instruments import Registry, Rubric
from ..domain.scoring import CriterionAnswer
from ..models import DRAFT, SUBMITTED, VALIDATED, Answer, Assessment, AuditEntry, Institution, ReviewEvent, User, utcnow
from . import accounts, review
from . import assessments as svc

DEMO_PASSWORD = "lazos-cinterfor-2026"
#: (e-mail, role, index in DEMO_INSTITUTIONS of a member's institution)
DEMO_ACCOUNTS = [
    ("admin@demo.example", "admin", None),
    ("reviewer@demo.example", "reviewer", None),
    ("staff@demo.example", "staff", None),
    ("member@demo.example", "member", 0),
]
#: (name, country, city, type, sector); each gets a member account ifp<position + 1>@demo.example.
#: Eight per country: a country cell of the comparison needs at least five institutions.
DEMO_INSTITUTIONS = [
    ("Instituto Técnico Demo del Litoral", "AR", "Rosario", "technical_institute", "public"),
    ("Centro de Formación Demo Andino", "AR", "Mendoza", "training_centre", "private"),
    ("Servicio de Aprendizaje Demo Caribe", "CO", "Barranquilla", "national_service", "public"),
    ("Fundación Demo Oficios Cúcuta", "CO", "Cúcuta", "ngo", "private"),
    ("CETPRO Demo Lima Norte", "PE", "Lima", "training_centre", "public"),
    ("Instituto Demo de Tecnología Arequipa", "PE", "Arequipa", "technical_institute", "private"),
    ("Escuela Taller Demo Santo Domingo", "DO", "Santo Domingo", "training_centre", "public"),
    ("Politécnico Demo Santiago de los Caballeros", "DO", "Santiago de los Caballeros", "technical_institute", "private"),
    ("Centro de Formación Profesional Demo Córdoba", "AR", "Córdoba", "training_centre", "public"),
    ("Universidad Tecnológica Demo Buenos Aires", "AR", "Buenos Aires", "university", "public"),
    ("Escuela de Oficios Demo Tucumán", "AR", "San Miguel de Tucumán", "training_centre", "public"),
    ("Instituto Demo de Capacitación Salta", "AR", "Salta", "technical_institute", "private"),
    ("Fundación Demo Trabajo Neuquén", "AR", "Neuquén", "ngo", "private"),
    ("Centro Demo de Aprendizaje Mar del Plata", "AR", "Mar del Plata", "other", "private"),
    ("Centro Demo de Formación Bogotá Sur", "CO", "Bogotá", "national_service", "public"),
    ("Politécnico Demo Medellín", "CO", "Medellín", "technical_institute", "public"),
    ("Corporación Demo Oficios del Pacífico", "CO", "Cali", "ngo", "private"),
    ("Instituto Técnico Demo Santander", "CO", "Bucaramanga", "technical_institute", "private"),
    ("Universidad Demo de Nariño", "CO", "Pasto", "university", "public"),
    ("Centro de Capacitación Demo La Guajira", "CO", "Riohacha", "training_centre", "public"),
    ("CETPRO Demo Trujillo", "PE", "Trujillo", "training_centre", "public"),
    ("Instituto Demo de Turismo Cusco", "PE", "Cusco", "technical_institute", "private"),
    ("Centro de Formación Demo Piura", "PE", "Piura", "training_centre", "private"),
    ("Escuela Técnica Demo Tacna", "PE", "Tacna", "technical_institute", "public"),
    ("Asociación Demo Emprende Chiclayo", "PE", "Chiclayo", "ngo", "private"),
    ("Universidad Demo del Centro Huancayo", "PE", "Huancayo", "university", "public"),
    ("Centro Tecnológico Demo La Romana", "DO", "La Romana", "training_centre", "private"),
    ("Instituto Demo de Oficios San Pedro de Macorís", "DO", "San Pedro de Macorís", "technical_institute", "public"),
    ("Escuela Hotelera Demo Puerto Plata", "DO", "Puerto Plata", "training_centre", "private"),
    ("Fundación Demo Integra Higüey", "DO", "Higüey", "ngo", "private"),
    ("Centro de Formación Demo Cibao Nordeste", "DO", "San Francisco de Macorís", "training_centre", "public"),
    ("Universidad Demo del Suroeste", "DO", "Barahona", "university", "private"),
]
#: per country: (mean self-assessed level in round 1, share of criteria a reviewer lowers)
COUNTRY_PROFILES = {"AR": (2.9, 0.30), "CO": (3.2, 0.22), "PE": (2.5, 0.40), "DO": (2.2, 0.50)}
DEFAULT_PROFILE = (2.7, 0.30)
#: per dimension: how far its levels lie from the institution's mean (0 for dimensions not named)
DIMENSION_OFFSETS = {"policy": 0.5, "access": 0.2, "relevance": 0.1, "recognition": -0.6, "people": 0.0, "articulation": -0.3}

NA_REASON = "Demo: no aplica en esta institución (datos ficticios)."
EVIDENCE = "Demo: evidencia ficticia, ronda %d."
LOWER_COMMENT = "Demo: la evidencia presentada respalda un nivel menor (datos ficticios)."
HIGHER_COMMENT = "Demo: la práctica observada supera lo autoevaluado (datos ficticios)."
VALIDATE_COMMENT = "Demo: validada con los niveles indicados (datos ficticios)."
RETURN_COMMENT = ("Demo: adjunte la evidencia de los convenios con el servicio público de empleo y los datos desagregados "
                  "por nacionalidad y sexo (datos ficticios).")

#: what happens to an institution's second round, by its place in its country's list
ROUND2_VALIDATED, ROUND2_SUBMITTED, ROUND2_RETURNED = "validated", "submitted", "returned"


@dataclass(frozen=True)
class DemoSummary:
    """What the demo database holds after seeding (counts over the whole database)."""

    institutions: int
    assessments: int
    submitted: int
    validated: int
    returned: int
    #: institutions given their two rounds by this run (0 on a second run)
    seeded: int


def _clamp(level: float) -> int:
    return max(1, min(5, round(level)))


def round2_outcome(position: int, of: int) -> str:
    """Second round per country: the last institution awaits review, the one before was returned, the rest are validated."""
    if position == of - 1:
        return ROUND2_SUBMITTED
    if position == of - 2:
        return ROUND2_RETURNED
    return ROUND2_VALIDATED


def demo_levels(rubric: Rubric, country: str, name: str, seed: int) -> tuple[dict[str, int | None], dict[str, int | None], dict[str, int | None]]:
    """Round 1 self-assessed and validated levels and round 2 self-assessed levels (None: not applicable).

    Depends only on the seed, the country and the institution's name.  At most one criterion per
    dimension is not applicable, so every dimension has a score.
    """
    rng = random.Random(f"{seed}:{country}:{name}")
    mean, lowered = COUNTRY_PROFILES.get(country, DEFAULT_PROFILE)
    base = mean + rng.uniform(-0.7, 0.7)
    own1: dict[str, int | None] = {}
    na_dims: set[str] = set()
    for crit in rubric.criteria:
        if crit.not_applicable_allowed and crit.dimension_id not in na_dims and rng.random() < 0.04:
            own1[crit.id] = None
            na_dims.add(crit.dimension_id)
        else:
            own1[crit.id] = _clamp(base + DIMENSION_OFFSETS.get(crit.dimension_id, 0.0) + rng.gauss(0, 0.6))
    checked1 = {cid: _reviewed(rng, level, lowered) for cid, level in own1.items()}
    own2 = {cid: (None if level is None else min(5, level + (1 if rng.random() < 0.45 else 0))) for cid, level in own1.items()}
    return own1, checked1, own2


def _reviewed(rng: random.Random, level: int | None, lowered: float) -> int | None:
    """The level a reviewer validates: mostly the same, often one lower, sometimes two lower or one higher."""
    if level is None:
        return None
    draw = rng.random()
    if draw < lowered:
        return max(1, level - 1)
    if draw < lowered + 0.04:
        return max(1, level - 2)
    if draw < lowered + 0.10:
        return min(5, level + 1)
    return level


def _answers(rubric: Rubric, levels: dict[str, int | None], round_number: int) -> list[CriterionAnswer]:
    return [CriterionAnswer(c.id, None, True, NA_REASON, None, EVIDENCE % round_number) if levels[c.id] is None
            else CriterionAnswer(c.id, levels[c.id], False, "", None, EVIDENCE % round_number) for c in rubric.criteria]


def _review_entries(assessment: Assessment, checked: dict[str, int | None]) -> list[review.ReviewEntry]:
    entries = []
    for row in assessment.answers:
        level = checked.get(row.criterion_id) if row.level is not None else None
        if row.level is not None and level is None:
            level = row.level
        comment = "" if level == row.level else (LOWER_COMMENT if level < row.level else HIGHER_COMMENT)
        entries.append(review.ReviewEntry(row.criterion_id, level, comment))
    return entries


def _backdate(session: Session, assessment_id: int, created: datetime, submitted: datetime, reviewed: datetime | None) -> None:
    """Move an assessment's dates (and those of its history and audit entries) to the demo's calendar."""
    answered = created + timedelta(days=2)
    last = reviewed or submitted
    session.execute(update(Assessment).where(Assessment.id == assessment_id)
                    .values(created_at=created, submitted_at=submitted, updated_at=last,
                            **({"reviewed_at": reviewed} if reviewed is not None else {}))
                    .execution_options(synchronize_session=False))
    session.execute(update(Answer).where(Answer.assessment_id == assessment_id).values(updated_at=answered)
                    .execution_options(synchronize_session=False))
    session.execute(update(ReviewEvent).where(ReviewEvent.assessment_id == assessment_id, ReviewEvent.action == "submitted")
                    .values(at=submitted).execution_options(synchronize_session=False))
    audit = update(AuditEntry).where(AuditEntry.assessment_id == assessment_id).execution_options(synchronize_session=False)
    session.execute(audit.where(AuditEntry.field == "level").values(at=answered))
    session.execute(audit.where(AuditEntry.field == "status", AuditEntry.new == SUBMITTED).values(at=submitted))
    if reviewed is not None:
        session.execute(update(ReviewEvent).where(ReviewEvent.assessment_id == assessment_id, ReviewEvent.action != "submitted")
                        .values(at=reviewed).execution_options(synchronize_session=False))
        session.execute(audit.where((AuditEntry.field == "validated_level") | ((AuditEntry.field == "status") & (AuditEntry.new != SUBMITTED)))
                        .values(at=reviewed))
    session.commit()


def seed_institution_rounds(session: Session, registry: Registry, rubric: Rubric, member: User, reviewer: User, seed: int,
                            outcome: str, now: datetime) -> None:
    """Two rounds for the member's institution: round 1 submitted and validated a year before
    round 2, which is validated, submitted (awaiting review) or returned as ``outcome`` says."""
    institution = member.institution
    own1, checked1, own2 = demo_levels(rubric, institution.country, institution.name, seed)
    rng = random.Random(f"{seed}:dates:{institution.country}:{institution.name}")
    submitted2 = now - timedelta(days=(rng.randint(2, 9) if outcome == ROUND2_SUBMITTED else rng.randint(20, 60)), hours=rng.randint(0, 8))
    submitted1 = submitted2 - timedelta(days=365)
    reviewed1 = submitted1 + timedelta(days=rng.randint(4, 14))
    reviewed2 = submitted2 + timedelta(days=rng.randint(3, 12)) if outcome != ROUND2_SUBMITTED else None

    first = svc.start_assessment(session, registry, member, instrument_id=rubric.id, version=rubric.version, language="es")
    svc.save_answers(session, registry, member, first, _answers(rubric, own1, 1))
    first = svc.submit(session, registry, member, first)
    review.save_review(session, registry, reviewer, first, _review_entries(first, checked1), then_validate=True,
                       validate_comment=VALIDATE_COMMENT)
    _backdate(session, first.id, submitted1 - timedelta(days=25), submitted1, reviewed1)

    second = svc.start_assessment(session, registry, member, instrument_id=rubric.id, version=rubric.version, language="es",
                                  from_previous=True)
    svc.save_answers(session, registry, member, second, _answers(rubric, own2, 2))
    second = svc.submit(session, registry, member, second)
    if outcome == ROUND2_VALIDATED:
        # after a year with the reviewer's feedback, self-assessment is closer to what the evidence supports
        checked2 = {cid: (level if level is None or rng.random() < 0.5 else _reviewed(rng, level, 0.25)) for cid, level in own2.items()}
        review.save_review(session, registry, reviewer, second, _review_entries(second, checked2), then_validate=True,
                           validate_comment=VALIDATE_COMMENT)
    elif outcome == ROUND2_RETURNED:
        review.return_to_institution(session, reviewer, second, RETURN_COMMENT)
    _backdate(session, second.id, submitted2 - timedelta(days=25), submitted2, reviewed2)


def _account(session: Session, email: str, role: str, name: str, institution: Institution | None, password_hash: str) -> User:
    """The demo account with this e-mail, created when missing: the row :func:`accounts.create_user`
    writes, with the demo password's hash computed once for every account (hashing is slow on purpose)."""
    email = accounts.normalise_email(email)
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        accounts.check_password(DEMO_PASSWORD, email=email, institution_name=institution.name if institution is not None else "")
        user = User(email=email, password_hash=password_hash, role=role, name=name[:200],
                    institution=institution if role == "member" else None, active=True)
        session.add(user)
        session.commit()
    return user


def seed_demo_assessments(session: Session, registry: Registry, seed: int = 2026) -> DemoSummary:
    """The demo accounts, the demo institutions with one member account each, and two rounds for
    every demo institution that has no assessment yet (see the module's docstring)."""
    rubric = registry.latest("ifp-migrant-inclusion") or registry.rubrics()[0]
    now = utcnow().replace(minute=0, second=0, microsecond=0)
    institutions = []
    for name, country, city, itype, sector in DEMO_INSTITUTIONS:
        inst = accounts.find_institution(session, name, country) or accounts.create_institution(
            session, name=name, country=country, city=city, type=itype, sector=sector, synthetic=True)
        institutions.append(inst)
    session.commit()
    password_hash = accounts.generate_password_hash(DEMO_PASSWORD)
    staff_accounts = {email: _account(session, email, role, f"Demo {role}", None, password_hash)
                      for email, role, index in DEMO_ACCOUNTS if index is None}
    reviewer = staff_accounts["reviewer@demo.example"]
    positions: dict[str, list[int]] = {}
    for i, (_name, country, *_rest) in enumerate(DEMO_INSTITUTIONS):
        positions.setdefault(country, []).append(i)
    seeded = 0
    for i, inst in enumerate(institutions):
        member = _account(session, f"ifp{i + 1}@demo.example", "member", f"Demo {inst.name}", inst, password_hash)
        if session.scalar(select(Assessment.id).where(Assessment.institution_id == inst.id).limit(1)) is not None:
            continue
        in_country = positions[inst.country]
        seed_institution_rounds(session, registry, rubric, member, reviewer, seed,
                                round2_outcome(in_country.index(i), len(in_country)), now)
        seeded += 1
    for email, role, index in DEMO_ACCOUNTS:
        if index is not None:
            _account(session, email, role, f"Demo {role}", institutions[index], password_hash)
    return summary(session, seeded)


def summary(session: Session, seeded: int = 0) -> DemoSummary:
    """Counts of the demo database's institutions and assessments."""
    from sqlalchemy import func

    def count(*where) -> int:
        return session.scalar(select(func.count(Assessment.id)).where(*where)) or 0

    returned = session.scalar(select(func.count(func.distinct(ReviewEvent.assessment_id))).select_from(ReviewEvent).join(Assessment)
                              .where(Assessment.status == DRAFT, ReviewEvent.action == "returned")) or 0
    return DemoSummary(institutions=session.scalar(select(func.count(Institution.id))) or 0, assessments=count(),
                       submitted=count(Assessment.status == SUBMITTED), validated=count(Assessment.status == VALIDATED),
                       returned=returned, seeded=seeded)
