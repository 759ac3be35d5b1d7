"""SQLAlchemy 2.x typed tables."""
from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def search_fold(text: str | None) -> str:
    """``text`` case-folded without accents ("Córdoba" -> "cordoba"): how searches compare, the same on
    every database (SQLite's LOWER knows ASCII only, PostgreSQL's collations differ)."""
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


class Base(DeclarativeBase):
    pass


ROLES = ("member", "reviewer", "staff", "admin")
INSTITUTION_TYPES = ("national_service", "training_centre", "technical_institute", "university", "ngo", "other")
SECTORS = ("public", "private")
DRAFT, SUBMITTED, VALIDATED = "draft", "submitted", "validated"
PLAN_STATUSES = ("todo", "in_progress", "done")


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    #: the name case-folded with spaces collapsed: what "the same name" means
    name_key: Mapped[str] = mapped_column(String(200))
    #: ISO 3166-1 alpha-2 code
    country: Mapped[str] = mapped_column(String(2), index=True)
    city: Mapped[str] = mapped_column(String(120), default="")
    #: one of INSTITUTION_TYPES
    type: Mapped[str] = mapped_column(String(32))
    #: "public" or "private"
    sector: Mapped[str] = mapped_column(String(16))
    #: True for fictitious demo or benchmark data
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    #: optimistic-concurrency version: bumped on every change; writes name the version they saw
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: moved by every change (indexed: the comparison's data stamp reads the latest)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow, index=True)

    __table_args__ = (UniqueConstraint("name_key", "country", name="uq_institution_name_country"),)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    #: one of ROLES
    role: Mapped[str] = mapped_column(String(16))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    #: preferred interface language (es, en, pt); None follows the browser
    locale: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: bumped on logout, password change, role change and deactivation: sessions carrying an older
    #: generation stop working at their next request
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: optimistic-concurrency version: bumped on every change; writes name the version they saw
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    #: loaded when used (few pages show it; every request loads the user)
    institution: Mapped[Institution | None] = relationship()

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return str(self.id)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    #: SHA-256 of the token; the token itself is shown once and never stored
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: first characters of the token, to tell tokens apart in the account page
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class PasswordReset(Base):
    """A single-use, expiring link to set a new password (only the token's hash is stored)."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class Invitation(Base):
    """An institution member's invitation of a colleague (single use, expiring; the token's hash only)."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    institution: Mapped[Institution] = relationship()


class Assessment(Base):
    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    instrument_id: Mapped[str] = mapped_column(String(64))
    instrument_version: Mapped[str] = mapped_column(String(16))
    #: SHA-256 of the definition the answers were given on
    instrument_hash: Mapped[str] = mapped_column(String(64))
    #: language of the assessment and of its PDF
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    #: optimistic-concurrency version: bumped on every change; writes name the version they saw
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: 1 for the institution's first round on this instrument, then 2, 3...
    round_number: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: moved by every change (indexed: the comparison's data stamp reads the latest)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow, index=True)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: dimension id -> self-assessed score ("2.67") and "index"; written when submitted
    self_scores: Mapped[dict | None] = mapped_column(JSON)
    #: the same for the reviewer-validated levels; written when validated
    validated_scores: Mapped[dict | None] = mapped_column(JSON)
    #: dimension id -> [[self level, validated level], ...]; written when validated (agreement statistics)
    level_pairs: Mapped[dict | None] = mapped_column(JSON)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    institution: Mapped[Institution] = relationship(lazy="joined")
    answers: Mapped[list["Answer"]] = relationship(back_populates="assessment", cascade="all, delete-orphan")
    events: Mapped[list["ReviewEvent"]] = relationship(cascade="all, delete-orphan", order_by="ReviewEvent.id")
    plan_items: Mapped[list["PlanEdit"]] = relationship(cascade="all, delete-orphan")


class Answer(Base):
    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    criterion_id: Mapped[str] = mapped_column(String(64))
    #: self-assessed level 1..5 (None when not applicable or not answered yet)
    level: Mapped[int | None] = mapped_column(Integer)
    not_applicable: Mapped[bool] = mapped_column(Boolean, default=False)
    na_reason: Mapped[str] = mapped_column(Text, default="")
    #: target level chosen by the person; None follows the level (current + 1, at most 5)
    target: Mapped[int | None] = mapped_column(Integer)
    evidence: Mapped[str] = mapped_column(Text, default="")
    #: level set by a reviewer (None until reviewed)
    validated_level: Mapped[int | None] = mapped_column(Integer)
    #: the reviewer's comment (required where the validated level differs)
    review_comment: Mapped[str] = mapped_column(Text, default="")
    #: optimistic-concurrency version: bumped on every change; writes name the version they saw
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    assessment: Mapped[Assessment] = relationship(back_populates="answers")

    __table_args__ = (UniqueConstraint("assessment_id", "criterion_id", name="uq_answer_criterion"),)


class ReviewEvent(Base):
    """One step of an assessment's review history: submitted, validated, returned (with comments)."""

    __tablename__ = "review_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: "submitted", "validated" or "returned"
    action: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped["User"] = relationship()


class PlanEdit(Base):
    """What the institution wrote on one improvement-plan item."""

    __tablename__ = "plan_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    criterion_id: Mapped[str] = mapped_column(String(64))
    responsible: Mapped[str] = mapped_column(String(200), default="")
    due_date: Mapped[date | None] = mapped_column(Date)
    #: one of PLAN_STATUSES
    status: Mapped[str] = mapped_column(String(16), default="todo")
    note: Mapped[str] = mapped_column(Text, default="")
    #: optimistic-concurrency version: bumped on every change; writes name the version they saw
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __table_args__ = (UniqueConstraint("assessment_id", "criterion_id", name="uq_plan_criterion"),)
    __mapper_args__ = {"version_id_col": version}


class AuditEntry(Base):
    """A change of a level or of an assessment's status: who, when, old, new."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), index=True)
    criterion_id: Mapped[str | None] = mapped_column(String(64))
    #: what else the entry is about, e.g. "round:3 provider:AR-001" (None for assessment entries)
    subject: Mapped[str | None] = mapped_column(String(120), index=True)
    #: what changed: "level", "validated_level", "status", "selection", ...
    field: Mapped[str] = mapped_column(String(32))
    old: Mapped[str | None] = mapped_column(String(64))
    new: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str] = mapped_column(Text, default="")


PROVIDER_TYPES = ("public_body", "private_firm", "ngo", "chamber", "university", "other")
ROUND_OPEN, ROUND_FROZEN = "open", "frozen"
#: a round's commitment-letter terms: column -> (default, minimum, maximum)
LETTER_TERMS = {"letter_months": (24, 1, 120), "courses_per_year": (4, 0, 1000), "women_share": (60, 0, 100),
                "facilitators": (2, 0, 1000)}


class Provider(Base):
    """A business-development-service (SDE) provider assessed by project staff."""

    __tablename__ = "providers"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: unique, stable code (the import key), e.g. "PE-014"
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2), index=True)
    city: Mapped[str] = mapped_column(String(120), default="")
    #: one of PROVIDER_TYPES
    type: Mapped[str] = mapped_column(String(32))
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    contact_phone: Mapped[str] = mapped_column(String(60), default="")
    #: the person who signs for the provider (commitment letter), and their position
    legal_representative: Mapped[str] = mapped_column(String(200), default="")
    legal_representative_position: Mapped[str] = mapped_column(String(200), default="")
    #: eligibility fact id -> yes/no
    facts: Mapped[dict] = mapped_column(JSON, default=dict)
    #: item id -> score 0..4 (None: not assessed)
    item_scores: Mapped[dict] = mapped_column(JSON, default=dict)
    #: True for generated demo or benchmark data
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    #: code, name and city folded by :func:`search_fold` (kept by :meth:`refresh_search_key` on every write)
    search_key: Mapped[str] = mapped_column(Text, default="")
    #: when staff archived the provider: it leaves the list and takes no part in new rounds (None: active)
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    #: optimistic-concurrency version: bumped on every change; writes name the version they saw
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    __mapper_args__ = {"version_id_col": version}

    def refresh_search_key(self) -> None:
        self.search_key = provider_search_key(self.code, self.name, self.city)


def provider_search_key(code: str | None, name: str | None, city: str | None) -> str:
    """What a provider search looks in: code, name and city, folded, one per line."""
    return "\n".join(search_fold(part) for part in (code, name, city))


@event.listens_for(Provider, "before_insert")
@event.listens_for(Provider, "before_update")
def _keep_search_key(_mapper, _connection, provider: Provider) -> None:
    """Every ORM write of a provider (forms, imports, demo data, the API) keeps its search key current."""
    provider.refresh_search_key()


class SelectionRound(Base):
    """A selection of IMESUN partners: settings, the inputs it ran on, and its results."""

    __tablename__ = "selection_rounds"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    instrument_id: Mapped[str] = mapped_column(String(64))
    instrument_version: Mapped[str] = mapped_column(String(16))
    instrument_hash: Mapped[str] = mapped_column(String(64))
    #: weights, knock-outs, rule, quotas or threshold, draws, seed (JSON)
    settings: Mapped[dict] = mapped_column(JSON)
    #: snapshot of the providers the round last ran on (JSON list)
    inputs: Mapped[list] = mapped_column(JSON, default=list)
    #: results per provider of the last run (JSON list)
    results: Mapped[list] = mapped_column(JSON, default=list)
    #: "open" (re-runs on the current registry) or "frozen" (inputs and results kept)
    status: Mapped[str] = mapped_column(String(16), default=ROUND_OPEN)
    #: the commitment letters' term and quantified targets (see LETTER_TERMS)
    letter_months: Mapped[int] = mapped_column(Integer, default=24, server_default="24")
    courses_per_year: Mapped[int] = mapped_column(Integer, default=4, server_default="4")
    #: share of participants who are women migrants or refugees, in percent (0..100)
    women_share: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    #: staff each institution designates for facilitator certification
    facilitators: Mapped[int] = mapped_column(Integer, default=2, server_default="2")
    #: optimistic-concurrency version: bumped on every change; writes name the version they saw
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    frozen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    overrides: Mapped[list["SelectionOverride"]] = relationship(cascade="all, delete-orphan", order_by="SelectionOverride.id")

    __mapper_args__ = {"version_id_col": version}


class SelectionOverride(Base):
    """Staff's decision to select or not select a provider against the rule, with the reason."""

    __tablename__ = "selection_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("selection_rounds.id", ondelete="CASCADE"), index=True)
    provider_code: Mapped[str] = mapped_column(String(40))
    selected: Mapped[bool] = mapped_column(Boolean)
    rationale: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("round_id", "provider_code", name="uq_override_provider"),)


JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED = "queued", "running", "done", "failed"
JOB_KINDS = ("round_documents", "round_report")


class Job(Base):
    """Long work run outside the request (a worker thread, or RQ workers when REDIS_URL is set):
    what to do, for whom, how far it got and where its result is."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    #: the job's inputs (e.g. {"round_id": 3, "lang": "es"}); checked before the job is created
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=JOB_QUEUED)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    #: the result file, relative to REPORTS_DIR (a folder every app server shares)
    result_path: Mapped[str | None] = mapped_column(String(300))
    result_name: Mapped[str | None] = mapped_column(String(200))
    #: a msgid (translated when shown) with its values, when the job failed
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PendingUpload(Base):
    """A provider import checked in a dry run, kept until its owner applies it (at most an hour).

    In the database, not in a server's folder, so the server that applies it need not be the one that
    checked it.
    """

    __tablename__ = "pending_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the random, URL-safe token the dry-run page carries to the "Import now" form
    token: Mapped[str] = mapped_column(String(64), unique=True)
    #: who checked it: only they can apply it
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    #: the file as uploaded (it holds contact details: removed once applied, replaced or expired)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    #: the dry run's stamp: the registry as checked (applying refuses if it changed meanwhile)
    stamp: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: after this the upload is no longer applied and is removed
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AssessmentScore(Base):
    """One stored score of an assessment as a number: the comparison counts these rows.

    A copy of the JSON columns ``self_scores`` / ``validated_scores``, written in the same transaction by
    :func:`rubric_app.services.score_rows.write_score_rows` wherever those are written or cleared.
    """

    __tablename__ = "assessment_scores"

    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True)
    #: "self" (from ``self_scores``) or "validated" (from ``validated_scores``)
    basis: Mapped[str] = mapped_column(String(9), primary_key=True)
    #: a dimension id of the assessment's instrument version, or "index"
    measure: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: the score times 100 (2.67 -> 267, index 41.7 -> 4170); None where the JSON holds none
    hundredths: Mapped[int | None] = mapped_column(Integer)

    # SQLite keeps the rows in the primary key's b-tree: a lookup by assessment reads the score with no second seek
    __table_args__ = {"sqlite_with_rowid": False}


class LevelPair(Base):
    """A (self-assessed, validated) level pair of a criterion, by dimension: the agreement statistics count these rows.

    A copy of the JSON column ``level_pairs`` (its lists in their order), written with :class:`AssessmentScore`.
    """

    __tablename__ = "assessment_level_pairs"

    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True)
    dimension_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: the pair's place in the dimension's list (0, 1, ...)
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    self_level: Mapped[int] = mapped_column(Integer)
    validated_level: Mapped[int] = mapped_column(Integer)

    __table_args__ = {"sqlite_with_rowid": False}


class ScoreTokens(Base):
    """An assessment's stored scores and level pairs as one row of text tokens: what the comparison reads.

    One row per assessment, a copy of the JSON columns written with :class:`AssessmentScore` by
    :func:`rubric_app.services.score_rows.write_score_rows` (the token format is described there).
    The comparison fetches one such row per institution and counts the tokens in Python, instead of
    grouping seven score rows and up to eighteen pair rows per assessment in the database.
    """

    __tablename__ = "assessment_score_tokens"

    assessment_id: Mapped[int] = mapped_column(ForeignKey("assessments.id", ondelete="CASCADE"), primary_key=True,
                                               autoincrement=False)
    #: "measure=hundredths ..." from ``self_scores``; None where that column holds no mapping
    self_scores: Mapped[str | None] = mapped_column(Text)
    #: the same from ``validated_scores``
    validated_scores: Mapped[str | None] = mapped_column(Text)
    #: "dimension!self:validated dimension=self:validated ..." from ``level_pairs``; None where that column holds no mapping
    level_pairs: Mapped[str | None] = mapped_column(Text)
