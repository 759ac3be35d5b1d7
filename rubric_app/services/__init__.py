"""Glue between the database and the domain: transactions, access rules, audit."""


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
