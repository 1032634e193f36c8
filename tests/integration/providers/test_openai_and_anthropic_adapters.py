"""What the OpenAI-compatible and the Anthropic adapters do alike, each against its fake over real HTTP:
text deltas then one end with usage, every error mode mapped to a clear code and reason, cancellation that
reaches the upstream, timeouts, and the key never shown."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from services.providers.base import (
    ChatMessage,
    ChatRequest,
    ProviderAdapter,
    ProviderConfig,
    StreamEnd,
    StreamEvent,
    TextDelta,
    Usage,
    create_adapter,
)
from services.runtime.errors import ErrorCode, GekoError
from tests.fakes import anthropic_server, openai_server
from tests.fakes.http_fake import FakeHttpServer, Mode, Script
from tests.integration.providers.adapter_checks import ask, client, collect, expect_error

__all__ = ["client"]

WORDS = [TextDelta("Hello"), TextDelta(" from"), TextDelta(" the"), TextDelta(" fake"), TextDelta(" model.")]


@dataclass
class Provider:
    """A started fake of one provider and how to reach it."""

    server: FakeHttpServer
    script: Script
    kind: str
    base_url: str
    key: str
    model: str
    path: str

    def adapter(
        self, client: httpx.AsyncClient, *, key: str | None = None, read_timeout: float = 10.0
    ) -> ProviderAdapter:
        config = ProviderConfig(
            self.kind,  # type: ignore[arg-type]
            self.base_url,
            key or self.key,
            connect_timeout=2.0,
            read_timeout=read_timeout,
        )
        return create_adapter(config, client)

    def request(self, model: str | None = None) -> ChatRequest:
        return ChatRequest(
            model or self.model,
            [ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello.")],
            max_output_tokens=64,
        )


@pytest.fixture(params=["openai", "anthropic"])
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[Provider]:
    if request.param == "openai":
        fake_openai = openai_server.OpenAIServer()
        await fake_openai.start()
        server: FakeHttpServer = fake_openai
        found = Provider(
            fake_openai,
            fake_openai.script,
            "openai",
            fake_openai.api_base,
            openai_server.API_KEY,
            "gpt-4o-mini",
            "/v1/chat/completions",
        )
    else:
        fake_anthropic = anthropic_server.AnthropicServer()
        await fake_anthropic.start()
        server = fake_anthropic
        found = Provider(
            fake_anthropic,
            fake_anthropic.script,
            "anthropic",
            fake_anthropic.base_url,
            anthropic_server.API_KEY,
            "claude-haiku-4-5",
            "/v1/messages",
        )
    try:
        yield found
    finally:
        await server.stop()


async def test_stream_yields_the_words_in_order_then_one_end_with_usage(
    provider: Provider, client: httpx.AsyncClient
) -> None:
    events = await collect(provider.adapter(client).stream(provider.request()))

    assert events == [*WORDS, StreamEnd("stop", Usage(input_tokens=12, output_tokens=6))]


async def test_complete_returns_the_whole_answer_with_usage(
    provider: Provider, client: httpx.AsyncClient
) -> None:
    completion = await provider.adapter(client).complete(provider.request())

    assert completion.text == "Hello from the fake model."
    assert completion.tool_calls == ()
    assert completion.usage == Usage(12, 6)
    assert completion.finish_reason == "stop"


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "complete"])
async def test_no_usage_from_the_provider_is_no_usage(
    provider: Provider, client: httpx.AsyncClient, streamed: bool
) -> None:
    provider.script.mode = "no_usage"

    answer = await ask(provider.adapter(client), provider.request(), streamed=streamed)

    if isinstance(answer, list):
        assert answer == [*WORDS, StreamEnd("stop", None)]
    else:
        assert answer.usage is None


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "complete"])
@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (429, ErrorCode.RATE_LIMITED, "PROVIDER_RATE_LIMITED"),
        (500, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_ERROR"),
        (503, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_ERROR"),
        (529, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_ERROR"),
        (400, ErrorCode.BAD_USER_INPUT, "PROVIDER_REJECTED"),
    ],
)
async def test_a_failed_status_maps_to_a_clear_error(
    provider: Provider, client: httpx.AsyncClient, streamed: bool, status: int, code: ErrorCode, reason: str
) -> None:
    provider.script.mode = "fail_status"
    provider.script.fail_status = status

    with pytest.raises(GekoError) as raised:
        await ask(provider.adapter(client), provider.request(), streamed=streamed)

    expect_error(raised.value, code, reason, key=provider.key)
    if status == 429:
        assert raised.value.retry_after_seconds == 7
    if status == 400:  # the provider's reason is passed on, without the key the fake echoed into it
        assert "[redacted]" in raised.value.message


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "complete"])
async def test_a_wrong_key_is_the_operators_problem_and_is_never_echoed(
    provider: Provider, client: httpx.AsyncClient, streamed: bool
) -> None:
    wrong = "sk-wrong-key-abcdefghijklmnopqrstuvwxyz"
    adapter = provider.adapter(client, key=wrong)

    with pytest.raises(GekoError) as raised:
        await ask(adapter, provider.request(), streamed=streamed)

    expect_error(raised.value, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_AUTH_FAILED", key=wrong)
    assert wrong[-4:] not in str(raised.value)
    assert wrong not in repr(adapter)


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "complete"])
async def test_an_unknown_model_is_not_found(
    provider: Provider, client: httpx.AsyncClient, streamed: bool
) -> None:
    with pytest.raises(GekoError) as raised:
        await ask(provider.adapter(client), provider.request("no-such-model"), streamed=streamed)

    expect_error(raised.value, ErrorCode.NOT_FOUND, "PROVIDER_MODEL_NOT_FOUND", key=provider.key)
    assert "no-such-model" in raised.value.message


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("cut", "PROVIDER_STREAM_CUT"),
        ("no_terminal", "PROVIDER_STREAM_CUT"),
        ("error_midstream", "PROVIDER_ERROR"),
    ],
)
async def test_a_stream_that_breaks_off_raises_after_the_deltas_it_delivered(
    provider: Provider, client: httpx.AsyncClient, mode: Mode, reason: str
) -> None:
    provider.script.mode = mode
    received: list[StreamEvent] = []

    with pytest.raises(GekoError) as raised:
        await collect(provider.adapter(client).stream(provider.request()), received)

    expect_error(raised.value, ErrorCode.UPSTREAM_UNAVAILABLE, reason, key=provider.key)
    assert received == (WORDS if mode == "no_terminal" else WORDS[:2])


async def test_closing_the_stream_closes_the_upstream_connection(
    provider: Provider, client: httpx.AsyncClient
) -> None:
    provider.script.mode = "slow"
    provider.script.delay = 0.2
    stream = provider.adapter(client).stream(provider.request())

    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]

    assert first == WORDS[0]
    assert await provider.server.wait_for_disconnect() == provider.path


async def test_cancelling_the_consumer_closes_the_upstream_connection(
    provider: Provider, client: httpx.AsyncClient
) -> None:
    provider.script.mode = "slow"
    provider.script.delay = 0.2
    adapter = provider.adapter(client)
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for _ in adapter.stream(provider.request()):
            first_delta.set()

    task = asyncio.create_task(consume())
    await first_delta.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await provider.server.wait_for_disconnect() == provider.path


async def test_a_provider_slower_than_the_read_timeout_is_a_timeout(
    provider: Provider, client: httpx.AsyncClient
) -> None:
    provider.script.mode = "slow"
    provider.script.delay = 3.0

    with pytest.raises(GekoError) as raised:
        await collect(provider.adapter(client, read_timeout=0.3).stream(provider.request()))

    expect_error(raised.value, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_TIMEOUT", key=provider.key)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_provider_that_is_not_listening_is_unreachable(client: httpx.AsyncClient, kind: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = ProviderConfig(kind, f"http://127.0.0.1:{port}/v1", "sk-secret-key-0123456789")  # type: ignore[arg-type]

    with pytest.raises(GekoError) as raised:
        await create_adapter(config, client).complete(ChatRequest("m", [ChatMessage("user", "hi")]))

    expect_error(
        raised.value, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_UNREACHABLE", key="sk-secret-key-0123456789"
    )


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_config_and_adapter_reprs_hide_the_key(kind: str) -> None:
    key = "sk-secret-key-0123456789"
    config = ProviderConfig(kind, "https://provider.example/v1", key)  # type: ignore[arg-type]

    assert key not in repr(config)
    assert key not in str(config)
    assert "api_key=<set>" in repr(config)
    assert key not in repr(create_adapter(config, httpx.AsyncClient()))


async def test_no_log_line_carries_the_key_or_the_conversation(
    provider: Provider, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # httpx and httpcore at their most talkative: named explicitly, since configure_logging (run by other
    # tests in this process) pins those two loggers at WARNING.
    for name in (None, "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    await collect(provider.adapter(client).stream(provider.request()))
    provider.script.mode = "fail_status"
    provider.script.fail_status = 400
    with pytest.raises(GekoError):
        await provider.adapter(client).complete(provider.request())

    assert caplog.records  # the libraries did log; none of it may show the secret or the prompt
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert provider.key not in logged
    assert "Say hello." not in logged
