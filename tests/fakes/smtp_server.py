"""A small real SMTP server for tests: asyncio streams on 127.0.0.1:0, plain text (no TLS), messages kept.

It follows the parts of RFC 5321 a submission client uses:
- §3.1 / §4.2.3: the session opens with 220; a server that cannot serve answers 421 and closes instead.
- §4.1.1.1: EHLO (multi-line 250 listing extensions) and HELO; either resets the transaction.
- §4.1.1.2, §4.1.1.3: MAIL FROM:<path> [params], RCPT TO:<path>; a null reverse-path `<>` is allowed.
- §4.1.1.4 and §4.5.2: DATA answers 354, the content ends with CRLF.CRLF, a leading dot is un-stuffed.
- §4.1.1.5, §4.1.1.9, §4.1.1.10: RSET, NOOP, QUIT (221, then the server closes).
- §4.1.4 and §4.2.4: commands out of order get 503, unknown ones 500, bad arguments 501.
- §4.5.3.1: command lines are limited (512 octets here), message size is advertised with SIZE (RFC 1870).
Extensions advertised: SIZE (RFC 1870), 8BITMIME (RFC 6152), AUTH PLAIN LOGIN (RFC 4954, RFC 4616 for
PLAIN). STARTTLS is not offered: clients under test run with `smtp_starttls=False`.

Failure modes for error tests: `failure="unavailable"` greets with 421 and closes (§3.1), `failure="reject"`
answers 554 to the end of DATA (a failed transaction, §4.2.5) and keeps nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Literal

import pytest_asyncio

HOSTNAME = "smtp.fake.test"
MAX_COMMAND_LINE = 512  # RFC 5321 §4.5.3.1.4, CRLF included
MAX_MESSAGE_SIZE = 10 * 1024 * 1024
_PATH = re.compile(r"^(?P<verb>FROM|TO):\s*<(?P<address>[^<>]*)>(?P<params>(\s+\S+)*)\s*$", re.IGNORECASE)

Failure = Literal["unavailable", "reject"]


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One accepted message: its envelope, who authenticated (if anyone), and the parsed content."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    authenticated_as: str | None
    data: bytes
    message: EmailMessage


class SmtpServer:
    """Start with `await start()`, point a client at `host`:`port`, read `messages` or `wait_for_message()`.

    With `credentials` set, AUTH must present them (535 otherwise) and MAIL requires AUTH first (530);
    without, any AUTH succeeds and none is needed.
    """

    def __init__(self, *, credentials: tuple[str, str] | None = None, failure: Failure | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self.credentials = credentials
        self.failure = failure
        self.messages: list[ReceivedMessage] = []
        self.commands: list[str] = []  # every command verb received, in order (AUTH arguments not kept)
        self._taken = 0
        self._arrived = asyncio.Condition()
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self) -> SmtpServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._sessions):
            task.cancel()
        for task in list(self._sessions):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_for_message(self, timeout: float = 10.0) -> ReceivedMessage:
        """The next message not yet returned by this method, waiting up to `timeout` seconds for it."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.messages) > self._taken), timeout)
            message = self.messages[self._taken]
            self._taken += 1
            return message

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        try:
            await _Session(self, reader, writer).run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-conversation
        except asyncio.LimitOverrunError:
            # A line past the stream buffer (64 KiB): far beyond §4.5.3.1's limits; give up the session.
            writer.write(b"500 5.5.6 Line too long\r\n")
        finally:
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _keep(self, message: ReceivedMessage) -> None:
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()


class _Session:
    """One client connection: the RFC 5321 state machine (greeted → MAIL → RCPT → DATA)."""

    def __init__(
        self, server: SmtpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.greeted = False
        self.authenticated_as: str | None = None
        self.mail_from: str | None = None
        self.rcpt_to: list[str] = []

    async def run(self) -> None:
        if self.server.failure == "unavailable":
            await self.reply("421 4.3.2 Service not available, closing transmission channel")
            return
        await self.reply(f"220 {HOSTNAME} ESMTP GEKO test server")
        while True:
            line = await self.read_line()
            if line is None:
                return
            if len(line) + 2 > MAX_COMMAND_LINE:
                await self.reply("500 5.5.6 Line too long")
                continue
            verb, _, argument = line.partition(" ")
            verb = verb.upper()
            self.server.commands.append(verb)
            if verb == "QUIT":
                await self.reply(f"221 2.0.0 {HOSTNAME} closing connection")
                return
            handler = getattr(self, f"do_{verb.lower()}", None) if verb.isalpha() else None
            if handler is None:
                await self.reply("500 5.5.2 Command not recognized")
            else:
                await handler(argument.strip())

    # ---- commands ----

    async def do_ehlo(self, argument: str) -> None:
        if not argument:
            await self.reply("501 5.5.4 EHLO needs a domain or address literal")
            return
        self.greeted = True
        self.reset()
        await self.reply(
            f"250-{HOSTNAME} greets {argument}",
            f"250-SIZE {MAX_MESSAGE_SIZE}",
            "250-8BITMIME",
            "250 AUTH PLAIN LOGIN",
        )

    async def do_helo(self, argument: str) -> None:
        if not argument:
            await self.reply("501 5.5.4 HELO needs a domain")
            return
        self.greeted = True
        self.reset()
        await self.reply(f"250 {HOSTNAME}")

    async def do_auth(self, argument: str) -> None:
        mechanism, _, initial = argument.partition(" ")
        mechanism = mechanism.upper()
        if not self.greeted:
            await self.reply("503 5.5.1 Send EHLO first")
        elif self.authenticated_as is not None:
            await self.reply("503 5.5.1 Already authenticated")
        elif self.mail_from is not None:
            await self.reply("503 5.5.1 AUTH not allowed during a mail transaction")
        elif mechanism == "PLAIN":
            await self.auth_plain(initial)
        elif mechanism == "LOGIN":
            await self.auth_login(initial)
        else:
            await self.reply("504 5.5.4 Unrecognized authentication type")

    async def auth_plain(self, initial: str) -> None:
        response = initial or await self.challenge("")
        decoded = _b64decode(response) if response is not None else None
        parts = decoded.split("\0") if decoded is not None else []
        if len(parts) != 3:
            await self.reply("501 5.5.2 Cannot decode the PLAIN response")
            return
        await self.finish_auth(parts[1], parts[2])

    async def auth_login(self, initial: str) -> None:
        username_b64 = initial or await self.challenge("VXNlcm5hbWU6")  # "Username:"
        username = _b64decode(username_b64) if username_b64 is not None else None
        password_b64 = await self.challenge("UGFzc3dvcmQ6") if username is not None else None  # "Password:"
        password = _b64decode(password_b64) if password_b64 is not None else None
        if username is None or password is None:
            await self.reply("501 5.5.2 Cannot decode the LOGIN response")
            return
        await self.finish_auth(username, password)

    async def finish_auth(self, username: str, password: str) -> None:
        if self.server.credentials is not None and (username, password) != self.server.credentials:
            await self.reply("535 5.7.8 Authentication credentials invalid")
            return
        self.authenticated_as = username
        await self.reply("235 2.7.0 Authentication successful")

    async def do_mail(self, argument: str) -> None:
        match = _PATH.match(argument)
        if not self.greeted:
            await self.reply("503 5.5.1 Send EHLO/HELO first")
        elif self.mail_from is not None:
            await self.reply("503 5.5.1 Nested MAIL command")
        elif self.server.credentials is not None and self.authenticated_as is None:
            await self.reply("530 5.7.0 Authentication required")
        elif match is None or match["verb"].upper() != "FROM":
            await self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
        else:
            self.mail_from = match["address"]
            await self.reply("250 2.1.0 OK")

    async def do_rcpt(self, argument: str) -> None:
        match = _PATH.match(argument)
        if self.mail_from is None:
            await self.reply("503 5.5.1 Need MAIL before RCPT")
        elif match is None or match["verb"].upper() != "TO" or not match["address"]:
            await self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
        else:
            self.rcpt_to.append(match["address"])
            await self.reply("250 2.1.5 OK")

    async def do_data(self, argument: str) -> None:
        if argument:
            await self.reply("501 5.5.4 DATA takes no argument")
            return
        if self.mail_from is None or not self.rcpt_to:
            await self.reply("503 5.5.1 Need RCPT before DATA")
            return
        await self.reply("354 End data with <CR><LF>.<CR><LF>")
        data = await self.read_data()
        if data is None:
            await self.reply("552 5.3.4 Message size exceeds fixed maximum message size")
        elif self.server.failure == "reject":
            await self.reply("554 5.6.0 Transaction failed")
        else:
            # Parsed with local line endings, as a mail store keeps it; `data` stays as it came over the wire.
            message = BytesParser(policy=policy.default).parsebytes(data.replace(b"\r\n", b"\n"))
            assert isinstance(message, EmailMessage)
            await self.server._keep(
                ReceivedMessage(
                    mail_from=self.mail_from,
                    rcpt_to=tuple(self.rcpt_to),
                    authenticated_as=self.authenticated_as,
                    data=data,
                    message=message,
                )
            )
            await self.reply(f"250 2.0.0 OK queued as {len(self.server.messages)}")
        self.reset()

    async def do_rset(self, argument: str) -> None:
        self.reset()
        await self.reply("250 2.0.0 OK")

    async def do_noop(self, argument: str) -> None:
        await self.reply("250 2.0.0 OK")

    # ---- wire ----

    def reset(self) -> None:
        self.mail_from = None
        self.rcpt_to = []

    async def reply(self, *lines: str) -> None:
        self.writer.write(b"".join(line.encode() + b"\r\n" for line in lines))
        await self.writer.drain()

    async def read_line(self) -> str | None:
        """One command line without its CRLF; None when the client closed the connection."""
        try:
            raw = await self.reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            return None  # closed, possibly mid-line
        return raw.rstrip(b"\r\n").decode("utf-8", errors="replace")

    async def challenge(self, text: str) -> str | None:
        """A 334 continuation; the client's answer, or None when it cancelled with `*` (RFC 4954 §4)."""
        await self.reply(f"334 {text}")
        line = await self.read_line()
        return None if line is None or line == "*" else line

    async def read_data(self) -> bytes | None:
        """The content up to the lone `.` line, dot-unstuffed; None when it exceeded the size limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            raw = await self.reader.readuntil(b"\r\n")
            if raw == b".\r\n":
                break
            if raw.startswith(b"."):
                raw = raw[1:]
            size += len(raw)
            if size <= MAX_MESSAGE_SIZE:
                chunks.append(raw)
        return b"".join(chunks) if size <= MAX_MESSAGE_SIZE else None


def _b64decode(text: str) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


@pytest_asyncio.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    """A started fake SMTP server (no credentials required, no failure); stopped after the test."""
    server = await SmtpServer().start()
    try:
        yield server
    finally:
        await server.stop()
