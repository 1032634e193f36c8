"""Outgoing email: one small interface, an SMTP implementation, and a null one for installations without SMTP.

Services depend on `Mailer` only, so the same code sends through a real relay in production and through the
fake SMTP server of tests/fakes in tests (configured by host and port, nothing else). smtplib is blocking, so
each message is sent in a worker thread; the event loop never waits on the network.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol

from services.runtime.errors import UpstreamUnavailable
from services.runtime.logging import get_logger
from services.runtime.settings import Settings

SEND_FAILED = "email could not be sent"

log = get_logger(__name__)


class Mailer(Protocol):
    """Sends one email; failures are raised as `UpstreamUnavailable`."""

    async def send(self, *, to: str, subject: str, text: str, html: str | None = None) -> None: ...


class SmtpMailer:
    """Sends through the SMTP server of the settings: STARTTLS when asked, AUTH when a username is set."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise ValueError("SmtpMailer needs settings.smtp_host")
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._username = settings.smtp_username
        self._password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
        self._sender = settings.smtp_from
        self._starttls = settings.smtp_starttls
        self._timeout = settings.smtp_timeout_seconds

    async def send(self, *, to: str, subject: str, text: str, html: str | None = None) -> None:
        message = self._message(to=to, subject=subject, text=text, html=html)
        try:
            await asyncio.to_thread(self._deliver, message)
        except (smtplib.SMTPException, OSError) as error:  # OSError: refused, unreachable, timed out, TLS
            log.warning("email_send_failed", host=self._host, port=self._port, error=repr(error))
            raise UpstreamUnavailable(SEND_FAILED) from None
        log.info("email_sent", message_id=message["Message-ID"])

    def _message(self, *, to: str, subject: str, text: str, html: str | None) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=_domain_of(self._sender))
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message

    def _deliver(self, message: EmailMessage) -> None:
        """Blocking: connect, optionally STARTTLS and AUTH, send, QUIT (in a worker thread)."""
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as client:
            client.ehlo()
            if self._starttls:
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if self._username:
                client.login(self._username, self._password)
            client.send_message(message)


class NullMailer:
    """For installations without SMTP: sends nothing, and says so in the log once."""

    def __init__(self) -> None:
        self._announced = False

    async def send(self, *, to: str, subject: str, text: str, html: str | None = None) -> None:
        if not self._announced:
            self._announced = True
            log.info("email_disabled", hint="set GEKO_SMTP_HOST to send email")


def create_mailer(settings: Settings) -> Mailer:
    """An `SmtpMailer` when SMTP is configured, else a `NullMailer`."""
    return SmtpMailer(settings) if settings.smtp_host else NullMailer()


def _domain_of(address: str) -> str | None:
    """The domain of a `Name <user@domain>` address, for Message-IDs (None: the stdlib uses the host name)."""
    _, email = parseaddr(address)
    return email.rpartition("@")[2] or None
