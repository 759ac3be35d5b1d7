"""Institutions, users and API tokens."""
from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..models import INSTITUTION_TYPES, ROLES, SECTORS, ApiToken, Institution, User, utcnow
from . import N_, Conflict, Invalid, NotFound

MIN_PASSWORD_LENGTH = 8
TOKEN_PREFIX = "rbk_"


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def name_key(name: str) -> str:
    """What makes two institution names the same: case-folded, spaces collapsed."""
    return " ".join((name or "").casefold().split())


def find_institution(session: Session, name: str, country: str) -> Institution | None:
    """The institution with this name (ignoring case and spacing) in this country, if any."""
    return session.scalar(select(Institution).where(Institution.name_key == name_key(name), Institution.country == (country or "").upper()))


def create_institution(session: Session, *, name: str, country: str, city: str = "", type: str = "other",
                       sector: str = "public", synthetic: bool = False) -> Institution:
    """Add an institution; refuses a duplicate name in the same country."""
    name = (name or "").strip()
    if not name:
        raise Invalid(N_("The institution name is required."), [{"field": "name"}])
    if type not in INSTITUTION_TYPES:
        raise Invalid(f"Unknown institution type {type!r}.", [{"field": "type"}])
    if sector not in SECTORS:
        raise Invalid(f"Unknown sector {sector!r}.", [{"field": "sector"}])
    if find_institution(session, name, country):
        raise Conflict(N_("An institution with this name is already registered in this country."), [{"field": "name"}])
    inst = Institution(name=name, name_key=name_key(name), country=country.upper(), city=(city or "").strip(), type=type, sector=sector, synthetic=synthetic)
    session.add(inst)
    session.flush()
    return inst


def create_user(session: Session, *, email: str, password: str, role: str, name: str = "",
                institution: Institution | None = None, locale: str | None = None) -> User:
    """Add a user with a hashed password. Members must belong to an institution."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise Invalid(N_("A valid e-mail address is required."), [{"field": "email"}])
    if role not in ROLES:
        raise Invalid(f"Unknown role {role!r}; expected one of {', '.join(ROLES)}.", [{"field": "role"}])
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise Invalid(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.", [{"field": "password"}])
    if role == "member" and institution is None:
        raise Invalid("An institution member needs an institution.", [{"field": "institution"}])
    if session.scalar(select(User).where(User.email == email)):
        raise Conflict(N_("An account with this e-mail address already exists."), [{"field": "email"}])
    user = User(email=email, password_hash=generate_password_hash(password), role=role, name=(name or "").strip(),
                institution=institution if role == "member" else None, locale=locale)
    session.add(user)
    session.flush()
    return user


def register_institution(session: Session, *, institution: dict, email: str, password: str, name: str = "",
                         locale: str | None = None) -> User:
    """Self-registration: a new institution and its first member account, in one transaction."""
    try:
        inst = create_institution(session, **institution)
        user = create_user(session, email=email, password=password, role="member", name=name, institution=inst, locale=locale)
        session.commit()
    except IntegrityError as exc:  # a concurrent registration won the race
        session.rollback()
        raise Conflict(N_("An institution with this name is already registered in this country."), [{"field": "name"}]) from exc
    except Exception:
        session.rollback()
        raise
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None or not user.active or not check_password_hash(user.password_hash, password or ""):
        return None
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, name: str = "") -> str:
    """Create a personal API token and return it; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=(name or "").strip()[:100], token_hash=_hash_token(token), prefix=token[:10]))
    session.commit()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The active user owning this unrevoked token, or None; records the last use."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(token), ApiToken.revoked_at.is_(None)))
    if row is None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    session.commit()
    return row.user


def tokens_of(session: Session, user: User) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())))


def revoke_token(session: Session, user: User, token_id: int) -> None:
    """Revoke one of the user's own tokens; another user's token id is not found."""
    row = session.scalar(select(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id))
    if row is None:
        raise NotFound(N_("Token not found."))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()


def set_locale(session: Session, user: User, locale: str) -> None:
    user.locale = locale
    session.commit()


def user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound(f"No user with e-mail {email}.")
    return user
