"""SmtpMailer through the fake SMTP server (real SMTP on a socket), NullMailer and the settings choice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from services.runtime.errors import UpstreamUnavailable
from services.runtime.mailer import NullMailer, SmtpMailer, create_mailer
from services.runtime.settings import Settings
from tests.fakes.smtp_server import SmtpServer, smtp_server

__all__ = ["smtp_server"]  # the fixture, used by the tests below


def _settings(tmp_path: Path, **values: Any) -> Settings:
    """Plain SMTP (the fake offers no TLS) unless a test asks for STARTTLS."""
    values = {"smtp_starttls": False, **values}
    return Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[call-arg]


def _mailer_for(server: SmtpServer, tmp_path: Path, **values: Any) -> SmtpMailer:
    return SmtpMailer(_settings(tmp_path, smtp_host=server.host, smtp_port=server.port, **values))


async def test_a_sent_email_arrives_with_headers_text_and_html(
    smtp_server: SmtpServer, tmp_path: Path
) -> None:
    mailer = _mailer_for(smtp_server, tmp_path, smtp_from="GEKO <invites@geko.example>")

    await mailer.send(
        to="bob@example.com",
        subject="You are invited to Acme",
        text="Join here: https://geko.example/invite/abc\n",
        html="<p>Join <a href='https://geko.example/invite/abc'>here</a></p>\n",
    )

    received = await smtp_server.wait_for_message(timeout=5)
    message = received.message
    assert received.mail_from == "invites@geko.example"
    assert received.rcpt_to == ("bob@example.com",)
    assert received.authenticated_as is None
    assert message["From"] == "GEKO <invites@geko.example>"
    assert message["To"] == "bob@example.com"
    assert message["Subject"] == "You are invited to Acme"
    assert message["Date"]
    assert message["Message-ID"].endswith("@geko.example>")
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None
    assert plain.get_content() == "Join here: https://geko.example/invite/abc\n"
    assert html is not None
    assert "<a href='https://geko.example/invite/abc'>" in html.get_content()


async def test_text_only_email_is_a_single_part(smtp_server: SmtpServer, tmp_path: Path) -> None:
    await _mailer_for(smtp_server, tmp_path).send(to="bob@example.com", subject="Hi", text="Hello\n")

    received = await smtp_server.wait_for_message(timeout=5)
    assert not received.message.is_multipart()
    assert received.message.get_content() == "Hello\n"
    assert received.message["From"] == "GEKO <no-reply@geko.example>"


async def test_logs_in_when_a_username_is_set(tmp_path: Path) -> None:
    server = await SmtpServer(credentials=("mailer", "s3cret")).start()
    try:
        mailer = _mailer_for(server, tmp_path, smtp_username="mailer", smtp_password=SecretStr("s3cret"))

        await mailer.send(to="bob@example.com", subject="Hi", text="Hello\n")

        received = await server.wait_for_message(timeout=5)
        assert received.authenticated_as == "mailer"
        assert "AUTH" in server.commands
    finally:
        await server.stop()


async def test_wrong_password_is_upstream_unavailable(tmp_path: Path) -> None:
    server = await SmtpServer(credentials=("mailer", "s3cret")).start()
    try:
        mailer = _mailer_for(server, tmp_path, smtp_username="mailer", smtp_password=SecretStr("nope"))

        with pytest.raises(UpstreamUnavailable) as caught:
            await mailer.send(to="bob@example.com", subject="Hi", text="Hello\n")

        assert caught.value.message == "email could not be sent"
        assert server.messages == []
    finally:
        await server.stop()


@pytest.mark.parametrize("failure", ["unavailable", "reject"])
async def test_a_failing_server_is_upstream_unavailable(failure: Any, tmp_path: Path) -> None:
    server = await SmtpServer(failure=failure).start()
    try:
        with pytest.raises(UpstreamUnavailable) as caught:
            await _mailer_for(server, tmp_path).send(to="bob@example.com", subject="Hi", text="Hello\n")

        assert caught.value.message == "email could not be sent"
        assert server.messages == []
    finally:
        await server.stop()


async def test_nobody_listening_is_upstream_unavailable(tmp_path: Path) -> None:
    server = await SmtpServer().start()
    port = server.port
    await server.stop()  # the port is now closed: the connect is refused
    mailer = SmtpMailer(_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=port))

    with pytest.raises(UpstreamUnavailable):
        await mailer.send(to="bob@example.com", subject="Hi", text="Hello\n")


async def test_starttls_is_required_when_configured(smtp_server: SmtpServer, tmp_path: Path) -> None:
    # The fake offers no STARTTLS: a mailer told to use it must refuse to send in the clear.
    mailer = _mailer_for(smtp_server, tmp_path, smtp_starttls=True)

    with pytest.raises(UpstreamUnavailable):
        await mailer.send(to="bob@example.com", subject="Hi", text="Hello\n")

    assert smtp_server.messages == []
    assert "MAIL" not in smtp_server.commands


async def test_null_mailer_sends_nothing_and_says_so_once(tmp_path: Path) -> None:
    mailer = create_mailer(_settings(tmp_path))
    assert isinstance(mailer, NullMailer)

    with capture_logs() as logs:
        await mailer.send(to="bob@example.com", subject="Hi", text="Hello\n")
        await mailer.send(to="carol@example.com", subject="Hi", text="Hello\n")

    assert [entry["event"] for entry in logs] == ["email_disabled"]


def test_create_mailer_picks_smtp_when_a_host_is_set(tmp_path: Path) -> None:
    assert isinstance(create_mailer(_settings(tmp_path, smtp_host="mail.example")), SmtpMailer)
