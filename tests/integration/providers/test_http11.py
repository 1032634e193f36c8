"""Our HTTP/1.1 transport over real sockets: framing cut anywhere, keep-alive and its expiry, the failures the
provider errors map (timeouts, refused, cut, stale pooled connections), TLS, the pool bound, and env proxies
still mounted. The adapter tests on framing and on the stale-connection retry run here once more, over it."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.providers.base import ChatMessage, ChatRequest, ProviderConfig, create_adapter
from services.providers.http11 import MAX_BUFFERED_BODY, HTTP11Transport
from services.providers.transport import pooled_client
from tests.integration.providers.raw_http import raw_server, read_request
from tests.integration.providers.test_openai_transport_retry import (
    ANSWER,
    test_a_connection_dropped_before_any_answer_is_retried_once,
    test_a_second_drop_is_not_retried_again,
)
from tests.integration.providers.test_stream_framing import (
    test_a_gzip_encoded_stream_is_decoded,
    test_an_openai_stream_that_ends_inside_an_event_is_cut,
    test_anthropic_events_cut_anywhere_come_out_whole,
    test_ollama_lines_cut_anywhere_come_out_whole,
    test_openai_events_cut_anywhere_come_out_whole,
)

__all__ = [
    "test_a_connection_dropped_before_any_answer_is_retried_once",
    "test_a_gzip_encoded_stream_is_decoded",
    "test_a_second_drop_is_not_retried_again",
    "test_an_openai_stream_that_ends_inside_an_event_is_cut",
    "test_anthropic_events_cut_anywhere_come_out_whole",
    "test_ollama_lines_cut_anywhere_come_out_whole",
    "test_openai_events_cut_anywhere_come_out_whole",
]

Reply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The client the imported adapter tests get: ours."""
    async with pooled_client(timeout=httpx.Timeout(10.0)) as ours:
        yield ours


class Server:
    """A raw server answering each request on a connection with `reply`; counts connections and the ends
    of them it saw (EOF from the client)."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.requests: list[bytes] = []
        self.eofs = 0
        self.eof = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    self.requests.append(await read_request(reader))
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.eofs += 1
                    self.eof.set()
                    return
                await self.reply(reader, writer)
                if writer.is_closing():
                    return
        finally:
            writer.close()


@asynccontextmanager
async def serving(reply: Reply) -> AsyncIterator[tuple[str, Server]]:
    server = Server(reply)
    async with raw_server(server.serve) as base_url:
        yield base_url, server


def answer(*parts: bytes, pause: float = 0.0) -> Reply:
    """Writes `parts` one after another (each drained, `pause` apart), the connection kept open."""

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(pause)

    return reply


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


async def fetch(client: httpx.AsyncClient, url: str, method: str = "GET") -> tuple[bytes, int]:
    """The body and the number of iterations it came in."""
    async with client.stream(method, url) as response:
        pieces = [piece async for piece in response.aiter_raw()]
    return b"".join(pieces), len(pieces)


async def collect_into(pieces: list[bytes], body: AsyncIterator[bytes]) -> None:
    async for piece in body:
        pieces.append(piece)


@pytest.fixture
async def ours() -> AsyncIterator[httpx.AsyncClient]:
    async with pooled_client(timeout=httpx.Timeout(5.0)) as shared:
        yield shared


async def test_a_chunked_response_cut_at_every_byte_comes_out_whole(ours: httpx.AsyncClient) -> None:
    body = b"data: one\n\n" * 3
    wire = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Long: "
        + b"v" * 40
        + b"\r\n\r\n"
        + b"b;name=value\r\n"  # a chunk extension
        + body[:11]
        + b"\r\n"
        + chunked(body[11:20], body[20:])[:-2]
        + b"Trailer-Field: x\r\n\r\n"
    )
    for cut in range(1, len(wire)):
        async with serving(answer(wire[:cut], wire[cut:], pause=0.002)) as (base_url, _):
            assert (await fetch(ours, base_url))[0] == body, cut


async def test_many_chunks_in_one_read_come_in_one_iteration(ours: httpx.AsyncClient) -> None:
    events = [b"data: %d\n\n" % i for i in range(30)]

    async with serving(answer(CHUNKED_HEAD + chunked(*events))) as (base_url, _):
        assert await fetch(ours, base_url) == (b"".join(events), 1)


async def test_content_length_and_close_delimited_bodies(ours: httpx.AsyncClient) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB: reading pauses and resumes on the way
    with_length = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(big), big)

    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nfirst ")
        await writer.drain()
        writer.write(b"and last")
        writer.close()

    async with serving(answer(with_length)) as (base_url, _):
        assert (await fetch(ours, base_url))[0] == big
    async with serving(until_close) as (base_url, _):
        assert (await fetch(ours, base_url))[0] == b"first and last"


async def test_a_head_with_bare_line_feeds_is_read(ours: httpx.AsyncClient) -> None:
    async with serving(answer(b"HTTP/1.1 200 OK\nContent-Length: 2\nX: y\n\nok")) as (base_url, _):
        response = await ours.get(base_url)

    assert (response.headers["x"], response.text) == ("y", "ok")


async def test_a_reader_that_lags_behind_stops_the_socket_being_read(ours: httpx.AsyncClient) -> None:
    big = b"x" * (8 * 1024 * 1024)
    async with (
        serving(answer(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(big), big))) as (
            base_url,
            _,
        ),
        ours.stream("GET", base_url) as response,
    ):
        await asyncio.sleep(0.3)  # the server writes on meanwhile; the client stops taking it in
        pieces = [piece async for piece in response.aiter_raw()]

    assert len(pieces[0]) <= MAX_BUFFERED_BODY + 256 * 1024  # at most one socket read past the bound
    assert b"".join(pieces) == big


async def test_closing_the_client_closes_its_idle_connections() -> None:
    async with serving(answer(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")) as (base_url, server):
        client = pooled_client(timeout=httpx.Timeout(5.0))
        assert (await client.get(base_url)).text == "ok"
        await client.aclose()

        await asyncio.wait_for(server.eof.wait(), 2)


async def test_informational_responses_are_skipped_and_some_answers_have_no_body(
    ours: httpx.AsyncClient,
) -> None:
    async with serving(answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nx: y\r\n\r\n")) as (
        base_url,
        server,
    ):
        response = await ours.get(base_url)
        head = await ours.head(base_url)

    assert (response.status_code, response.headers["x"], response.content) == (204, "y", b"")
    assert (response.http_version, response.reason_phrase) == ("HTTP/1.1", "No Content")
    assert (head.status_code, head.content, server.connections) == (204, b"", 1)


async def test_a_connection_is_kept_alive_and_dropped_after_the_idle_limit() -> None:
    reply = answer(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
    transport = HTTP11Transport(keepalive_expiry=0.1)
    async with serving(reply) as (base_url, server), httpx.AsyncClient(transport=transport) as client:
        assert [(await client.get(base_url)).text for _ in range(2)] == ["ok", "ok"]
        assert (server.connections, server.eofs) == (1, 0)

        await asyncio.wait_for(server.eof.wait(), 2)  # closed by us once idle past the limit
        assert (await client.get(base_url)).text == "ok"

    assert (server.connections, server.eofs) == (2, 1)


async def test_cookies_an_answer_sets_are_never_sent_back() -> None:
    reply = answer(b"HTTP/1.1 200 OK\r\nset-cookie: lb=tenant-a; Path=/\r\ncontent-length: 2\r\n\r\nok")
    async with serving(reply) as (base_url, server), pooled_client(timeout=httpx.Timeout(5.0)) as client:
        first = await client.get(base_url)
        await client.get(base_url)

    assert first.headers["set-cookie"] == "lb=tenant-a; Path=/"
    assert len(server.requests) == 2
    assert all(b"cookie" not in request.lower() for request in server.requests)
    assert not client.cookies


async def test_a_pooled_connection_the_server_dropped_is_retried_on_a_new_one() -> None:
    body = json.dumps(ANSWER).encode()
    replies = 0

    async def answer_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal replies
        replies += 1
        if replies == 2:  # the second request: on the kept-alive connection, which the server drops
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    async with (
        serving(answer_then_hang_up) as (base_url, server),
        pooled_client(timeout=httpx.Timeout(5.0)) as client,
    ):
        adapter = create_adapter(ProviderConfig("openai", base_url + "/v1", "sk-test"), client)
        request = ChatRequest("gpt-4o-mini", [ChatMessage("user", "hello")])
        completions = [await adapter.complete(request) for _ in range(2)]

    assert [c.text for c in completions] == ["hi", "hi"]
    assert (replies, server.connections) == (3, 2)


async def test_waiting_too_long_for_bytes_is_a_read_timeout() -> None:
    async with (
        serving(answer(CHUNKED_HEAD + b"5\r\nfirst\r\n", pause=5)) as (base_url, _),
        pooled_client(timeout=httpx.Timeout(5.0, read=0.1)) as client,
    ):
        async with client.stream("GET", base_url) as response:
            with pytest.raises(httpx.ReadTimeout):
                [piece async for piece in response.aiter_raw()]
        with pytest.raises(httpx.ReadTimeout):
            await client.get(base_url + "/silent")  # the server is still pausing on the first connection


async def test_each_wait_for_bytes_has_the_whole_read_timeout() -> None:
    pieces = [CHUNKED_HEAD] + [b"1\r\n%d\r\n" % i for i in range(5)] + [b"0\r\n\r\n"]
    async with (
        serving(answer(*pieces, pause=0.1)) as (base_url, _),
        pooled_client(timeout=httpx.Timeout(5.0, read=0.3)) as client,
    ):
        assert (await fetch(client, base_url))[0] == b"01234"  # 0.6 s in all, never 0.3 s without a byte


async def test_a_header_that_would_inject_another_is_refused(ours: httpx.AsyncClient) -> None:
    async with serving(answer(b"HTTP/1.1 204 No Content\r\n\r\n")) as (base_url, server):
        for value in ["a\r\nx-injected: 1", "a\nb", "a\x00b"]:
            with pytest.raises(httpx.LocalProtocolError):
                await ours.get(base_url, headers={"x-value": value})
        assert (await ours.get(base_url, headers={"x-value": "fine"})).status_code == 204

    assert len(server.requests) == 1


async def test_a_refused_connection_is_a_connect_error(ours: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(httpx.ConnectError):
        await ours.get(f"http://127.0.0.1:{port}/")


async def test_a_body_cut_by_the_server_is_a_protocol_error(ours: httpx.AsyncClient) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(CHUNKED_HEAD + b"5\r\nfir")
        writer.close()

    pieces: list[bytes] = []
    async with serving(cut) as (base_url, _), ours.stream("GET", base_url) as response:
        with pytest.raises(httpx.RemoteProtocolError, match="complete message body"):
            await collect_into(pieces, response.aiter_raw())

    assert pieces == [b"fir"]


async def test_a_malformed_response_is_a_protocol_error(ours: httpx.AsyncClient) -> None:
    for wire in [
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        CHUNKED_HEAD + b"zz\r\n",
    ]:
        async with serving(answer(wire)) as (base_url, _):
            with pytest.raises(httpx.RemoteProtocolError):
                await ours.get(base_url)


async def test_closing_a_response_mid_body_closes_the_connection(ours: httpx.AsyncClient) -> None:
    async with serving(answer(CHUNKED_HEAD + b"5\r\nfirst\r\n")) as (base_url, server):
        async with ours.stream("GET", base_url) as response:
            assert await anext(response.aiter_raw()) == b"first"

        await asyncio.wait_for(server.eof.wait(), 2)


async def test_a_full_pool_makes_requests_wait_up_to_the_pool_timeout() -> None:
    transport = HTTP11Transport(max_connections=1)
    async with (
        serving(answer(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na")) as (
            base_url,
            server,
        ),
        httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, pool=0.1)) as client,
    ):
        async with client.stream("GET", base_url):
            with pytest.raises(httpx.PoolTimeout):
                await client.get(base_url)
            waiting = asyncio.create_task(client.get(base_url, timeout=httpx.Timeout(5.0)))
            await asyncio.sleep(0.05)
            assert not waiting.done()

        assert (await waiting).text == "a"  # on the connection the first response gave back
    assert server.connections == 1


async def test_waiting_requests_are_served_first_come_first_served() -> None:
    transport = HTTP11Transport(max_connections=1)
    async with (
        serving(answer(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na")) as (
            base_url,
            server,
        ),
        httpx.AsyncClient(transport=transport) as client,
    ):
        async with client.stream("GET", base_url + "/first"):
            waiting = asyncio.create_task(client.get(base_url + "/waiting"))
            await asyncio.sleep(0.05)
        # Released to the request that waited, not taken by the one its holder sends next.
        assert (await client.get(base_url + "/next")).text == "a"
        assert (await waiting).text == "a"

    assert [request.split(b" ")[1] for request in server.requests] == [b"/first", b"/waiting", b"/next"]


def self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh certificate for 127.0.0.1, and a client context that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    return server, ssl.create_default_context(cafile=cert_file)


async def test_tls_verifies_the_server_with_the_given_context(tmp_path: Path) -> None:
    server_tls, trusting = self_signed(tmp_path)
    server = Server(answer(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecret"))
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=server_tls)
    url = f"https://127.0.0.1:{listening.sockets[0].getsockname()[1]}/"
    try:
        async with pooled_client(timeout=httpx.Timeout(5.0), tls=trusting) as client:
            assert [(await client.get(url)).text for _ in range(2)] == ["secret", "secret"]
        async with pooled_client(timeout=httpx.Timeout(5.0)) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(url)
    finally:
        listening.close()
        await listening.wait_closed()
    assert server.connections == 1  # both requests on one; the refused handshake never reached it


def test_proxies_named_by_the_environment_are_still_mounted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")

    client = pooled_client(timeout=httpx.Timeout(5.0))

    proxied = client._transport_for_url(httpx.URL("https://api.openai.com/v1"))
    assert isinstance(proxied, httpx.AsyncHTTPTransport)
    assert isinstance(client._transport_for_url(httpx.URL("https://localhost:8443/")), HTTP11Transport)
    assert isinstance(client._transport_for_url(httpx.URL("http://api.openai.com/")), HTTP11Transport)
