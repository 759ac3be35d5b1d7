"""Glue between the database and the domain: transactions, access rules, audit."""
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError


def N_(message: str) -> str:
    """Mark a message for the interface catalogs; the web layer translates it when shown."""
    return message


class ServiceError(Exception):
    """Base of the errors a view turns into a 4xx answer."""

    status = 400

    def __init__(self, message: str, details: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Invalid(ServiceError):
    status = 422


class Conflict(ServiceError):
    status = 409


class PreconditionFailed(ServiceError):
    """The record changed since the writer read it (a stale version): HTTP 412 in the API, a conflict page in the web."""

    status = 412


class PreconditionRequired(ServiceError):
    """A write to an existing record named no version it was based on: HTTP 428."""

    status = 428


def commit_or_conflict(session: Session) -> None:
    """Commit; a unique-key or version race that slipped past the checks becomes a 409, never a 500."""
    try:
        session.commit()
    except (IntegrityError, StaleDataError) as exc:
        session.rollback()
        raise Conflict(N_("Someone else saved the same record at the same moment. Reload and try again.")) from exc
