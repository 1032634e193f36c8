"""The fake SMTP server against the standard library's client: only the wire protocol is under test."""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from typing import TypeVar

import pytest

from tests.fakes.smtp_server import SmtpServer, smtp_server

__all__ = ["smtp_server"]  # the fixture, used by the tests below

T = TypeVar("T")


async def _blocking(work: Callable[[], T]) -> T:
    """smtplib blocks; the fake runs on this loop, so the client runs in a thread."""
    return await asyncio.to_thread(work)


def _client(server: SmtpServer) -> smtplib.SMTP:
    return smtplib.SMTP(server.host, server.port, timeout=5)


async def test_a_message_arrives_with_envelope_headers_and_unstuffed_body(smtp_server: SmtpServer) -> None:
    message = EmailMessage()
    message["From"] = "GEKO <no-reply@geko.example>"
    message["To"] = "bob@example.com"
    message["Subject"] = "Hello"
    # A line that starts with a dot is stuffed by the client (RFC 5321 §4.5.2) and must arrive unchanged.
    message.set_content("first line\n.leading dot\n..two dots\nlast line\n")

    def send() -> dict[str, tuple[int, bytes]]:
        with _client(smtp_server) as client:
            return client.send_message(message, to_addrs=["bob@example.com", "carol@example.com"])

    refused = await _blocking(send)

    assert refused == {}
    received = await smtp_server.wait_for_message(timeout=5)
    assert received.mail_from == "no-reply@geko.example"
    assert received.rcpt_to == ("bob@example.com", "carol@example.com")
    assert received.authenticated_as is None
    assert received.message["Subject"] == "Hello"
    assert received.message["To"] == "bob@example.com"
    assert received.message.get_content() == "first line\n.leading dot\n..two dots\nlast line\n"
    assert smtp_server.commands[:1] == ["EHLO"]
    assert smtp_server.commands[-1] == "QUIT"


async def test_ehlo_advertises_size_8bitmime_and_auth(smtp_server: SmtpServer) -> None:
    def ehlo() -> tuple[int, dict[str, str]]:
        with _client(smtp_server) as client:
            code, _ = client.ehlo("client.example")
            return code, dict(client.esmtp_features)

    code, features = await _blocking(ehlo)

    assert code == 250
    assert features["size"] == "10485760"
    assert "8bitmime" in features
    assert features["auth"].split() == ["PLAIN", "LOGIN"]
    assert "starttls" not in features


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_auth_with_the_right_credentials_then_a_message(mechanism: str) -> None:
    server = await SmtpServer(credentials=("mailer", "s3cret")).start()
    try:

        def send() -> tuple[int, bytes]:
            with _client(server) as client:
                client.ehlo()
                client.user, client.password = "mailer", "s3cret"
                authobject = client.auth_plain if mechanism == "PLAIN" else client.auth_login
                # No initial response: the server's 334 challenges are exercised too.
                reply = client.auth(mechanism, authobject, initial_response_ok=False)
                client.sendmail("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nbody\r\n")
                return reply

        code, _ = await _blocking(send)

        assert code == 235
        received = await server.wait_for_message(timeout=5)
        assert received.authenticated_as == "mailer"
        assert received.message.get_content() == "body\n"
    finally:
        await server.stop()


async def test_wrong_credentials_are_refused_and_mail_needs_auth() -> None:
    server = await SmtpServer(credentials=("mailer", "s3cret")).start()
    try:

        def attempt() -> tuple[str, tuple[int, bytes]]:
            with _client(server) as client:
                client.ehlo()
                try:
                    client.login("mailer", "wrong")
                except smtplib.SMTPAuthenticationError as error:
                    refused = f"{error.smtp_code}"
                return refused, client.mail("a@example.com")

        refused, mail_reply = await _blocking(attempt)

        assert refused == "535"
        assert mail_reply[0] == 530
        assert server.messages == []
    finally:
        await server.stop()


async def test_commands_out_of_order_and_unknown_ones(smtp_server: SmtpServer) -> None:
    def conversation() -> list[int]:
        with _client(smtp_server) as client:
            codes = [client.docmd("MAIL", "FROM:<a@example.com>")[0]]  # before EHLO
            client.ehlo()
            codes.append(client.docmd("RCPT", "TO:<b@example.com>")[0])  # before MAIL
            codes.append(client.docmd("DATA")[0])  # before RCPT
            codes.append(client.docmd("MAIL", "FROM:<a@example.com>")[0])
            codes.append(client.docmd("MAIL", "FROM:<a@example.com>")[0])  # nested
            codes.append(client.docmd("RCPT", "TO:b@example.com")[0])  # no angle brackets
            codes.append(client.docmd("BOGUS")[0])
            codes.append(client.noop()[0])
            codes.append(client.rset()[0])
            codes.append(client.docmd("RCPT", "TO:<b@example.com>")[0])  # RSET ended the transaction
            codes.append(client.helo("client.example")[0])
            return codes

    codes = await _blocking(conversation)

    assert codes == [503, 503, 503, 250, 503, 501, 500, 250, 250, 503, 250]
    assert smtp_server.messages == []


async def test_unavailable_server_greets_with_421() -> None:
    server = await SmtpServer(failure="unavailable").start()
    try:
        with pytest.raises(smtplib.SMTPConnectError) as caught:
            await _blocking(lambda: _client(server))
        assert caught.value.smtp_code == 421
    finally:
        await server.stop()


async def test_rejecting_server_answers_554_after_data_and_keeps_nothing() -> None:
    server = await SmtpServer(failure="reject").start()
    try:

        def send() -> None:
            with _client(server) as client:
                client.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\nbody\r\n")

        with pytest.raises(smtplib.SMTPDataError) as caught:
            await _blocking(send)
        assert caught.value.smtp_code == 554
        assert server.messages == []
    finally:
        await server.stop()


async def test_wait_for_message_times_out_when_nothing_arrives(smtp_server: SmtpServer) -> None:
    with pytest.raises(TimeoutError):
        await smtp_server.wait_for_message(timeout=0.05)
