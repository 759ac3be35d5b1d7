"""Self-assessments: start, answer, submit, score, plan.  Every lookup is scoped to the user."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Iterable, Mapping, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from ..domain.instruments import LEVELS, REQUIRED_LANGUAGES, Registry, Rubric
from ..domain.merging import ANSWER_FIELDS, answer_fields, answer_from_fields, fingerprints, merge_fields
from ..domain.planning import PlanItem, improvement_plan
from ..domain.scoring import AnswerError, CriterionAnswer, RubricScores, missing_criteria, score_rubric, validate_answer
from ..models import (DRAFT, PLAN_STATUSES, SUBMITTED, VALIDATED, Answer, Assessment, AuditEntry, Institution, PlanEdit, ReviewEvent, User,
                      utcnow)
from . import N_, Conflict, Forbidden, Invalid, NotFound, PreconditionFailed, PreconditionRequired, commit_or_conflict
from . import stamps
from .score_rows import write_score_rows

#: the most answers one request may carry (a rubric has far fewer criteria)
MAX_ANSWERS_PER_REQUEST = 500

#: roles that may read any submitted assessment
READER_ROLES = ("reviewer", "admin")


def rubric_for(registry: Registry, assessment: Assessment) -> Rubric:
    """The definition an assessment was answered on."""
    rubric = registry.get(assessment.instrument_id, assessment.instrument_version)
    if rubric is None:
        raise NotFound(f"Instrument {assessment.instrument_id} version {assessment.instrument_version} is not available.")
    return rubric


def _visible(user: User):
    """The WHERE clause of what the user may see, or None for nothing."""
    if user.role == "member":
        return Assessment.institution_id == user.institution_id
    if user.role in READER_ROLES:
        return Assessment.status.in_((SUBMITTED, VALIDATED))
    return None


def visible_assessments(session: Session, user: User, *, limit: int | None = None, offset: int = 0) -> list[Assessment]:
    """The assessments the user may see, newest first: own institution's for members; submitted ones
    for readers. ``limit``/``offset`` give one page of them."""
    where = _visible(user)
    if where is None:
        return []
    query = (select(Assessment).options(selectinload(Assessment.institution)).where(where)
             .order_by(Assessment.created_at.desc(), Assessment.id.desc()).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def count_visible_assessments(session: Session, user: User) -> int:
    where = _visible(user)
    return 0 if where is None else session.scalar(select(func.count(Assessment.id)).where(where)) or 0


def get_assessment(session: Session, user: User, assessment_id: int, *, edit: bool = False, with_plan: bool = True) -> Assessment:
    """One assessment the user may see (or edit); anything else is "not found".

    Its answers and events come with it (one statement each); its plan items too unless ``with_plan`` is false (a page
    that does not show the plan saves that statement; the items still load on first use).
    """
    eager = [selectinload(Assessment.answers), selectinload(Assessment.events)]
    if with_plan:
        eager.append(selectinload(Assessment.plan_items))
    assessment = session.scalar(select(Assessment).options(*eager).where(Assessment.id == assessment_id))
    _check_access(user, assessment.status if assessment else None, assessment.institution_id if assessment else None, edit)
    return assessment


def _check_access(user: User, status: str | None, institution_id: int | None, edit: bool) -> None:
    """Who may see (or edit) an assessment: its own institution's members; readers once it is submitted.
    ``status`` None means there is no such assessment."""
    own = status is not None and user.role == "member" and institution_id == user.institution_id
    reader = status is not None and user.role in READER_ROLES and status in (SUBMITTED, VALIDATED)
    if not (own or (reader and not edit)):
        raise NotFound(N_("Assessment not found."))
    if edit and status != DRAFT:
        raise Conflict(N_("This assessment has been submitted; its answers are locked."))


class Stamp(NamedTuple):
    """What identifies one state of an assessment as pages and the API show it: any change to the
    assessment bumps ``version``; a change to its institution bumps ``institution_version``."""

    id: int
    version: int
    status: str
    institution_id: int
    institution_version: int


def assessment_stamp(session: Session, user: User, assessment_id: int, *, with_data: bool = False) -> Stamp | tuple[Stamp, tuple]:
    """The stamp of one assessment the user may see (one small query; the same rule as
    :func:`get_assessment`, which a page calls only when it has to draw anew).  With ``with_data``:
    (stamp, data stamp), the data stamp changing whenever an assessment or institution is added or
    an assessment changes, read in the same statement."""
    row = stamps.assessment_row(session, assessment_id, with_data=with_data)
    _check_access(user, row[2] if row else None, row[3] if row else None, False)
    stamp = Stamp(*row[:5])
    return (stamp, tuple(row[5:])) if with_data else stamp


class DraftInProgress(Conflict):
    """The institution already has a self-assessment in progress: the person continues that one."""

    def __init__(self, draft_id: int):
        super().__init__(N_("Your institution already has a self-assessment in progress: continue it here, or discard it to start "
                            "a new one."), [{"field": "status", "assessment": draft_id}])
        #: the draft to continue
        self.draft_id = draft_id


def draft_in_progress(session: Session, user: User) -> Assessment | None:
    """The member's institution's self-assessment in progress (its newest draft, returned ones included), if any."""
    if user.role != "member" or user.institution_id is None:
        return None
    return session.scalar(select(Assessment).where(Assessment.institution_id == user.institution_id, Assessment.status == DRAFT)
                          .order_by(Assessment.created_at.desc(), Assessment.id.desc()).limit(1))


def start_assessment(session: Session, registry: Registry, user: User, *, instrument_id: str, version: str | None = None,
                     language: str = "es", from_previous: bool = False, one_draft: bool = False) -> Assessment:
    """A new draft for the user's institution, pinned to the instrument version and its hash.

    With ``from_previous`` the answers of the institution's latest assessment on the same
    instrument are copied in (levels, reasons, evidence, and the targets people chose; a target
    nobody chose keeps following the level).

    With ``one_draft`` (the pages) a second draft is refused with :class:`DraftInProgress`, which
    names the draft to continue; the check holds the institution's row lock (PostgreSQL) or the
    database's write lock (SQLite), so two starts at once cannot both create one.
    """
    if user.role != "member" or user.institution_id is None:
        raise Forbidden(N_("Only institution members can start a self-assessment."))
    rubric = registry.get(instrument_id, version) if version else registry.latest(instrument_id)
    if not isinstance(rubric, Rubric):
        raise Invalid(f"Unknown instrument {instrument_id!r} version {version!r}.", [{"field": "instrument"}])
    if language not in REQUIRED_LANGUAGES:
        raise Invalid(f"Unsupported language {language!r}.", [{"field": "language"}])
    if one_draft:
        session.execute(update(Institution).where(Institution.id == user.institution_id).values(version=Institution.version)
                        .execution_options(synchronize_session=False))
        draft = draft_in_progress(session, user)
        if draft is not None:
            draft_id = draft.id
            session.rollback()
            raise DraftInProgress(draft_id)
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
            try:
                new = _copied_answer(rubric, old)
            except AnswerError:
                # an answer the new version refuses (e.g. "not applicable" where the criterion now always
                # applies): the evidence is carried over, the level is left for the institution to choose
                new = CriterionAnswer(old.criterion_id, None, False, "", None, old.evidence or "")
            assessment.answers.append(_answer_row(new))
    session.commit()
    return assessment


def _copied_answer(rubric: Rubric, old: Answer) -> CriterionAnswer:
    """A previous round's answer as the new round starts it: the chosen target is kept where the
    new definition still allows it, else the target follows the level again."""
    answer = CriterionAnswer(old.criterion_id, old.level, old.not_applicable, old.na_reason or "", old.target, old.evidence or "")
    try:
        return validate_answer(rubric, answer)
    except AnswerError as exc:
        if exc.field != "target":
            raise
    return validate_answer(rubric, CriterionAnswer(old.criterion_id, old.level, old.not_applicable, old.na_reason or "", None,
                                                   old.evidence or ""))


def discard_draft(session: Session, user: User, assessment_id: int, *, expected_version: int | None) -> None:
    """Delete a draft of the user's institution with its answers, plan items and review history.

    The status (a draft), the institution and ``expected_version`` (the version the person's
    confirmation page showed) are re-checked under the assessment's lock, in the transaction the
    delete commits in: a draft submitted or changed meanwhile is not deleted (:class:`Conflict`,
    :class:`PreconditionFailed`).  The audit entries about the draft are kept, detached and named
    by their subject, and one more records the discard.  A later round that followed on from the
    draft follows on from the draft's own predecessor.
    """
    if user.role != "member" or user.institution_id is None:
        raise Forbidden(N_("Only institution members can discard a draft."))
    assessment = lock_assessment(session, assessment_id, statuses=(DRAFT,), expected_version=expected_version,
                                 institution_id=user.institution_id)
    subject = f"assessment:{assessment.id} institution:{assessment.institution_id}"
    session.execute(update(AuditEntry).where(AuditEntry.assessment_id == assessment.id)
                    .values(assessment_id=None, subject=subject).execution_options(synchronize_session=False))
    session.execute(update(Assessment).where(Assessment.previous_id == assessment.id)
                    .values(previous_id=assessment.previous_id).execution_options(synchronize_session=False))
    answered = sum(1 for row in assessment.answers if row.level is not None or row.not_applicable)
    session.add(AuditEntry(user_id=user.id, subject=subject, field="status", old=DRAFT, new="discarded",
                           comment=f"round={assessment.round_number} answers={answered} plan_items={len(assessment.plan_items)}"))
    session.delete(assessment)
    commit_or_conflict(session)


def return_note(assessment: Assessment) -> ReviewEvent | None:
    """The reviewer's return (comment, date) of a draft that is back with the institution for changes.

    Derived from the review history: a draft is "returned" while the newest step of its history is
    a return; once it is submitted again the return stays in the history but no longer applies.
    """
    if assessment.status != DRAFT or not assessment.events:
        return None
    latest = max(assessment.events, key=lambda event: event.id)
    return latest if latest.action == "returned" else None


def return_notes(session: Session, assessments: Iterable[Assessment]) -> dict[int, ReviewEvent]:
    """:func:`return_note` for many assessments in one query: assessment id -> the return, for returned drafts only."""
    ids = [a.id for a in assessments if a.status == DRAFT]
    if not ids:
        return {}
    latest: dict[int, ReviewEvent] = {}
    for event in session.scalars(select(ReviewEvent).where(ReviewEvent.assessment_id.in_(ids)).order_by(ReviewEvent.id)):
        latest[event.assessment_id] = event
    return {aid: event for aid, event in latest.items() if event.action == "returned"}


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


def parse_answer(raw: dict) -> "AnswerChange":
    """One answer of an API request as a partial change: only the fields present are changed.

    ``level`` (1..5 or null), ``not_applicable`` (true/false), ``na_reason``, ``evidence`` (text,
    at most 5,000 characters), ``target`` (1..5, or null for the default that follows the level)
    and ``version`` (the answer's version the client read; 0 for a criterion not answered yet).
    Raises :class:`AnswerError` on wrong types.
    """
    cid = raw.get("criterion")
    if not isinstance(cid, str) or not cid or len(cid) > 64:
        raise AnswerError(str(cid)[:64], "criterion", "each answer needs a criterion id")
    unknown = sorted(set(raw) - {"criterion", "level", "not_applicable", "na_reason", "evidence", "target", "version"})
    if unknown:
        raise AnswerError(cid, unknown[0], f"unknown field {unknown[0]!r}")

    def as_level(name: str) -> int | None:
        value = raw.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value not in LEVELS:
            raise AnswerError(cid, name, f"{name} must be a whole number between 1 and 5, or null")
        return value

    values: dict[str, Any] = {}
    na = raw.get("not_applicable")
    if na is not None and not isinstance(na, bool):
        raise AnswerError(cid, "not_applicable", "not_applicable must be true or false")
    if na is True:
        values["choice"] = "na"
    elif "level" in raw:
        values["choice"] = as_level("level")
    elif na is False:
        values["choice"] = _NOT_NA
    if "target" in raw:
        values["target"] = as_level("target")
    for name in ("na_reason", "evidence"):
        if name not in raw:
            continue
        value = raw.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise AnswerError(cid, name, f"{name} must be text")
        if len(value) > 5000:
            raise AnswerError(cid, name, f"{name} is longer than 5000 characters")
        values[name] = value
    version = raw.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**31):
        raise AnswerError(cid, "version", "version must be the answer's version as read (0 for a new answer)")
    return AnswerChange(cid, values, seen_version=version)


#: "not applicable: false" without a level: clears a not-applicable answer, keeps a level
_NOT_NA = object()


@dataclass(frozen=True)
class AnswerChange:
    """What one writer sends for one criterion: only the fields in ``values`` (a subset of
    ``choice``, ``na_reason``, ``evidence``, ``target``) are changed."""

    criterion_id: str
    values: Mapping[str, Any]
    #: the answer's version the writer read (0: not answered then); None when it names none
    seen_version: int | None = None
    #: fingerprints of the values the writer started from (pages send them): fields merge three-way
    base: Mapping[str, str] | None = None


@dataclass
class SaveResult:
    """What a write of answers did: the criteria saved, the answers refused, the conflicts."""

    assessment: Assessment
    saved: list[str] = field(default_factory=list)
    #: {"criterion", "field", "message"} per refused answer
    problems: list[dict] = field(default_factory=list)
    #: {"criterion", "field", "mine", "theirs"} per field both writers changed
    conflicts: list[dict] = field(default_factory=list)


def stored_fields(row: Answer | None) -> dict[str, Any]:
    """A stored answer as the fields a person edits (target None: the default)."""
    if row is None:
        return answer_fields(None)
    return answer_fields(CriterionAnswer(row.criterion_id, row.level, row.not_applicable, row.na_reason or "", row.target,
                                         row.evidence or ""))


def answer_state(row: Answer | None) -> dict[str, Any]:
    """What a page needs to write a criterion safely: the version, the base fingerprints, the values."""
    values = stored_fields(row)
    return {"version": row.version if row is not None else 0, "base": fingerprints(values, ANSWER_FIELDS), "values": values}


def lock_assessment(session: Session, assessment_id: int, *, statuses: tuple[str, ...], expected_version: int | None = None,
                    institution_id: int | None = None) -> Assessment:
    """The first statement of every write to an assessment: take its row lock (PostgreSQL) or the
    database's write lock (SQLite) while re-checking its status, and the version the writer saw,
    where the write commits.  Returns the assessment freshly loaded under the lock.

    Raises :class:`Conflict` when the status no longer allows the write (submitted, validated,
    returned meanwhile) and :class:`PreconditionFailed` when the version moved on.
    """
    stmt = update(Assessment).where(Assessment.id == assessment_id, Assessment.status.in_(statuses))
    if expected_version is not None:
        stmt = stmt.where(Assessment.version == expected_version)
    if institution_id is not None:
        stmt = stmt.where(Assessment.institution_id == institution_id)
    result = session.execute(stmt.values(version=Assessment.version).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        current = session.execute(select(Assessment.status, Assessment.version, Assessment.institution_id)
                                  .where(Assessment.id == assessment_id)).one_or_none()
        session.rollback()
        if current is None or (institution_id is not None and current.institution_id != institution_id):
            raise NotFound(N_("Assessment not found."))
        if current.status not in statuses:
            raise Conflict(_STATUS_MESSAGES.get(current.status, N_("This assessment can no longer be changed this way.")),
                           [{"field": "status", "status": current.status, "version": current.version}])
        raise PreconditionFailed(N_("Someone else changed this assessment after you opened it. Reload to see their changes, then try again."),
                                 [{"field": "version", "seen": expected_version, "current": current.version}])
    session.expire_all()
    return session.scalar(
        select(Assessment).options(selectinload(Assessment.answers), selectinload(Assessment.plan_items), selectinload(Assessment.events))
        .where(Assessment.id == assessment_id).execution_options(populate_existing=True)
    )


_STATUS_MESSAGES = {
    SUBMITTED: N_("This assessment has been submitted; its answers are locked."),
    VALIDATED: N_("This assessment has been validated; it can no longer change."),
    DRAFT: N_("This assessment was returned to the institution as a draft; it is no longer under review."),
}


def bump_version(session: Session, assessment: Assessment) -> None:
    """Mark a change of the assessment (its version is the API's ETag)."""
    session.execute(update(Assessment).where(Assessment.id == assessment.id)
                    .values(version=Assessment.version + 1, updated_at=utcnow()).execution_options(synchronize_session=False))


def write_answers(session: Session, registry: Registry, user: User, assessment_id: int, changes: list[AnswerChange], *,
                  expected_version: int | None = None, all_or_nothing: bool = False,
                  require_precondition: bool = False, dry_run: bool = False) -> SaveResult:
    """Write partial answers to a draft, in one transaction, without losing anybody's write.

    Only the fields each change names are written; the others keep their stored values.  A change
    with ``base`` fingerprints is merged field by field with what others stored since; one with
    ``seen_version`` must name the answer's current version; ``expected_version`` is the whole
    assessment's (the API's If-Match).  With ``require_precondition`` an existing answer written
    without any of these is refused (:class:`PreconditionRequired`).

    ``all_or_nothing`` (the API): any invalid answer raises :class:`Invalid`, any stale one
    :class:`PreconditionFailed`, and nothing is written.  Otherwise (pages) the valid answers are
    saved and the others are returned as problems and conflicts.  A duplicate criterion in one
    request is refused.  ``dry_run`` checks everything and writes nothing (the problems come back
    in the result).
    """
    if user.role != "member" or user.institution_id is None:
        raise Forbidden(N_("Only institution members can answer a self-assessment."))
    if len(changes) > MAX_ANSWERS_PER_REQUEST:
        raise Invalid(f"At most {MAX_ANSWERS_PER_REQUEST} answers per request.", [{"field": "answers"}])
    seen: set[str] = set()
    duplicates = [c.criterion_id for c in changes if c.criterion_id in seen or seen.add(c.criterion_id)]
    if duplicates:
        raise Invalid("The same criterion appears more than once in the request: " + ", ".join(sorted(set(duplicates))) + ".",
                      [{"criterion": cid, "field": "criterion", "message": "duplicate criterion"} for cid in sorted(set(duplicates))])
    assessment = lock_assessment(session, assessment_id, statuses=(DRAFT,), expected_version=expected_version,
                                 institution_id=user.institution_id)
    rubric = rubric_for(registry, assessment)
    rows = {row.criterion_id: row for row in assessment.answers}
    result = SaveResult(assessment)
    unguarded: list[str] = []
    stale: list[dict] = []
    pending: list[tuple[str, Answer | None, CriterionAnswer]] = []
    for change in changes:
        cid = change.criterion_id
        if not rubric.has_criterion(cid):
            result.problems.append({"criterion": cid, "field": "criterion", "message": "unknown criterion"})
            continue
        row = rows.get(cid)
        stored = stored_fields(row)
        values = dict(change.values)
        if values.get("choice") is _NOT_NA:
            if stored["choice"] == "na":
                values["choice"] = None
            else:
                del values["choice"]
        if change.base is None and change.seen_version is not None:
            if change.seen_version != (row.version if row is not None else 0):
                stale.append({"criterion": cid, "field": "version", "seen": change.seen_version,
                              "current": row.version if row is not None else 0, "stored": _answer_json(stored)})
                continue
        elif change.base is None and expected_version is None and require_precondition and row is not None:
            unguarded.append(cid)
            continue
        updates, conflicts = merge_fields(stored, values, change.base)
        if conflicts:
            result.conflicts.extend({"criterion": cid, "field": c.field, "mine": c.mine, "theirs": c.theirs} for c in conflicts)
            continue
        if not updates:
            continue
        try:
            new = validate_answer(rubric, answer_from_fields(cid, {**stored, **updates}))
        except AnswerError as exc:
            result.problems.append({"criterion": cid, "field": exc.field, "message": str(exc)})
            continue
        pending.append((cid, row, new))
    if dry_run:
        session.rollback()
        return result
    if all_or_nothing and (unguarded or stale or result.problems or result.conflicts):
        session.rollback()
        if unguarded:
            raise PreconditionRequired("These answers exist already: send If-Match with the assessment's ETag, or each answer's "
                                       "\"version\" as read.", [{"criterion": cid, "field": "version"} for cid in unguarded])
        if stale:
            raise PreconditionFailed("Some answers changed since you read them; nothing was saved. Read them again and resend.", stale)
        raise Invalid(N_("Some answers are not valid; nothing was saved."), result.problems)
    for cid, row, new in pending:
        _audit_level(session, user, assessment, cid, row, new)
        if row is None:
            row = _answer_row(new)
            row.version = 1
            assessment.answers.append(row)
            rows[cid] = row
        else:
            if (row.level, row.not_applicable) != (new.level, new.not_applicable):
                row.validated_level = None  # a new self-assessed level needs a new review (the comment stays)
            row.level, row.not_applicable, row.na_reason = new.level, new.not_applicable, new.na_reason
            row.target, row.evidence = new.target, new.evidence
            row.version = row.version + 1
        result.saved.append(cid)
    if result.saved:
        bump_version(session, assessment)
    commit_or_conflict(session)
    if result.saved:
        session.refresh(assessment)
    return result


def _answer_json(values: Mapping[str, Any]) -> dict:
    choice = values.get("choice")
    return {"level": choice if isinstance(choice, int) else None, "not_applicable": choice == "na",
            "na_reason": values.get("na_reason") or "", "evidence": values.get("evidence") or "", "target": values.get("target")}


def save_answers(session: Session, registry: Registry, user: User, assessment: Assessment,
                 answers: Iterable[CriterionAnswer]) -> Assessment:
    """Write whole answers (every field), all or nothing: for seeding and scripts that own the draft.

    Level changes go to the audit log; the problems are raised together as :class:`Invalid`.
    """
    changes = [AnswerChange(a.criterion_id, answer_fields(a)) for a in answers]
    return write_answers(session, registry, user, assessment.id, changes, all_or_nothing=True).assessment


def _level_text(level: int | None, na: bool) -> str | None:
    return "n/a" if na else (str(level) if level is not None else None)


def _audit_level(session: Session, user: User, assessment: Assessment, cid: str, row: Answer | None, new: CriterionAnswer) -> None:
    old = _level_text(row.level, row.not_applicable) if row is not None else None
    value = _level_text(new.level, new.not_applicable)
    if old != value:
        session.add(AuditEntry(user_id=user.id, assessment_id=assessment.id, criterion_id=cid, field="level",
                               old=old, new=value, comment=new.na_reason if new.not_applicable else ""))


def submit(session: Session, registry: Registry, user: User, assessment: Assessment | int, *,
           expected_version: int | None = None) -> Assessment:
    """Lock the answers; refused while any criterion is unanswered.

    The status (and ``expected_version``, the version the person reviewed) is re-checked under the
    lock, and the scores are computed from exactly the answers that lock holds.
    """
    if user.role != "member" or user.institution_id is None:
        raise Forbidden(N_("Only institution members can submit a self-assessment."))
    assessment_id = assessment if isinstance(assessment, int) else assessment.id
    assessment = lock_assessment(session, assessment_id, statuses=(DRAFT,), expected_version=expected_version,
                                 institution_id=user.institution_id)
    rubric = rubric_for(registry, assessment)
    answers = answer_map(assessment)
    missing = missing_criteria(rubric, answers)
    if missing:
        session.rollback()
        raise Invalid(f"{len(missing)} criteria have no answer yet.", [{"criterion": cid, "message": "no answer"} for cid in missing])
    assessment.status = SUBMITTED
    assessment.submitted_at = utcnow()
    assessment.self_scores = scores_record(score_rubric(rubric, answers))
    write_score_rows(session, [assessment])
    assessment.events.append(ReviewEvent(user_id=user.id, action="submitted"))
    session.add(AuditEntry(user_id=user.id, assessment_id=assessment.id, field="status", old=DRAFT, new=SUBMITTED))
    session.flush()
    bump_version(session, assessment)
    commit_or_conflict(session)
    session.refresh(assessment)
    return assessment


def scores(registry: Registry, assessment: Assessment, *, validated: bool = False) -> RubricScores:
    return score_rubric(rubric_for(registry, assessment), answer_map(assessment, validated=validated))


def plan(registry: Registry, assessment: Assessment) -> list[PlanItem]:
    return improvement_plan(rubric_for(registry, assessment), answer_map(assessment))


def plan_edits(assessment: Assessment) -> dict[str, PlanEdit]:
    return {edit.criterion_id: edit for edit in assessment.plan_items}


PLAN_FIELDS = ("responsible", "due_date", "status", "note")

#: the message for a due date outside :func:`due_date_bounds`
DUE_DATE_MESSAGE = N_("Choose a due date from one year ago up to ten years from today.")


def _years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def due_date_bounds(today: date | None = None) -> tuple[date, date]:
    """The earliest and latest due date a plan item may be given: one year back (an item already
    late can still be recorded) up to ten years ahead of ``today`` (UTC date by default)."""
    today = today or utcnow().date()
    return _years_later(today, -1), _years_later(today, 10)


def plan_values(edit: PlanEdit | None) -> dict[str, Any]:
    """A plan item's editable fields (an item nobody edited yet is empty and "todo")."""
    if edit is None:
        return {"responsible": "", "due_date": None, "status": "todo", "note": ""}
    return {"responsible": edit.responsible, "due_date": edit.due_date, "status": edit.status, "note": edit.note}


def update_plan_item(session: Session, registry: Registry, user: User, assessment_id: int, criterion_id: str, *,
                     responsible: str = "", due_date: date | None = None, status: str = "todo", note: str = "",
                     seen_version: int | None = None) -> PlanEdit:
    """Record who does what by when on one plan item (the item must be in the plan when it commits).

    ``seen_version`` is the item's version the person read (0: nobody had edited it).  A stale
    version raises :class:`PreconditionFailed` with the stored values, so the person sees both and
    decides; ``None`` (scripts) skips the check.

    A due date outside :func:`due_date_bounds` is refused (:class:`Invalid` on the field
    ``due_date``) unless it is the one the item already has, so an old item stays editable.
    """
    if user.role != "member" or user.institution_id is None:
        raise Forbidden(N_("Only institution members can edit the improvement plan."))
    if status not in PLAN_STATUSES:
        raise Invalid(f"Unknown status {status!r}.", [{"field": "status"}])
    if len(responsible) > 200 or len(note) > 5000:
        raise Invalid("Text too long.", [{"field": "note"}])
    assessment = lock_assessment(session, assessment_id, statuses=(DRAFT, SUBMITTED, VALIDATED), institution_id=user.institution_id)
    if criterion_id not in {item.criterion_id for item in plan(registry, assessment)}:
        session.rollback()
        raise NotFound(N_("This criterion has no item in the improvement plan."))
    edit = plan_edits(assessment).get(criterion_id)
    current = edit.version if edit is not None else 0
    if due_date is not None and due_date != (edit.due_date if edit is not None else None):
        earliest, latest = due_date_bounds()
        if not earliest <= due_date <= latest:
            session.rollback()
            raise Invalid(DUE_DATE_MESSAGE, [{"criterion": criterion_id, "field": "due_date", "min": earliest.isoformat(),
                                              "max": latest.isoformat()}])
    if seen_version is not None and seen_version != current:
        stored = plan_values(edit)
        session.rollback()
        raise PreconditionFailed(N_("Someone else changed this plan item after you opened the page. Their version and yours are "
                                    "shown below: keep one, or combine them, and save again."),
                                 [{"criterion": criterion_id, "field": "version", "seen": seen_version, "current": current,
                                   "stored": stored}])
    if edit is None:
        edit = PlanEdit(assessment_id=assessment.id, criterion_id=criterion_id)
        assessment.plan_items.append(edit)
    edit.responsible, edit.due_date, edit.status, edit.note = responsible.strip(), due_date, status, note.strip()
    session.flush()
    bump_version(session, assessment)
    commit_or_conflict(session)
    return edit


#: the fields of a plan item a person edits, in the order their fingerprints travel in the page
PLAN_FINGERPRINT_FIELDS = ("responsible", "due_date", "status", "note")


def plan_fingerprint(values: Mapping[str, Any]) -> str:
    """Fingerprints of a plan item's values as a page showed them (sent back to tell touched items from untouched)."""
    shown = {"responsible": (values.get("responsible") or "").strip(), "note": (values.get("note") or "").strip(),
             "status": values.get("status") or "todo",
             "due_date": values["due_date"].isoformat() if values.get("due_date") else None}
    return fingerprints(shown, PLAN_FINGERPRINT_FIELDS)


@dataclass(frozen=True)
class PlanChange:
    """One plan item as a page sent it: its values, the version it read and the fingerprint of what it showed."""

    criterion_id: str
    values: Mapping[str, Any]
    #: the item's version the page read (0: nobody had edited it)
    seen_version: int
    #: :func:`plan_fingerprint` of the values the page showed; None: treat the item as edited
    base: str | None = None


@dataclass
class PlanSaveResult:
    """What saving the plan did: items saved, items refused (field and message), items someone else changed meanwhile."""

    saved: list[str] = field(default_factory=list)
    #: criterion id -> {"field", "message", "min", "max"}
    problems: dict[str, dict] = field(default_factory=dict)
    #: criterion id -> {"current": version, "stored": values}
    conflicts: dict[str, dict] = field(default_factory=dict)


def update_plan(session: Session, registry: Registry, user: User, assessment_id: int, changes: list[PlanChange]) -> PlanSaveResult:
    """Save every plan item of a page in one transaction, each against its own version.

    An item the person did not touch (its values still match ``base``) is left alone, so an item
    someone else changed meanwhile is no conflict unless this person changed it too.  A touched
    item with a stale version is not written and comes back in ``conflicts`` with the stored
    values; an item with a due date out of bounds comes back in ``problems``.  The other items
    are saved.  A criterion without a plan item is :class:`NotFound` (nothing is saved).
    """
    if user.role != "member" or user.institution_id is None:
        raise Forbidden(N_("Only institution members can edit the improvement plan."))
    for change in changes:
        if change.values.get("status") not in PLAN_STATUSES:
            raise Invalid(f"Unknown status {change.values.get('status')!r}.", [{"criterion": change.criterion_id, "field": "status"}])
        if len(change.values.get("responsible") or "") > 200 or len(change.values.get("note") or "") > 5000:
            raise Invalid("Text too long.", [{"criterion": change.criterion_id, "field": "note"}])
    assessment = lock_assessment(session, assessment_id, statuses=(DRAFT, SUBMITTED, VALIDATED), institution_id=user.institution_id)
    in_plan = {item.criterion_id for item in plan(registry, assessment)}
    if any(change.criterion_id not in in_plan for change in changes):
        session.rollback()
        raise NotFound(N_("This criterion has no item in the improvement plan."))
    edits = plan_edits(assessment)
    earliest, latest = due_date_bounds()
    result = PlanSaveResult()
    for change in changes:
        cid, values = change.criterion_id, change.values
        edit = edits.get(cid)
        stored = plan_values(edit)
        mine = {"responsible": (values.get("responsible") or "").strip(), "due_date": values.get("due_date"),
                "status": values["status"], "note": (values.get("note") or "").strip()}
        if change.base is not None and plan_fingerprint(mine) == change.base:
            continue  # not touched on this page
        if plan_fingerprint(mine) == plan_fingerprint(stored):
            continue  # already so
        current = edit.version if edit is not None else 0
        due = mine["due_date"]
        if due is not None and due != stored["due_date"] and not earliest <= due <= latest:
            result.problems[cid] = {"field": "due_date", "message": DUE_DATE_MESSAGE, "min": earliest.isoformat(), "max": latest.isoformat()}
            continue
        if change.seen_version != current:
            result.conflicts[cid] = {"current": current, "stored": stored}
            continue
        if edit is None:
            edit = PlanEdit(assessment_id=assessment.id, criterion_id=cid)
            assessment.plan_items.append(edit)
        edit.responsible, edit.due_date, edit.status, edit.note = mine["responsible"], due, mine["status"], mine["note"]
        result.saved.append(cid)
    if not result.saved:
        session.rollback()
        return result
    session.flush()
    bump_version(session, assessment)
    commit_or_conflict(session)
    return result


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
