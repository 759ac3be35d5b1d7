"""Outgoing e-mail: SMTP when ``MAIL_SERVER`` is set, the app log when not, a list in tests.

Settings (instance config): ``MAIL_SERVER``, ``MAIL_PORT`` (587), ``MAIL_USERNAME``,
``MAIL_PASSWORD``, ``MAIL_USE_TLS`` (True: STARTTLS), ``MAIL_FROM``, ``MAIL_BACKEND``
("smtp", "log" or "memory"; default: "smtp" with a server, "log" without). With "memory" the
messages are kept in ``app.extensions["mail_outbox"]`` (tests, the browser test).

Messages are written in the recipient's language: the builders below translate their text with
Babel under :func:`flask_babel.force_locale`.
"""
from __future__ import annotations

import smtplib
import threading
from dataclasses import dataclass
from email.message import EmailMessage

from flask import Flask, current_app
from flask_babel import force_locale
from flask_babel import gettext as _

LANGUAGES = ("es", "en", "pt")


@dataclass(frozen=True)
class Message:
    """One plain-text message, as sent."""

    to: str
    subject: str
    body: str
    language: str


def outbox(app: Flask | None = None) -> list[Message]:
    """The in-memory outbox (``MAIL_BACKEND="memory"``), created on first use."""
    app = app or current_app
    return app.extensions.setdefault("mail_outbox", [])


def backend(app: Flask) -> str:
    """Where messages go: "memory", "smtp" or "log"."""
    chosen = app.config.get("MAIL_BACKEND")
    if chosen:
        return chosen
    return "smtp" if app.config.get("MAIL_SERVER") else "log"


def send(message: Message) -> None:
    """Deliver one message (needs an app context). SMTP delivery runs in the background; failures are
    logged for the operator, never shown to the requester (that would tell whether an account exists).
    """
    app = current_app._get_current_object()
    kind = backend(app)
    if kind == "memory":
        outbox(app).append(message)
        return
    if kind == "log":
        app.logger.warning("No MAIL_SERVER set: the message below was not sent.\nTo: %s\nSubject: %s\n\n%s",
                           message.to, message.subject, message.body)
        return
    mail = EmailMessage()
    mail["From"] = app.config.get("MAIL_FROM") or app.config.get("MAIL_USERNAME") or "rubric@localhost"
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Content-Language"] = message.language
    mail.set_content(message.body)
    # delivered in the background: how long the SMTP server takes must not tell whether an account exists
    threading.Thread(target=_deliver, args=(app, mail), daemon=True).start()


def _deliver(app: Flask, mail: EmailMessage) -> None:
    config = app.config
    try:
        with smtplib.SMTP(config["MAIL_SERVER"], int(config.get("MAIL_PORT") or 587), timeout=20) as smtp:
            if config.get("MAIL_USE_TLS", True):
                smtp.starttls()
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or "")
            smtp.send_message(mail)
    except (OSError, smtplib.SMTPException):
        app.logger.exception("Could not send the message %r to %s", mail["Subject"], mail["To"])


def _language(language: str | None) -> str:
    return language if language in LANGUAGES else current_app.config.get("BABEL_DEFAULT_LOCALE", "es")


def _compose(to: str, language: str | None, subject, paragraphs) -> Message:
    """Translate ``subject`` and ``paragraphs`` (callables, run under the recipient's locale)."""
    lang = _language(language)
    with force_locale(lang):
        text = "\n\n".join(p() for p in paragraphs) + "\n\n-- \n" + _("Inclusion self-assessment (ILO / CINTERFOR)") + "\n"
        return Message(to=to, subject=subject(), body=text, language=lang)


def confirmation_message(to: str, language: str | None, link: str) -> Message:
    """The link that confirms a new registration's e-mail address and opens the account."""
    return _compose(to, language, lambda: _("Confirm your e-mail address"), [
        lambda: _("Someone (hopefully you) registered an institution with this e-mail address."),
        lambda: _("To confirm the address and open your account, follow this link within 48 hours:"),
        lambda: link,
        lambda: _("If you did not register, ignore this message: nothing will be activated."),
    ])


def already_registered_message(to: str, language: str | None, reset_link: str) -> Message:
    """To the owner of an existing account when someone registers again with the address."""
    return _compose(to, language, lambda: _("You already have an account"), [
        lambda: _("Someone tried to register with this e-mail address, which already has an account."),
        lambda: _("If it was you and you do not remember your password, choose a new one here:"),
        lambda: reset_link,
        lambda: _("If it was not you, ignore this message: your account has not changed."),
    ])


def reset_message(to: str, language: str | None, link: str) -> Message:
    """A single-use link to choose a new password."""
    return _compose(to, language, lambda: _("Choose a new password"), [
        lambda: _("We received a request to choose a new password for this e-mail address."),
        lambda: _("Follow this link within one hour; it works only once:"),
        lambda: link,
        lambda: _("If you did not ask for it, ignore this message: your password has not changed."),
    ])


def invitation_message(to: str, language: str | None, link: str, institution: str, inviter: str) -> Message:
    """An invitation to join an institution's account."""
    return _compose(to, language, lambda: _("Invitation to %(institution)s", institution=institution), [
        lambda: _("%(inviter)s invites you to assess the inclusion of migrants and refugees with %(institution)s.",
                  inviter=inviter, institution=institution),
        lambda: _("To accept, follow this link within 7 days, then choose your name and password:"),
        lambda: link,
        lambda: _("If you do not expect this invitation, ignore this message."),
    ])
