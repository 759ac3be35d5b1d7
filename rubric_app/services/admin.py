"""Administration: users and institutions, for admins only.

Every write reads as one transaction: take the lock, re-check the version the admin's page showed
and the rules that depend on other rows (the last active admin), apply, write the audit entries,
commit.  On PostgreSQL the active admins' rows are locked first, in id order, so two admins demoting
each other at the same moment cannot leave the system without one; on SQLite the first statement of
the write takes the database's write lock.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ..i18n import is_country
from ..models import INSTITUTION_TYPES, ROLES, SECTORS, ApiToken, AuditEntry, Institution, User, utcnow
from . import (
    N_,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PreconditionFailed,
    commit_or_conflict,
)
from .accounts import name_key

ADMIN = "admin"
MEMBER = "member"
#: rows per page of the user and institution lists
PAGE_SIZE = 50
#: the largest id a table's INTEGER primary key can hold; larger ids are simply not found
MAX_ID = 2**31 - 1
#: the width of AuditEntry.old and .new; longer values are clipped there and written whole in the comment
AUDIT_VALUE_WIDTH = 64
INSTITUTION_FIELDS = ("name", "city", "country", "type", "sector")

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its rows, the total count, the page number (1-based) and the number of pages."""

    items: list[T]
    total: int
    page: int
    pages: int


def require_admin(actor: User | None) -> None:
    """Refuse anyone who is not a signed-in, active administrator."""
    if actor is None or not getattr(actor, "is_authenticated", False) or actor.role != ADMIN or not actor.active:
        raise Forbidden(N_("Only administrators can do this."))


def _like(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _page(session: Session, query, page: int, page_size: int) -> tuple[list, int, int, int]:
    """Rows of ``query`` for ``page``, bounded to 1..pages (an absurd page number shows the last page)."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    rows = list(session.execute(query.offset((page - 1) * page_size).limit(page_size)))
    return rows, total, page, pages


def _bounded_id(value: int | None) -> int | None:
    return value if isinstance(value, int) and 1 <= value <= MAX_ID else None


# --------------------------------------------------------------------------- reading


def list_users(session: Session, actor: User, *, search: str | None = None, role: str | None = None,
               active: bool | None = None, page: int = 1, page_size: int = PAGE_SIZE) -> Page[User]:
    """Users whose e-mail, name or institution name contains ``search`` (any case), optionally of one
    role and active or not; ordered by e-mail, one page of them."""
    require_admin(actor)
    if role is not None and role not in ROLES:
        raise Invalid(N_("Unknown role."), [{"field": "role"}])
    query = select(User).outerjoin(Institution, Institution.id == User.institution_id)
    if search and search.strip():
        like = _like(search)
        query = query.where(or_(func.lower(User.email).like(like, escape="\\"), func.lower(User.name).like(like, escape="\\"),
                                func.lower(Institution.name).like(like, escape="\\")))
    if role:
        query = query.where(User.role == role)
    if active is not None:
        query = query.where(User.active.is_(active))
    rows, total, page, pages = _page(session, query.order_by(User.email, User.id), page, page_size)
    return Page([row[0] for row in rows], total, page, pages)


def list_institutions(session: Session, actor: User, *, search: str | None = None, country: str | None = None,
                      page: int = 1, page_size: int = PAGE_SIZE) -> Page[tuple[Institution, int]]:
    """Institutions whose name or city contains ``search``, optionally in one country, with their
    number of user accounts; ordered by name, one page of them."""
    require_admin(actor)
    members = (select(User.institution_id, func.count(User.id).label("n")).where(User.institution_id.is_not(None))
               .group_by(User.institution_id).subquery())
    query = (select(Institution, func.coalesce(members.c.n, 0))
             .outerjoin(members, members.c.institution_id == Institution.id))
    if search and search.strip():
        like = _like(search)
        query = query.where(or_(func.lower(Institution.name).like(like, escape="\\"), func.lower(Institution.city).like(like, escape="\\")))
    if country:
        query = query.where(Institution.country == country.strip().upper())
    rows, total, page, pages = _page(session, query.order_by(Institution.name_key, Institution.country, Institution.id), page, page_size)
    return Page([(inst, int(n)) for inst, n in rows], total, page, pages)


def institution_choices(session: Session, actor: User, *, search: str | None = None, include_id: int | None = None,
                        limit: int = 200) -> list[Institution]:
    """Institutions to offer when making someone a member: those matching ``search`` (all when
    empty), at most ``limit`` by name, plus the one with ``include_id`` whatever the search."""
    require_admin(actor)
    query = select(Institution)
    if search and search.strip():
        like = _like(search)
        query = query.where(or_(func.lower(Institution.name).like(like, escape="\\"), func.lower(Institution.city).like(like, escape="\\")))
    rows = list(session.scalars(query.order_by(Institution.name_key, Institution.country, Institution.id).limit(limit)))
    include_id = _bounded_id(include_id)
    if include_id is not None and all(inst.id != include_id for inst in rows):
        extra = session.get(Institution, include_id)
        if extra is not None:
            rows.insert(0, extra)
    return rows


def count_institutions(session: Session, actor: User) -> int:
    """How many institutions are registered."""
    require_admin(actor)
    return session.scalar(select(func.count(Institution.id))) or 0


def get_user(session: Session, actor: User, user_id: int) -> User:
    """One user by id (ids outside the column's range are not found)."""
    require_admin(actor)
    user_id = _bounded_id(user_id)
    user = session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise NotFound(N_("User not found."))
    return user


def get_institution(session: Session, actor: User, institution_id: int) -> Institution:
    """One institution by id (ids outside the column's range are not found)."""
    require_admin(actor)
    institution_id = _bounded_id(institution_id)
    inst = session.get(Institution, institution_id) if institution_id is not None else None
    if inst is None:
        raise NotFound(N_("Institution not found."))
    return inst


def history(session: Session, actor: User, subject: str, limit: int = 50) -> list[tuple[AuditEntry, str | None]]:
    """The audit entries about ``subject`` ("user:<id>" or "institution:<id>"), newest first, with
    the e-mail of whoever made each change."""
    require_admin(actor)
    query = (select(AuditEntry, User.email).outerjoin(User, User.id == AuditEntry.user_id)
             .where(AuditEntry.subject == subject).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit))
    return [(entry, email) for entry, email in session.execute(query)]


def active_admin_count(session: Session) -> int:
    """How many active administrators there are."""
    return session.scalar(select(func.count(User.id)).where(User.role == ADMIN, User.active.is_(True))) or 0


# --------------------------------------------------------------------------- writing


def _clip(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= AUDIT_VALUE_WIDTH else text[: AUDIT_VALUE_WIDTH - 1] + "…"


def _audit(session: Session, actor_id: int, subject: str, field: str, old: object, new: object) -> None:
    old_text, new_text = _clip(old), _clip(new)
    comment = ""
    if (old_text, new_text) != (None if old is None else str(old), None if new is None else str(new)):
        comment = f"{old if old is not None else ''} → {new if new is not None else ''}"
    session.add(AuditEntry(user_id=actor_id, subject=subject, field=field, old=old_text, new=new_text, comment=comment))


def _lock_admins(session: Session) -> set[int]:
    """Lock the active admins' rows (PostgreSQL, in id order) and return their ids."""
    query = select(User.id).where(User.role == ADMIN, User.active.is_(True)).order_by(User.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return set(session.scalars(query))


def _lock_user(session: Session, actor: User, user_id: int, expected_version: int) -> tuple[User, set[int]]:
    """Take the locks for a change to a user, re-check the version the admin saw and that the admin
    still is one; return the user freshly loaded under the lock and the active admins' ids."""
    require_admin(actor)
    user_id = _bounded_id(user_id)
    if user_id is None:
        raise NotFound(N_("User not found."))
    on_postgres = session.get_bind().dialect.name == "postgresql"
    admins = _lock_admins(session) if on_postgres else set()
    result = session.execute(update(User).where(User.id == user_id, User.version == expected_version)
                             .values(version=User.version).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        current = session.scalar(select(User.version).where(User.id == user_id))
        session.rollback()
        if current is None:
            raise NotFound(N_("User not found."))
        raise PreconditionFailed(N_("Someone else changed this account after you opened the page. The stored values are shown "
                                    "beside yours: check them, and save again if your change still applies."),
                                 [{"field": "version", "seen": expected_version, "current": current}])
    if not on_postgres:  # the write lock is held: the count cannot change under us
        admins = _lock_admins(session)
    if actor.id not in admins:
        session.rollback()
        raise Forbidden(N_("Only administrators can do this."))
    session.expire_all()
    user = session.scalar(select(User).where(User.id == user_id).execution_options(populate_existing=True))
    return user, admins


def _refuse_losing_an_admin(actor: User, user: User, admins: set[int], session: Session) -> None:
    """Refuse a change that would take ``user`` out of the active admins when they are the last
    one, or when they are the acting admin themself."""
    if user.id in admins and len(admins) <= 1:
        session.rollback()
        raise Conflict(N_("This is the last active administrator: make another administrator first."), [{"field": "role"}])
    if user.id == actor.id:
        session.rollback()
        raise Invalid(N_("You cannot demote or deactivate your own account. Ask another administrator."), [{"field": "role"}])


def change_role(session: Session, actor: User, user_id: int, *, role: str, institution_id: int | None,
                expected_version: int) -> User:
    """Give a user another role (or, for a member, another institution) and end their sessions.

    A member needs an existing institution; other roles have none.  An admin cannot demote
    themself, and the last active admin cannot be demoted.  Writes an audit entry per changed
    field; a change to nothing is no change (no version bump, no entry).
    """
    if role not in ROLES:
        raise Invalid(N_("Unknown role."), [{"field": "role"}])
    institution_id = institution_id if role == MEMBER else None
    if role == MEMBER:
        if institution_id is None:
            raise Invalid(N_("An institution member needs an institution: choose one."), [{"field": "institution"}])
        if _bounded_id(institution_id) is None or session.get(Institution, institution_id) is None:
            raise Invalid(N_("Institution not found."), [{"field": "institution"}])
    user, admins = _lock_user(session, actor, user_id, expected_version)
    if role == user.role and institution_id == user.institution_id:
        session.rollback()
        return user
    if user.id == actor.id or (user.role == ADMIN and role != ADMIN):
        _refuse_losing_an_admin(actor, user, admins, session)
    if role == MEMBER and session.get(Institution, institution_id) is None:  # deleted meanwhile
        session.rollback()
        raise Invalid(N_("Institution not found."), [{"field": "institution"}])
    subject = f"user:{user.id}"
    if role != user.role:
        _audit(session, actor.id, subject, "role", user.role, role)
    if institution_id != user.institution_id:
        _audit(session, actor.id, subject, "institution", user.institution_id, institution_id)
    user.role, user.institution_id = role, institution_id
    user.session_generation += 1
    _revoke_tokens(session, actor, user)  # a token issued under the old role must not keep working under the new one
    user.version = expected_version + 1
    commit_or_conflict(session)
    return user


def set_active(session: Session, actor: User, user_id: int, *, active: bool, expected_version: int) -> User:
    """Deactivate (ending their sessions) or reactivate a user.

    An admin cannot deactivate themself, and the last active admin cannot be deactivated.  Writes an
    audit entry; setting the state the user already has changes nothing.
    """
    user, admins = _lock_user(session, actor, user_id, expected_version)
    if user.active == active:
        session.rollback()
        return user
    if not active:
        _refuse_losing_an_admin(actor, user, admins, session)
        user.session_generation += 1
        _revoke_tokens(session, actor, user)
    _audit(session, actor.id, f"user:{user.id}", "active", "yes" if user.active else "no", "yes" if active else "no")
    user.active = active
    user.version = expected_version + 1
    commit_or_conflict(session)
    return user


def _revoke_tokens(session: Session, actor: User, user: User) -> None:
    """Revoke the user's API tokens (role change, deactivation): they were issued for what the user was."""
    revoked = session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                              .values(revoked_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    if revoked:
        _audit(session, actor.id, f"user:{user.id}", "api_tokens", str(revoked), "revoked")


def check_institution_values(values: dict) -> tuple[dict, list[dict]]:
    """Cleaned institution values and the problems found (field and message, in English)."""
    problems = []
    name = " ".join(str(values.get("name") or "").split())
    if not name or len(name) > 200:
        problems.append({"field": "name", "message": N_("The name is required (at most 200 characters).")})
    city = " ".join(str(values.get("city") or "").split())
    if len(city) > 120:
        problems.append({"field": "city", "message": N_("At most 120 characters.")})
    country = str(values.get("country") or "").strip().upper()
    if not is_country(country):
        problems.append({"field": "country", "message": N_("Unknown country code.")})
    itype = values.get("type")
    if itype not in INSTITUTION_TYPES:
        problems.append({"field": "type", "message": N_("Unknown institution type.")})
    sector = values.get("sector")
    if sector not in SECTORS:
        problems.append({"field": "sector", "message": N_("Unknown sector.")})
    return {"name": name, "city": city, "country": country, "type": itype, "sector": sector}, problems


def update_institution(session: Session, actor: User, institution_id: int, values: dict, *,
                       expected_version: int) -> Institution:
    """Change an institution's name, city, country, type and sector.

    A name already taken in the same country (ignoring case and spacing) is refused; so is a stale
    ``expected_version`` (with the stored version).  Writes an audit entry per changed field.
    """
    require_admin(actor)
    cleaned, problems = check_institution_values(values)
    if problems:
        raise Invalid(N_("The institution was not saved: check the fields marked."), problems)
    institution_id = _bounded_id(institution_id)
    if institution_id is None:
        raise NotFound(N_("Institution not found."))
    result = session.execute(update(Institution).where(Institution.id == institution_id, Institution.version == expected_version)
                             .values(version=Institution.version).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        current = session.scalar(select(Institution.version).where(Institution.id == institution_id))
        session.rollback()
        if current is None:
            raise NotFound(N_("Institution not found."))
        raise PreconditionFailed(N_("Someone else changed this institution after you opened the page. Their values are shown "
                                    "beside yours: keep one, or combine them, and save again."),
                                 [{"field": "version", "seen": expected_version, "current": current}])
    session.expire_all()
    inst = session.scalar(select(Institution).where(Institution.id == institution_id).execution_options(populate_existing=True))
    key = name_key(cleaned["name"])
    clash = session.scalar(select(Institution.id).where(Institution.name_key == key, Institution.country == cleaned["country"],
                                                        Institution.id != inst.id))
    if clash is not None:
        session.rollback()
        raise Conflict(N_("An institution with this name is already registered in this country."),
                       [{"field": "name", "message": N_("An institution with this name is already registered in this country.")}])
    changed = [f for f in INSTITUTION_FIELDS if getattr(inst, f) != cleaned[f]]
    if not changed:
        session.rollback()
        return inst
    for f in changed:
        _audit(session, actor.id, f"institution:{inst.id}", f, getattr(inst, f), cleaned[f])
        setattr(inst, f, cleaned[f])
    inst.name_key = key
    inst.version = expected_version + 1
    commit_or_conflict(session)
    return inst
