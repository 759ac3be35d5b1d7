"""Reviewers validate self-assessments: validated levels with comments, validate or return, audit log."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from ..domain.instruments import LEVELS, Registry
from ..domain.scoring import score_rubric
from ..models import DRAFT, SUBMITTED, VALIDATED, Assessment, AuditEntry, Institution, ReviewEvent, User, search_fold, utcnow
from . import N_, Forbidden, Invalid, NotFound, commit_or_conflict
from .assessments import answer_map, bump_version, lock_assessment, rubric_for, scores_record
from .score_rows import write_score_rows

REVIEWER_ROLES = ("reviewer", "admin")
#: who may read the audit log, each only the entries of their work (see :func:`audit_entries`)
AUDIT_ROLES = ("reviewer", "staff", "admin")
#: the subject prefix of selection-round entries (freezes, overrides and their rationale): staff and admins only
ROUND_SUBJECT = "round:"


def require_reviewer(user: User) -> None:
    if user is None or user.role not in REVIEWER_ROLES:
        raise Forbidden(N_("Only reviewers can do this."))


#: the queue's status filter: "returned" is a draft the reviewer sent back (its latest review event
#: is a return); without a filter the queue holds the reviewers' work: submitted and validated
RETURNED = "returned"
QUEUE_STATUSES = (SUBMITTED, VALIDATED, RETURNED)


def institutions_matching(session: Session, search: str | None) -> list[int] | None:
    """Ids of the institutions whose name contains ``search``, ignoring case and accents on every
    database ("cordoba" finds "Córdoba"); None when there is nothing to search for."""
    folded = search_fold(search).strip() if search else ""
    if not folded:
        return None
    words = folded.split()
    return [iid for iid, name in session.execute(select(Institution.id, Institution.name))
            if all(word in search_fold(name) for word in words)]


def _latest_returns(session: Session, ids: list[int]) -> dict[int, ReviewEvent]:
    latest: dict[int, ReviewEvent] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for event in session.scalars(select(ReviewEvent).where(ReviewEvent.assessment_id.in_(chunk)).order_by(ReviewEvent.id)):
            latest[event.assessment_id] = event
    return {aid: event for aid, event in latest.items() if event.action == "returned"}


@dataclass(frozen=True)
class QueueRow:
    assessment: Assessment
    #: the return, for a draft sent back to the institution (status "returned"); else None
    returned: ReviewEvent | None = None

    @property
    def status(self) -> str:
        return RETURNED if self.returned is not None else self.assessment.status


def review_queue(session: Session, user: User, *, country: str | None = None, status: str | None = None,
                 round_number: int | None = None, search: str | None = None) -> list[Assessment]:
    """Submitted (and validated) assessments, oldest submission first, filtered; ``status`` may
    also be "returned" (see :func:`review_queue_rows`)."""
    return [row.assessment for row in review_queue_rows(session, user, country=country, status=status,
                                                        round_number=round_number, search=search)]


def review_queue_rows(session: Session, user: User, *, country: str | None = None, status: str | None = None,
                      round_number: int | None = None, search: str | None = None, limit: int | None = None,
                      offset: int = 0) -> list[QueueRow]:
    """The review queue: submitted and validated assessments (status None), or only those of
    ``status`` ("submitted", "validated" or "returned": drafts sent back to the institution),
    filtered by country, round and institution name (``search``: case- and accent-insensitive);
    to review first, then by submission date (returned ones: newest return first). ``limit`` and
    ``offset`` give one page of it (:func:`count_review_queue` counts them all)."""
    query = _queue_query(session, user, country, status, round_number, search)
    if query is None:
        return []
    if status != RETURNED:
        query = query.order_by(Assessment.status, Assessment.submitted_at, Assessment.id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return [QueueRow(a) for a in session.scalars(query.options(selectinload(Assessment.institution)))]
    assessments = list(session.scalars(query.options(selectinload(Assessment.institution))))
    returns = _latest_returns(session, [a.id for a in assessments])
    rows = sorted((QueueRow(a, returns[a.id]) for a in assessments if a.id in returns),
                  key=lambda r: (r.returned.at, r.assessment.id), reverse=True)
    return rows[offset:] if limit is None else rows[offset:offset + limit]


def count_review_queue(session: Session, user: User, *, country: str | None = None, status: str | None = None,
                       round_number: int | None = None, search: str | None = None) -> int:
    """How many rows :func:`review_queue_rows` has with the same filters."""
    query = _queue_query(session, user, country, status, round_number, search)
    if query is None:
        return 0
    return session.scalar(select(func.count()).select_from(query.with_only_columns(Assessment.id).subquery())) or 0


def _queue_query(session: Session, user: User, country, status, round_number, search):
    """The queue's assessments (unordered), or None when the search matches no institution."""
    require_reviewer(user)
    if status == RETURNED:
        statuses: tuple[str, ...] = (DRAFT,)
    else:
        statuses = (status,) if status in (SUBMITTED, VALIDATED) else (SUBMITTED, VALIDATED)
    query = select(Assessment).join(Institution, Institution.id == Assessment.institution_id).where(Assessment.status.in_(statuses))
    if country:
        query = query.where(Institution.country == country.upper())
    if round_number:
        query = query.where(Assessment.round_number == round_number)
    matching = institutions_matching(session, search)
    if matching is not None:
        if not matching:
            return None
        query = query.where(Assessment.institution_id.in_(matching))
    if status == RETURNED:
        query = query.where(Assessment.id.in_(select(ReviewEvent.assessment_id).where(ReviewEvent.action == "returned")))
    return query


def get_for_review(session: Session, user: User, assessment_id: int) -> Assessment:
    require_reviewer(user)
    assessment = session.scalar(select(Assessment).options(selectinload(Assessment.answers), selectinload(Assessment.events))
                                .where(Assessment.id == assessment_id))
    if assessment is None or assessment.status not in (SUBMITTED, VALIDATED):
        raise NotFound(N_("Assessment not found."))
    return assessment


@dataclass(frozen=True)
class ReviewEntry:
    criterion_id: str
    #: validated level 1..5; None keeps "not applicable" (only for criteria answered not applicable)
    level: int | None
    comment: str = ""


def save_review(session: Session, registry: Registry, user: User, assessment: Assessment | int, entries: list[ReviewEntry], *,
                expected_version: int | None = None, then_validate: bool = False, validate_comment: str = "") -> Assessment:
    """Set validated levels (all or nothing), and validate in the same transaction when asked.

    A comment is required wherever the validated level differs from the self-assessed one; every
    change is written to the audit log.  The status and ``expected_version`` (the version the
    reviewer's page showed) are re-checked under the assessment's lock: of two reviewers deciding
    at once, one wins and the other gets :class:`PreconditionFailed` (or :class:`Conflict` once it
    is validated or returned).
    """
    require_reviewer(user)
    assessment_id = assessment if isinstance(assessment, int) else assessment.id
    assessment = lock_assessment(session, assessment_id, statuses=(SUBMITTED,), expected_version=expected_version)
    rubric = rubric_for(registry, assessment)
    rows = {row.criterion_id: row for row in assessment.answers}
    problems = []
    seen: set[str] = set()
    for entry in entries:
        row = rows.get(entry.criterion_id)
        if entry.criterion_id in seen:
            problems.append({"criterion": entry.criterion_id, "field": "criterion", "message": "duplicate criterion"})
            continue
        seen.add(entry.criterion_id)
        if row is None or not rubric.has_criterion(entry.criterion_id):
            problems.append({"criterion": entry.criterion_id, "field": "criterion", "message": "unknown criterion"})
            continue
        if entry.level is not None and entry.level not in LEVELS:
            problems.append({"criterion": entry.criterion_id, "field": "level", "message": "level must be between 1 and 5"})
            continue
        if entry.level is None and not row.not_applicable:
            problems.append({"criterion": entry.criterion_id, "field": "level", "message": "choose a validated level"})
            continue
        differs = entry.level != row.level
        if differs and not entry.comment.strip():
            problems.append({"criterion": entry.criterion_id, "field": "comment",
                             "message": "a comment is required where the validated level differs from the self-assessed one"})
        if len(entry.comment) > 5000:
            problems.append({"criterion": entry.criterion_id, "field": "comment", "message": "comment too long"})
    if problems:
        session.rollback()
        raise Invalid(N_("The review was not saved: check the criteria marked."), problems)
    changed = False
    for entry in entries:
        row = rows[entry.criterion_id]
        old = _level_text(row.validated_level)
        new = _level_text(entry.level)
        if old != new:
            session.add(AuditEntry(user_id=user.id, assessment_id=assessment.id, criterion_id=row.criterion_id,
                                   field="validated_level", old=old, new=new, comment=entry.comment.strip()))
        if (row.validated_level, row.review_comment) != (entry.level, entry.comment.strip()):
            row.validated_level = entry.level
            row.review_comment = entry.comment.strip()
            row.version += 1
            changed = True
    if then_validate:
        _validate_locked(session, registry, user, assessment, rubric, validate_comment)
        changed = True
    if changed:
        session.flush()
        bump_version(session, assessment)
    commit_or_conflict(session)
    session.refresh(assessment)
    return assessment


def _level_text(level: int | None) -> str | None:
    return str(level) if level is not None else None


def _validate_locked(session: Session, registry: Registry, user: User, assessment: Assessment, rubric, comment: str) -> None:
    missing = [row.criterion_id for row in assessment.answers if row.level is not None and row.validated_level is None]
    if missing:
        session.rollback()
        raise Invalid(N_("Some criteria have no validated level yet."), [{"criterion": c, "field": "level", "message": "no validated level"}
                                                                         for c in missing])
    if len(comment or "") > 5000:
        session.rollback()
        raise Invalid("The note is too long.", [{"field": "comment"}])
    assessment.validated_scores = scores_record(score_rubric(rubric, answer_map(assessment, validated=True)))
    pairs: dict[str, list[list[int]]] = {}
    for row in assessment.answers:
        if row.level is not None and row.validated_level is not None:
            pairs.setdefault(rubric.criterion(row.criterion_id).dimension_id, []).append([row.level, row.validated_level])
    assessment.level_pairs = pairs
    write_score_rows(session, [assessment])
    assessment.status, assessment.reviewed_by_id, assessment.reviewed_at = VALIDATED, user.id, utcnow()
    assessment.events.append(ReviewEvent(user_id=user.id, action="validated", comment=(comment or "").strip()))
    session.add(AuditEntry(user_id=user.id, assessment_id=assessment.id, field="status", old=SUBMITTED, new=VALIDATED, comment=comment or ""))


def validate(session: Session, registry: Registry, user: User, assessment: Assessment | int, comment: str = "", *,
             expected_version: int | None = None) -> Assessment:
    """Mark the assessment validated: every criterion answered with a level needs a validated level.

    Status and ``expected_version`` are re-checked under the lock; the validated scores come from
    the levels that lock holds.
    """
    require_reviewer(user)
    assessment_id = assessment if isinstance(assessment, int) else assessment.id
    assessment = lock_assessment(session, assessment_id, statuses=(SUBMITTED,), expected_version=expected_version)
    _validate_locked(session, registry, user, assessment, rubric_for(registry, assessment), comment)
    session.flush()
    bump_version(session, assessment)
    commit_or_conflict(session)
    session.refresh(assessment)
    return assessment


def return_to_institution(session: Session, user: User, assessment: Assessment | int, comment: str, *,
                          expected_version: int | None = None) -> Assessment:
    """Reopen the assessment as a draft with the reviewer's comments; its history is kept.

    Status and ``expected_version`` are re-checked under the lock, so a return never lands on an
    assessment another reviewer validated meanwhile.
    """
    require_reviewer(user)
    comment = (comment or "").strip()
    if not comment:
        raise Invalid(N_("Say what the institution should revise: a comment is required."), [{"field": "comment"}])
    if len(comment) > 5000:
        raise Invalid("The comment is too long.", [{"field": "comment"}])
    assessment_id = assessment if isinstance(assessment, int) else assessment.id
    assessment = lock_assessment(session, assessment_id, statuses=(SUBMITTED,), expected_version=expected_version)
    assessment.status = DRAFT
    assessment.validated_scores = None
    assessment.level_pairs = None
    write_score_rows(session, [assessment])
    assessment.events.append(ReviewEvent(user_id=user.id, action="returned", comment=comment))
    session.add(AuditEntry(user_id=user.id, assessment_id=assessment.id, field="status", old=SUBMITTED, new=DRAFT, comment=comment))
    session.flush()
    bump_version(session, assessment)
    commit_or_conflict(session)
    session.refresh(assessment)
    return assessment


def _require_audit(user: User) -> None:
    if user is None or user.role not in AUDIT_ROLES:
        raise Forbidden(N_("Only reviewers, project staff and administrators can read the audit log."))


def _scoped(query, user: User, rounds_only: bool = False):
    """The audit query limited to what ``user`` may read (see :func:`audit_entries`)."""
    if user.role == "reviewer":
        return query.where(AuditEntry.assessment_id.is_not(None))
    if user.role == "staff" or rounds_only:
        return query.where(AuditEntry.subject.startswith(ROUND_SUBJECT, autoescape=True))
    return query


def audit_entries(session: Session, user: User, *, assessment_id: int | None = None, since: datetime | None = None,
                  limit: int | None = 500, rounds_only: bool = False) -> list[tuple[AuditEntry, str | None, str | None]]:
    """Audit log rows (newest first) with the author's e-mail and the institution name, scoped by role:
    reviewers see the entries about assessments, staff the selection-round entries (``round:...``:
    freezes, overrides and their rationale), admins every entry; ``rounds_only`` keeps only the
    round entries. Anyone else gets :class:`Forbidden`."""
    _require_audit(user)
    query = (select(AuditEntry, User.email, Institution.name)
             .outerjoin(User, User.id == AuditEntry.user_id)
             .outerjoin(Assessment, Assessment.id == AuditEntry.assessment_id)
             .outerjoin(Institution, Institution.id == Assessment.institution_id)
             .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()))
    query = _scoped(query, user, rounds_only)
    if assessment_id:
        query = query.where(AuditEntry.assessment_id == assessment_id)
    if since:
        query = query.where(AuditEntry.at >= since)
    if limit:
        query = query.limit(limit)
    return [(entry, email, institution) for entry, email, institution in session.execute(query)]


def _status_change(old: str | None, new: str):
    clause = (AuditEntry.field == "status") & (AuditEntry.new == new)
    return clause & (AuditEntry.old == old) if old else clause


#: the audit log's "kind" filter: name -> (the entries it keeps, the roles that may choose it)
AUDIT_KINDS = {
    "answers": (lambda: (AuditEntry.field == "level") & AuditEntry.assessment_id.is_not(None), REVIEWER_ROLES),
    "validated_levels": (lambda: AuditEntry.field == "validated_level", REVIEWER_ROLES),
    "submitted": (lambda: _status_change(DRAFT, SUBMITTED) & AuditEntry.assessment_id.is_not(None), REVIEWER_ROLES),
    "validated": (lambda: _status_change(SUBMITTED, VALIDATED), REVIEWER_ROLES),
    "returned": (lambda: _status_change(SUBMITTED, DRAFT) & AuditEntry.assessment_id.is_not(None), REVIEWER_ROLES),
    "discarded": (lambda: _status_change(DRAFT, "discarded"), ("admin",)),
    "rounds": (lambda: AuditEntry.subject.startswith(ROUND_SUBJECT, autoescape=True), ("admin",)),
    "providers": (lambda: AuditEntry.subject.startswith("provider:", autoescape=True), ("admin",)),
    "accounts": (lambda: or_(AuditEntry.subject.startswith("user:", autoescape=True),
                             AuditEntry.subject.startswith("institution:", autoescape=True)), ("admin",)),
}
AUDIT_PAGE_SIZE = 50


def audit_kinds(user: User) -> list[str]:
    """The kinds of entry ``user`` may filter the audit log by (see ``AUDIT_KINDS``)."""
    return [kind for kind, (_clause, roles) in AUDIT_KINDS.items() if user is not None and user.role in roles]


@dataclass(frozen=True)
class AuditPage:
    #: (entry, author's e-mail, institution name, instrument id, instrument version), newest first
    rows: list[tuple]
    total: int
    page: int
    pages: int
    per_page: int


def audit_page(session: Session, user: User, *, assessment_id: int | None = None, kind: str | None = None,
               search: str | None = None, page: int = 1, per_page: int = AUDIT_PAGE_SIZE, offset: int | None = None) -> AuditPage:
    """One page of the audit log as :func:`audit_entries` scopes it, filtered by ``kind`` (a key of
    ``AUDIT_KINDS`` the user may choose; others are ignored), by institution name (``search``, case-
    and accent-insensitive) and assessment. ``page`` is clamped to the pages there are; ``offset``
    (the API's cursor) starts the page at any row instead."""
    _require_audit(user)
    query = (select(AuditEntry, User.email, Institution.name, Assessment.instrument_id, Assessment.instrument_version)
             .outerjoin(User, User.id == AuditEntry.user_id)
             .outerjoin(Assessment, Assessment.id == AuditEntry.assessment_id)
             .outerjoin(Institution, Institution.id == Assessment.institution_id))
    query = _scoped(query, user)
    if assessment_id:
        query = query.where(AuditEntry.assessment_id == assessment_id)
    if kind in audit_kinds(user):
        query = query.where(AUDIT_KINDS[kind][0]())
    matching = institutions_matching(session, search)
    if matching is not None:
        subjects = [f"institution:{i}" for i in matching]
        query = query.where(or_(Assessment.institution_id.in_(matching or [-1]), AuditEntry.subject.in_(subjects or ["-"])))
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    per_page = max(1, min(per_page, 500))
    pages = max(1, -(-total // per_page))
    if offset is None:  # pages: a page number, clamped to the pages there are
        page = min(max(1, page), pages)
        offset = (page - 1) * per_page
    else:  # the API: any position (its cursor)
        page = offset // per_page + 1
    rows = [tuple(r) for r in session.execute(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
                                               .limit(per_page).offset(offset))]
    return AuditPage(rows=rows, total=total, page=page, pages=pages, per_page=per_page)


AUDIT_COLUMNS = ("at", "user", "institution", "assessment", "criterion", "subject", "field", "old", "new", "comment")


def audit_csv(rows: list[tuple[AuditEntry, str | None, str | None]]) -> bytes:
    """The audit rows as CSV (UTF-8 with BOM; cells that could be formulas are prefixed with ')."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(AUDIT_COLUMNS)
    for entry, email, institution in rows:
        values = [entry.at.isoformat(), email or "", institution or "", entry.assessment_id or "", entry.criterion_id or "",
                  entry.subject or "", entry.field, entry.old or "", entry.new or "", entry.comment or ""]
        writer.writerow([_safe_cell(v) for v in values])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _safe_cell(value) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
