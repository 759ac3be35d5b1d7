"""Self-assessments: start, answer, submit, score, plan.  Every lookup is scoped to the user."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ..domain.instruments import REQUIRED_LANGUAGES, Registry, Rubric
from ..domain.planning import PlanItem, improvement_plan
from ..domain.scoring import AnswerError, CriterionAnswer, RubricScores, missing_criteria, score_rubric, validate_answer
from ..models import DRAFT, PLAN_STATUSES, SUBMITTED, VALIDATED, Answer, Assessment, AuditEntry, PlanEdit, ReviewEvent, User, utcnow
from . import N_, Conflict, Forbidden, Invalid, NotFound

#: roles that may read any submitted assessment
READER_ROLES = ("reviewer", "admin")


def rubric_for(registry: Registry, assessment: Assessment) -> Rubric:
    """The definition an assessment was answered on."""
    rubric = registry.get(assessment.instrument_id, assessment.instrument_version)
    if rubric is None:
        raise NotFound(f"Instrument {assessment.instrument_id} version {assessment.instrument_version} is not available.")
    return rubric


def visible_assessments(session: Session, user: User) -> list[Assessment]:
    """The assessments the user may see: own institution's for members; submitted ones for readers."""
    query = select(Assessment).order_by(Assessment.created_at.desc(), Assessment.id.desc())
    if user.role == "member":
        query = query.where(Assessment.institution_id == user.institution_id)
    elif user.role in READER_ROLES:
        query = query.where(Assessment.status.in_((SUBMITTED, VALIDATED)))
    else:
        return []
    return list(session.scalars(query))


def get_assessment(session: Session, user: User, assessment_id: int, *, edit: bool = False) -> Assessment:
    """One assessment the user may see (or edit); anything else is "not found"."""
    assessment = session.scalar(
        select(Assessment).options(selectinload(Assessment.answers), selectinload(Assessment.plan_items), selectinload(Assessment.events))
        .where(Assessment.id == assessment_id)
    )
    own = assessment is not None and user.role == "member" and assessment.institution_id == user.institution_id
    reader = assessment is not None and user.role in READER_ROLES and assessment.status in (SUBMITTED, VALIDATED)
    if not (own or (reader and not edit)):
        raise NotFound(N_("Assessment not found."))
    if edit and assessment.status != DRAFT:
        raise Conflict(N_("This assessment has been submitted; its answers are locked."))
    return assessment


def start_assessment(session: Session, registry: Registry, user: User, *, instrument_id: str, version: str | None = None,
                     language: str = "es", from_previous: bool = False) -> Assessment:
    """A new draft for the user's institution, pinned to the instrument version and its hash.

    With ``from_previous`` the answers of the institution's latest assessment on the same
    instrument are copied in (levels, reasons, evidence; targets recomputed by default).
    """
    if user.role != "member" or user.institution_id is None:
        raise Forbidden(N_("Only institution members can start a self-assessment."))
    rubric = registry.get(instrument_id, version) if version else registry.latest(instrument_id)
    if not isinstance(rubric, Rubric):
        raise Invalid(f"Unknown instrument {instrument_id!r} version {version!r}.", [{"field": "instrument"}])
    if language not in REQUIRED_LANGUAGES:
        raise Invalid(f"Unsupported language {language!r}.", [{"field": "language"}])
    previous = session.scalar(
        select(Assessment)
        .where(Assessment.institution_id == user.institution_id, Assessment.instrument_id == rubric.id)
        .order_by(Assessment.round_number.desc(), Assessment.id.desc())
        .limit(1)
    )
    assessment = Assessment(
        institution_id=user.institution_id,
        instrument_id=rubric.id,
        instrument_version=rubric.version,
        instrument_hash=rubric.hash,
        language=language,
        status=DRAFT,
        round_number=(previous.round_number + 1) if previous else 1,
        previous_id=previous.id if previous else None,
        created_by_id=user.id,
    )
    session.add(assessment)
    if from_previous and previous is not None:
        for old in previous.answers:
            if not rubric.has_criterion(old.criterion_id):
                continue
            new = validate_answer(rubric, CriterionAnswer(old.criterion_id, old.level, old.not_applicable, old.na_reason, None, old.evidence))
            assessment.answers.append(_answer_row(new))
    session.commit()
    return assessment


def _answer_row(answer: CriterionAnswer) -> Answer:
    return Answer(criterion_id=answer.criterion_id, level=answer.level, not_applicable=answer.not_applicable,
                  na_reason=answer.na_reason, target=answer.target, evidence=answer.evidence)


def answer_map(assessment: Assessment, *, validated: bool = False) -> dict[str, CriterionAnswer]:
    """The stored answers as domain answers keyed by criterion id (validated levels if asked)."""
    result = {}
    for row in assessment.answers:
        if validated:
            if row.validated_level is not None:
                result[row.criterion_id] = CriterionAnswer(row.criterion_id, row.validated_level, False, "", row.target, row.evidence or "")
            elif row.not_applicable:
                result[row.criterion_id] = CriterionAnswer(row.criterion_id, None, True, row.na_reason or "", None, row.evidence or "")
            continue
        result[row.criterion_id] = CriterionAnswer(row.criterion_id, row.level, row.not_applicable, row.na_reason or "",
                                                   row.target, row.evidence or "")
    return result


def scores_record(scores: RubricScores) -> dict:
    """Scores as stored on the assessment (decimal strings, exact) for fast comparison queries."""
    record = {dim_id: (str(r.score) if r.score is not None else None) for dim_id, r in scores.dimensions.items()}
    record["index"] = str(scores.index) if scores.index is not None else None
    return record


def parse_answer(raw: dict) -> CriterionAnswer:
    """A domain answer from JSON-like input; raises :class:`AnswerError` on wrong types."""
    cid = raw.get("criterion")
    if not isinstance(cid, str) or not cid:
        raise AnswerError(str(cid), "criterion", "each answer needs a criterion id")

    def as_level(name: str) -> int | None:
        value = raw.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
            raise AnswerError(cid, name, f"{name} must be a whole number between 1 and 5")
        return int(value)

    na = raw.get("not_applicable", False)
    if not isinstance(na, bool):
        raise AnswerError(cid, "not_applicable", "not_applicable must be true or false")
    texts = {}
    for name in ("na_reason", "evidence"):
        value = raw.get(name) or ""
        if not isinstance(value, str):
            raise AnswerError(cid, name, f"{name} must be text")
        if len(value) > 5000:
            raise AnswerError(cid, name, f"{name} is longer than 5000 characters")
        texts[name] = value
    return CriterionAnswer(cid, as_level("level"), na, texts["na_reason"], as_level("target"), texts["evidence"])


def save_answers(session: Session, registry: Registry, user: User, assessment: Assessment,
                 answers: Iterable[CriterionAnswer]) -> Assessment:
    """Upsert the given answers (others keep theirs); all or nothing.

    Every answer is validated before anything is written; the problems are raised together as
    :class:`Invalid` with one detail per problem.  Level changes go to the audit log.
    """
    if assessment.status != DRAFT:
        raise Conflict(N_("This assessment has been submitted; its answers are locked."))
    rubric = rubric_for(registry, assessment)
    valid: dict[str, CriterionAnswer] = {}
    problems = []
    for answer in answers:
        try:
            valid[answer.criterion_id] = validate_answer(rubric, answer)
        except AnswerError as exc:
            problems.append({"criterion": exc.criterion_id, "field": exc.field, "message": str(exc)})
    if problems:
        raise Invalid(N_("Some answers are not valid; nothing was saved."), problems)
    rows = {row.criterion_id: row for row in assessment.answers}
    for cid, new in valid.items():
        row = rows.get(cid)
        if row is None:
            row = _answer_row(new)
            assessment.answers.append(row)
            _audit_level(session, user, assessment, cid, None, new)
            continue
        _audit_level(session, user, assessment, cid, row, new)
        if (row.level, row.not_applicable) != (new.level, new.not_applicable):
            row.validated_level = None  # a new self-assessed level needs a new review (the comment stays)
        row.level, row.not_applicable, row.na_reason = new.level, new.not_applicable, new.na_reason
        row.target, row.evidence = new.target, new.evidence
    assessment.updated_at = utcnow()
    session.commit()
    return assessment


def _level_text(level: int | None, na: bool) -> str | None:
    return "n/a" if na else (str(level) if level is not None else None)


def _audit_level(session: Session, user: User, assessment: Assessment, cid: str, row: Answer | None, new: CriterionAnswer) -> None:
    old = _level_text(row.level, row.not_applicable) if row is not None else None
    value = _level_text(new.level, new.not_applicable)
    if old != value:
        session.add(AuditEntry(user_id=user.id, assessment_id=assessment.id, criterion_id=cid, field="level",
                               old=old, new=value, comment=new.na_reason if new.not_applicable else ""))


def submit(session: Session, registry: Registry, user: User, assessment: Assessment) -> Assessment:
    """Lock the answers; refused while any criterion is unanswered."""
    if assessment.status != DRAFT:
        raise Conflict(N_("This assessment has already been submitted."))
    rubric = rubric_for(registry, assessment)
    missing = missing_criteria(rubric, answer_map(assessment))
    if missing:
        raise Invalid(f"{len(missing)} criteria have no answer yet.", [{"criterion": cid, "message": "no answer"} for cid in missing])
    assessment.status = SUBMITTED
    assessment.submitted_at = utcnow()
    assessment.self_scores = scores_record(score_rubric(rubric, answer_map(assessment)))
    assessment.events.append(ReviewEvent(user_id=user.id, action="submitted"))
    session.add(AuditEntry(user_id=user.id, assessment_id=assessment.id, field="status", old=DRAFT, new=SUBMITTED))
    session.commit()
    return assessment


def scores(registry: Registry, assessment: Assessment, *, validated: bool = False) -> RubricScores:
    return score_rubric(rubric_for(registry, assessment), answer_map(assessment, validated=validated))


def plan(registry: Registry, assessment: Assessment) -> list[PlanItem]:
    return improvement_plan(rubric_for(registry, assessment), answer_map(assessment))


def plan_edits(assessment: Assessment) -> dict[str, PlanEdit]:
    return {edit.criterion_id: edit for edit in assessment.plan_items}


def update_plan_item(session: Session, registry: Registry, assessment: Assessment, criterion_id: str, *,
                     responsible: str = "", due_date: date | None = None, status: str = "todo", note: str = "") -> PlanEdit:
    """Record who does what by when on one plan item (the item must be in the plan)."""
    if criterion_id not in {item.criterion_id for item in plan(registry, assessment)}:
        raise NotFound(N_("This criterion has no item in the improvement plan."))
    if status not in PLAN_STATUSES:
        raise Invalid(f"Unknown status {status!r}.", [{"field": "status"}])
    if len(responsible) > 200 or len(note) > 5000:
        raise Invalid("Text too long.", [{"field": "note"}])
    edit = plan_edits(assessment).get(criterion_id)
    if edit is None:
        edit = PlanEdit(assessment_id=assessment.id, criterion_id=criterion_id)
        assessment.plan_items.append(edit)
    edit.responsible, edit.due_date, edit.status, edit.note = responsible.strip(), due_date, status, note.strip()
    session.commit()
    return edit


def count_assessments(session: Session) -> int:
    return session.scalar(select(func.count(Assessment.id))) or 0


def previous_scores(session: Session, registry: Registry, assessment: Assessment) -> tuple[Assessment, dict[str, Decimal | None]] | None:
    """The institution's previous submitted round on the same instrument version and its stored scores."""
    if assessment.previous_id is None:
        return None
    previous = session.get(Assessment, assessment.previous_id)
    if previous is None or previous.institution_id != assessment.institution_id or previous.status == DRAFT \
            or previous.instrument_version != assessment.instrument_version:
        return None
    stored = previous.self_scores or scores_record(scores(registry, previous))
    return previous, {k: Decimal(v) if v is not None else None for k, v in stored.items()}
