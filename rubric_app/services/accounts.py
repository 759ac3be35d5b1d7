"""Institutions, users and API tokens."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib import resources

from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..models import (
    INSTITUTION_TYPES,
    ROLES,
    SECTORS,
    ApiToken,
    AuditEntry,
    Institution,
    Invitation,
    PasswordReset,
    User,
    utcnow,
)
from . import (
    N_,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PreconditionFailed,
    commit_or_conflict,
)

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
TOKEN_PREFIX = "rbk_"
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: how long a password-reset link works
RESET_LIFETIME = timedelta(hours=1)
#: how long an invitation link works
INVITATION_LIFETIME = timedelta(days=7)
#: how long a registration's confirmation link works (seconds)
CONFIRMATION_SECONDS = 48 * 3600
LINK_INVALID = N_("This link is not valid: it has expired, was already used or was replaced by a newer one.")


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
                institution: Institution | None = None, locale: str | None = None, active: bool = True) -> User:
    """Add a user with a hashed password (checked by :func:`check_password`). Members must belong to an institution."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254:
        raise Invalid(N_("A valid e-mail address is required."), [{"field": "email"}])
    if role not in ROLES:
        raise Invalid(f"Unknown role {role!r}; expected one of {', '.join(ROLES)}.", [{"field": "role"}])
    check_password(password, email=email, institution_name=institution.name if institution is not None else "")
    if role == "member" and institution is None:
        raise Invalid("An institution member needs an institution.", [{"field": "institution"}])
    if session.scalar(select(User).where(User.email == email)):
        raise Conflict(N_("An account with this e-mail address already exists."), [{"field": "email"}])
    user = User(email=email, password_hash=generate_password_hash(password), role=role, name=(name or "").strip()[:200],
                institution=institution if role == "member" else None, locale=locale, active=active)
    session.add(user)
    session.flush()
    return user


@dataclass(frozen=True)
class Registration:
    """What a registration did: ``user`` is the new pending account, or the existing one (``new`` False)."""

    user: User
    new: bool


def register_institution(session: Session, *, institution: dict, email: str, password: str, name: str = "",
                         locale: str | None = None) -> Registration:
    """Self-registration: a new institution and its first member account, pending e-mail confirmation.

    The requester must not learn whether the e-mail address already has an account: the
    institution and the password are checked first (the same for everyone), then an address that
    already has an account writes nothing and returns that account with ``new`` False, after the
    same hashing work. The caller sends the confirmation link (new) or a note to the owner (not new)
    and shows the same page in both cases.
    """
    email = normalise_email(email)
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise Invalid(N_("A valid e-mail address is required."), [{"field": "email"}])
    try:
        inst = create_institution(session, **institution)
        check_password(password, email=email, institution_name=inst.name)
        existing = session.scalar(select(User).where(User.email == email))
        if existing is not None:
            session.rollback()
            generate_password_hash(password)  # the same work as a new account: timing tells nothing
            return Registration(existing, False)
        user = create_user(session, email=email, password=password, role="member", name=name, institution=inst, locale=locale,
                           active=False)
        session.commit()
    except IntegrityError as exc:  # a concurrent registration won the race
        session.rollback()
        raise Conflict(N_("An institution with this name is already registered in this country."), [{"field": "name"}]) from exc
    except Exception:
        session.rollback()
        raise
    return Registration(user, True)


def is_pending(user: User) -> bool:
    """An account registered but not confirmed yet: inactive, never signed in, password never changed.

    A deactivated account is not pending: deactivation ends its sessions (a new generation), so
    neither a confirmation link nor a password reset can bring it back.
    """
    return not user.active and user.session_generation == 0 and user.password_changed_at is None


def _confirmation_serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt="rubric-confirm-registration")


def confirmation_token(user: User, secret: str) -> str:
    """A signed link token that confirms ``user``'s address (valid 48 hours, until used)."""
    return _confirmation_serializer(secret).dumps({"u": user.id, "e": user.email, "g": user.session_generation})


def confirm_registration(session: Session, token: str, secret: str, *, max_age: int = CONFIRMATION_SECONDS) -> User:
    """Activate the pending account named by a confirmation token; refused when expired, used or forged.

    Single use: confirming starts a new session generation, which the token no longer matches.
    """
    try:
        data = _confirmation_serializer(secret).loads(token or "", max_age=max_age)
        user_id, email, generation = int(data["u"]), str(data["e"]), int(data["g"])
    except (BadData, KeyError, TypeError, ValueError) as exc:
        raise Invalid(LINK_INVALID) from exc
    user = session.get(User, user_id)
    if user is None or user.email != email or user.session_generation != generation or not is_pending(user):
        raise Invalid(LINK_INVALID)
    user.active = True
    end_sessions(session, user)
    _audit(session, user.id, f"user:{user.id}", "email", None, "confirmed")
    session.commit()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None.

    An unknown address costs the same as a known one: the password is checked against a dummy
    hash, so the answer's timing does not tell which addresses have accounts.
    """
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    valid = check_password_hash(user.password_hash if user is not None else _dummy_hash(), password or "")
    if user is None or not valid or not user.active:
        return None
    return user


def password_matches_pending(session: Session, email: str, password: str) -> bool:
    """True when these are the right credentials of an account still waiting for its e-mail confirmation."""
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    return user is not None and is_pending(user) and check_password_hash(user.password_hash, password or "")


def _dummy_hash() -> str:
    """A hash made like the real ones (same method and cost), of a random password nobody knows."""
    key = id(generate_password_hash)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES.clear()
        _DUMMY_HASHES[key] = generate_password_hash(secrets.token_urlsafe(16))
    return _DUMMY_HASHES[key]


_DUMMY_HASHES: dict[int, str] = {}


# ----------------------------------------------------------------------------- passwords


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords (``rubric_app/data/common_passwords.txt``), case-folded."""
    text = resources.files("rubric_app").joinpath("data/common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _parts(text: str) -> list[str]:
    """The words of an e-mail local part or a name that are long enough to matter (4+ characters)."""
    return [p for p in re.split(r"[\W_]+", (text or "").casefold()) if len(p) >= 4]


def check_password(password: str, *, email: str = "", institution_name: str = "") -> None:
    """Refuse a password that breaks the rules (ASVS 5.0, 6.2); the same rules for the web and the CLI.

    At least 12 and at most 128 characters (any characters, spaces and Unicode included; nothing is
    trimmed or truncated); not among the most common passwords; not containing the e-mail address's
    local part or a word of the institution's name (case-insensitive, words of 4+ characters).
    """
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(N_("The password must have at least 12 characters."), [{"field": "password"}])
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Invalid(N_("The password must have at most 128 characters."), [{"field": "password"}])
    folded = password.casefold()
    if folded in common_passwords() or " ".join(folded.split()) in common_passwords():
        raise Invalid(N_("This password is too common: choose another one."), [{"field": "password"}])
    local = normalise_email(email).split("@")[0]
    words = ([local] if len(local) >= 4 else []) + _parts(local) + _parts(institution_name)
    if any(word in folded for word in words):
        raise Invalid(N_("The password must not contain your e-mail address or the institution's name."), [{"field": "password"}])


def log_out(session: Session, user: User) -> None:
    """Sign out: every session of the user ends, a copied cookie included."""
    end_sessions(session, user)
    session.commit()


def end_sessions(session: Session, user: User) -> None:
    """End every session of ``user`` (sessions carry the generation they started in). The caller commits.

    Used on logout, password change and reset, role change and deactivation.
    """
    user.session_generation = (user.session_generation or 0) + 1
    session.flush()


def _set_password(session: Session, user: User, password: str) -> None:
    check_password(password, email=user.email, institution_name=user.institution.name if user.institution is not None else "")
    user.password_hash = generate_password_hash(password)
    user.password_changed_at = utcnow()
    end_sessions(session, user)


def change_password(session: Session, user: User, current: str, new: str) -> User:
    """Change one's own password; the current one is required. Ends every session of the user.

    The caller starts a new session for the person who made the change.
    """
    valid = check_password_hash(user.password_hash, current or "")
    if not valid:
        raise Invalid(N_("The current password is wrong."), [{"field": "current"}])
    _set_password(session, user, new)
    _audit(session, user.id, f"user:{user.id}", "password", None, "changed")
    session.commit()
    return user


# ----------------------------------------------------------------------------- password reset


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def request_password_reset(session: Session, email: str, *, now: datetime | None = None) -> tuple[User, str] | None:
    """A new single-use reset token for the account with this address (valid one hour), or None.

    Only the token's hash is stored. Deactivated accounts get none; accounts waiting for their
    confirmation do (a reset proves the address and opens the account).
    """
    user = session.scalar(select(User).where(User.email == normalise_email(email)))
    token = secrets.token_urlsafe(32)
    if user is None or not (user.active or is_pending(user)):
        return None
    now = now or utcnow()
    session.add(PasswordReset(user_id=user.id, token_hash=_hash_token(token), created_at=now, expires_at=now + RESET_LIFETIME))
    session.commit()
    return user, token


def reset_for_token(session: Session, token: str, *, now: datetime | None = None) -> PasswordReset | None:
    """The unused, unexpired reset this token opens, or None."""
    if not token or len(token) > 200:
        return None
    row = session.scalar(select(PasswordReset).where(PasswordReset.token_hash == _hash_token(token)))
    if row is None or row.used_at is not None or _aware(row.expires_at) <= (now or utcnow()):
        return None
    if not (row.user.active or is_pending(row.user)):
        return None
    return row


def reset_password(session: Session, token: str, password: str, *, now: datetime | None = None) -> User:
    """Set a new password with a reset token: the token and every other open one of the user are used up,
    every session ends, and an account waiting for its confirmation is opened."""
    row = reset_for_token(session, token, now=now)
    if row is None:
        raise Invalid(LINK_INVALID)
    user = row.user
    pending = is_pending(user)
    _set_password(session, user, password)
    used = now or utcnow()
    for other in session.scalars(select(PasswordReset).where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))):
        other.used_at = used
    if pending:
        user.active = True
        _audit(session, user.id, f"user:{user.id}", "email", None, "confirmed")
    _audit(session, user.id, f"user:{user.id}", "password", None, "reset")
    session.commit()
    return user


# ----------------------------------------------------------------------------- invitations


def _require_member(user: User) -> Institution:
    if user is None or user.role != "member" or user.institution is None or not user.active:
        raise Forbidden(N_("Only members of an institution can do this."))
    return user.institution


def invite(session: Session, user: User, email: str, *, now: datetime | None = None) -> tuple[Invitation, str]:
    """Invite a colleague to the user's institution (single use, valid 7 days); returns the invitation and its token.

    A new invitation to the same address replaces the pending one. Only the token's hash is stored.
    """
    institution = _require_member(user)
    email = normalise_email(email)
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        raise Invalid(N_("A valid e-mail address is required."), [{"field": "email"}])
    now = now or utcnow()
    for old in session.scalars(select(Invitation).where(Invitation.institution_id == institution.id, Invitation.email == email,
                                                        Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))):
        old.revoked_at = now
    token = secrets.token_urlsafe(32)
    invitation = Invitation(institution_id=institution.id, email=email, token_hash=_hash_token(token), invited_by_id=user.id,
                            created_at=now, expires_at=now + INVITATION_LIFETIME)
    session.add(invitation)
    session.flush()
    _audit(session, user.id, f"institution:{institution.id}", "invitation", None, f"sent:{invitation.id}", comment=email)
    session.commit()
    return invitation, token


def pending_invitations(session: Session, user: User, *, now: datetime | None = None) -> list[Invitation]:
    """The open (unaccepted, unrevoked, unexpired) invitations of the user's institution, newest first."""
    if user.role != "member" or user.institution_id is None:
        return []
    rows = session.scalars(select(Invitation).where(Invitation.institution_id == user.institution_id, Invitation.accepted_at.is_(None),
                                                    Invitation.revoked_at.is_(None)).order_by(Invitation.created_at.desc(), Invitation.id.desc()))
    now = now or utcnow()
    return [r for r in rows if _aware(r.expires_at) > now]


def revoke_invitation(session: Session, user: User, invitation_id: int) -> None:
    """Revoke an open invitation of the user's own institution; any other id is not found."""
    institution = _require_member(user)
    row = session.scalar(select(Invitation).where(Invitation.id == invitation_id, Invitation.institution_id == institution.id))
    if row is None or row.accepted_at is not None:
        raise NotFound(N_("Invitation not found."))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        _audit(session, user.id, f"institution:{institution.id}", "invitation", f"sent:{row.id}", "revoked", comment=row.email)
        session.commit()


def invitation_for_token(session: Session, token: str, *, now: datetime | None = None) -> Invitation | None:
    """The open invitation this token opens, or None."""
    if not token or len(token) > 200:
        return None
    row = session.scalar(select(Invitation).where(Invitation.token_hash == _hash_token(token)))
    if row is None or row.accepted_at is not None or row.revoked_at is not None or _aware(row.expires_at) <= (now or utcnow()):
        return None
    return row


def accept_invitation(session: Session, token: str, *, name: str, password: str, locale: str | None = None,
                      now: datetime | None = None) -> User:
    """Open a member account in the inviting institution for the invited address; the invitation is used up."""
    row = invitation_for_token(session, token, now=now)
    if row is None:
        raise Invalid(LINK_INVALID)
    if session.scalar(select(User.id).where(User.email == row.email)) is not None:
        raise Conflict(N_("An account with this e-mail address already exists: sign in, or choose a new password."), [{"field": "email"}])
    user = create_user(session, email=row.email, password=password, role="member", name=name, institution=row.institution, locale=locale)
    row.accepted_at = now or utcnow()
    _audit(session, user.id, f"institution:{row.institution_id}", "invitation", f"sent:{row.id}", f"accepted:user:{user.id}",
           comment=row.email)
    commit_or_conflict(session)
    return user


# ----------------------------------------------------------------------------- the institution


INSTITUTION_FIELDS = ("name", "city", "type", "sector")


def institution_values(institution: Institution) -> dict:
    """The editable values of an institution, as a form shows them."""
    return {f: getattr(institution, f) for f in INSTITUTION_FIELDS}


def save_institution(session: Session, user: User, values: dict, *, expected_version: int) -> Institution:
    """A member edits their institution's name, city, type and sector (not the country).

    ``expected_version`` is the version the page showed: a stale one raises
    :class:`PreconditionFailed`; the version is checked again where the update commits. A name
    already taken in the country is a conflict. Writes an audit entry per changed field.
    """
    institution = _require_member(user)
    name = " ".join(str(values.get("name") or "").split())
    city = " ".join(str(values.get("city") or "").split())
    problems = []
    if not name or len(name) > 200:
        problems.append({"field": "name", "message": N_("The institution name is required (at most 200 characters).")})
    if len(city) > 120:
        problems.append({"field": "city", "message": N_("At most 120 characters.")})
    if values.get("type") not in INSTITUTION_TYPES:
        problems.append({"field": "type", "message": N_("Unknown institution type.")})
    if values.get("sector") not in SECTORS:
        problems.append({"field": "sector", "message": N_("Unknown sector.")})
    if problems:
        raise Invalid(N_("The institution was not saved: check the fields marked."), problems)
    cleaned = {"name": name, "city": city, "type": values["type"], "sector": values["sector"]}
    stale = PreconditionFailed(N_("Someone else changed the institution after you opened the page. Their values are shown "
                                  "beside yours: keep one, or combine them, and save again."),
                               [{"field": "version", "seen": expected_version, "current": institution.version}])
    if expected_version != institution.version:
        raise stale
    key = name_key(name)
    clash = session.scalar(select(Institution.id).where(Institution.name_key == key, Institution.country == institution.country,
                                                        Institution.id != institution.id))
    if clash is not None:
        raise Conflict(N_("An institution with this name is already registered in this country."),
                       [{"field": "name", "message": N_("An institution with this name is already registered in this country.")}])
    changed = [f for f in INSTITUTION_FIELDS if getattr(institution, f) != cleaned[f]]
    if not changed:
        return institution
    result = session.execute(update(Institution).where(Institution.id == institution.id, Institution.version == expected_version)
                             .values(**cleaned, name_key=key, version=Institution.version + 1)
                             .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        session.rollback()
        raise stale
    for f in changed:
        _audit(session, user.id, f"institution:{institution.id}", f, getattr(institution, f), cleaned[f])
    commit_or_conflict(session)
    session.refresh(institution)
    return institution


def _clip(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= 64 else text[:63] + "…"


def _audit(session: Session, actor_id: int | None, subject: str, field: str, old: object, new: object, comment: str = "") -> None:
    """One audit entry (never a secret: passwords and tokens are recorded as "changed", "reset", "sent")."""
    session.add(AuditEntry(user_id=actor_id, subject=subject, field=field, old=_clip(old), new=_clip(new), comment=comment))


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, name: str = "") -> str:
    """Create a personal API token and return it; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=(name or "").strip()[:100], token_hash=_hash_token(token), prefix=token[:10]))
    session.commit()
    return token


#: how precisely a token's last use is recorded (the write is skipped within this interval)
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


#: the owner of an unrevoked token, with the token's id and last use, in one statement (built once)
_TOKEN_OWNER = (select(User, ApiToken.id, ApiToken.last_used_at).join(ApiToken, ApiToken.user_id == User.id)
                .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None)))


def user_for_token(session: Session, token: str) -> User | None:
    """The active user owning this unrevoked token, or None; records the last use (to the minute)."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    found = session.execute(_TOKEN_OWNER, {"token_hash": _hash_token(token)}).one_or_none()
    if found is None or not found[0].active:
        return None
    user, token_id, last = found
    now = utcnow()
    if last is not None and last.tzinfo is None and now.tzinfo is not None:
        last = last.replace(tzinfo=now.tzinfo)
    if last is None or now - last >= TOKEN_USE_RESOLUTION:  # not one write per API request
        session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
        session.commit()
    return user


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
