"""The OpenAI-compatible adapter against a fake OpenAI server speaking the real wire format over real HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

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
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
    create_adapter,
)
from services.runtime.errors import ErrorCode, GekoError
from tests.fakes.http_fake import ScriptedCall
from tests.fakes.openai_server import API_KEY, OpenAIServer, openai_server

__all__ = ["openai_server"]

PATH = "/v1/chat/completions"
WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
REQUEST = ChatRequest(
    model="gpt-4o-mini",
    messages=[ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello.")],
    max_output_tokens=64,
    temperature=0.2,
)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as shared:
        yield shared


def config_for(server: OpenAIServer, *, key: str = API_KEY, read_timeout: float = 10.0) -> ProviderConfig:
    return ProviderConfig("openai", server.api_base, key, connect_timeout=2.0, read_timeout=read_timeout)


async def collect(
    events: AsyncIterator[StreamEvent], into: list[StreamEvent] | None = None
) -> list[StreamEvent]:
    received = [] if into is None else into
    async for event in events:
        received.append(event)
    return received


async def ask(adapter: ProviderAdapter, request: ChatRequest, *, streamed: bool) -> object:
    return await collect(adapter.stream(request)) if streamed else await adapter.complete(request)


async def test_stream_yields_the_words_in_order_then_one_end_with_usage(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    adapter = create_adapter(config_for(openai_server), client)

    events = await collect(adapter.stream(REQUEST))

    assert events == [
        TextDelta("Hello"),
        TextDelta(" from"),
        TextDelta(" the"),
        TextDelta(" fake"),
        TextDelta(" model."),
        StreamEnd("stop", Usage(input_tokens=12, output_tokens=6)),
    ]
    [sent] = openai_server.requests
    assert sent.path == PATH
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}],
        "max_tokens": 64,
        "temperature": 0.2,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_complete_returns_the_whole_answer_with_usage(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    adapter = create_adapter(config_for(openai_server), client)

    completion = await adapter.complete(REQUEST)

    assert completion.text == "Hello from the fake model."
    assert completion.tool_calls == ()
    assert completion.usage == Usage(12, 6)
    assert completion.finish_reason == "stop"
    assert "stream" not in openai_server.requests[0].body


async def test_stream_assembles_tool_call_fragments_and_carries_them_back(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    openai_server.script.text = ""
    openai_server.script.tool_calls = [
        ScriptedCall("call_1", "get_weather", {"city": "Paris"}),
        ScriptedCall("call_2", "get_weather", {"city": "Oslo"}),
    ]
    adapter = create_adapter(config_for(openai_server), client)
    asking = ChatRequest("gpt-4o", [ChatMessage("user", "Weather in Paris and Oslo?")], tools=[WEATHER])

    events = await collect(adapter.stream(asking))

    paris = ToolCall("call_1", "get_weather", json.dumps({"city": "Paris"}))
    oslo = ToolCall("call_2", "get_weather", json.dumps({"city": "Oslo"}))
    assert events == [ToolCallDelta(paris), ToolCallDelta(oslo), StreamEnd("tool_calls", Usage(12, 6))]
    assert openai_server.requests[0].body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city",
                "parameters": dict(WEATHER.parameters),
            },
        }
    ]

    openai_server.script.tool_calls = []
    openai_server.script.text = "Sunny in Paris, rain in Oslo."
    follow_up = ChatRequest(
        "gpt-4o",
        [
            *asking.messages,
            ChatMessage("assistant", "", tool_calls=(paris, oslo)),
            ChatMessage("tool", "sunny", tool_call_id="call_1"),
            ChatMessage("tool", "rain", tool_call_id="call_2"),
        ],
        tools=[WEATHER],
    )
    completion = await adapter.complete(follow_up)

    assert completion.text == "Sunny in Paris, rain in Oslo."
    assert openai_server.requests[1].body["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": paris.arguments_json},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": oslo.arguments_json},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
    ]


async def test_complete_returns_tool_calls(openai_server: OpenAIServer, client: httpx.AsyncClient) -> None:
    openai_server.script.text = ""
    openai_server.script.tool_calls = [ScriptedCall("call_9", "get_weather", {"city": "Rome"})]
    adapter = create_adapter(config_for(openai_server), client)

    completion = await adapter.complete(
        ChatRequest("gpt-4o", [ChatMessage("user", "Rome?")], tools=[WEATHER])
    )

    assert completion.tool_calls == (ToolCall("call_9", "get_weather", '{"city": "Rome"}'),)
    assert completion.finish_reason == "tool_calls"
    assert completion.text == ""


async def test_stream_without_usage_chunk_ends_with_no_usage(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    openai_server.script.mode = "no_usage"
    adapter = create_adapter(config_for(openai_server), client)

    events = await collect(adapter.stream(REQUEST))

    assert events[-1] == StreamEnd("stop", None)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello from the fake model."


def _expect(error: GekoError, code: ErrorCode, reason: str) -> None:
    assert (error.code, error.reason) == (code, reason)
    for text in (str(error), repr(error), error.message):
        assert API_KEY not in text


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "complete"])
@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (429, ErrorCode.RATE_LIMITED, "PROVIDER_RATE_LIMITED"),
        (500, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_ERROR"),
        (503, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_ERROR"),
        (400, ErrorCode.BAD_USER_INPUT, "PROVIDER_REJECTED"),
    ],
)
async def test_failed_status_maps_to_a_clear_error(
    openai_server: OpenAIServer,
    client: httpx.AsyncClient,
    streamed: bool,
    status: int,
    code: ErrorCode,
    reason: str,
) -> None:
    openai_server.script.mode = "fail_status"
    openai_server.script.fail_status = status
    adapter = create_adapter(config_for(openai_server), client)

    with pytest.raises(GekoError) as raised:
        await ask(adapter, REQUEST, streamed=streamed)

    _expect(raised.value, code, reason)
    if status == 429:
        assert raised.value.retry_after_seconds == 7
    if status == 400:
        assert "Invalid 'messages'" in raised.value.message  # the provider's reason, minus the key it echoed


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "complete"])
async def test_wrong_key_is_an_operator_problem_and_is_never_echoed(
    openai_server: OpenAIServer, client: httpx.AsyncClient, streamed: bool
) -> None:
    wrong = "sk-wrong-key-abcdefghijklmnopqrstuvwxyz"
    adapter = create_adapter(config_for(openai_server, key=wrong), client)

    with pytest.raises(GekoError) as raised:
        await ask(adapter, REQUEST, streamed=streamed)

    _expect(raised.value, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_AUTH_FAILED")
    assert wrong[-4:] not in str(raised.value)
    assert wrong not in repr(adapter)


async def test_unknown_model_is_not_found(openai_server: OpenAIServer, client: httpx.AsyncClient) -> None:
    adapter = create_adapter(config_for(openai_server), client)

    with pytest.raises(GekoError) as raised:
        await collect(adapter.stream(ChatRequest("gpt-9", [ChatMessage("user", "hi")])))

    _expect(raised.value, ErrorCode.NOT_FOUND, "PROVIDER_MODEL_NOT_FOUND")
    assert "gpt-9" in raised.value.message


@pytest.mark.parametrize(
    ("mode", "code", "reason"),
    [
        ("cut", ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_STREAM_CUT"),
        ("no_terminal", ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_STREAM_CUT"),
        ("error_midstream", ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_ERROR"),
    ],
)
async def test_a_stream_that_breaks_off_raises_after_the_deltas_it_delivered(
    openai_server: OpenAIServer, client: httpx.AsyncClient, mode: str, code: ErrorCode, reason: str
) -> None:
    openai_server.script.mode = mode  # type: ignore[assignment]
    adapter = create_adapter(config_for(openai_server), client)
    received: list[StreamEvent] = []

    with pytest.raises(GekoError) as raised:
        await collect(adapter.stream(REQUEST), received)

    _expect(raised.value, code, reason)
    if mode != "no_terminal":
        assert received == [TextDelta("Hello"), TextDelta(" from")]
    assert not any(isinstance(e, StreamEnd) for e in received)


async def test_closing_the_stream_closes_the_upstream_connection(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    openai_server.script.mode = "slow"
    openai_server.script.delay = 0.2
    adapter = create_adapter(config_for(openai_server), client)
    stream = adapter.stream(REQUEST)

    first = await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]

    assert first == TextDelta("Hello")
    assert await openai_server.wait_for_disconnect() == PATH


async def test_cancelling_the_consumer_closes_the_upstream_connection(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    openai_server.script.mode = "slow"
    openai_server.script.delay = 0.2
    adapter = create_adapter(config_for(openai_server), client)
    first_delta = asyncio.Event()

    async def consume() -> None:
        async for _ in adapter.stream(REQUEST):
            first_delta.set()

    task = asyncio.create_task(consume())
    await first_delta.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await openai_server.wait_for_disconnect() == PATH


async def test_a_provider_slower_than_the_read_timeout_is_a_timeout(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    openai_server.script.mode = "slow"
    openai_server.script.delay = 3.0
    adapter = create_adapter(config_for(openai_server, read_timeout=0.3), client)

    with pytest.raises(GekoError) as raised:
        await collect(adapter.stream(REQUEST))

    _expect(raised.value, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_TIMEOUT")


async def test_a_provider_that_is_not_listening_is_unreachable(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = create_adapter(ProviderConfig("openai", f"http://127.0.0.1:{port}/v1", API_KEY), client)

    with pytest.raises(GekoError) as raised:
        await adapter.complete(REQUEST)

    _expect(raised.value, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_UNREACHABLE")


def test_config_and_adapter_reprs_hide_the_key() -> None:
    config = ProviderConfig("openai", "https://api.openai.com/v1", API_KEY)

    assert API_KEY not in repr(config)
    assert API_KEY not in str(config)
    assert "api_key=<set>" in repr(config)
    assert API_KEY not in repr(create_adapter(config, httpx.AsyncClient()))
