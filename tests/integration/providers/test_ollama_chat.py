"""OllamaChatAdapter against the fake Ollama over real HTTP: streaming, usage, tool calls, every error mode,
cancellation and timeouts."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from services.providers.base import (
    ChatMessage,
    ChatRequest,
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
from services.providers.errors import (
    AUTH_FAILED,
    MODEL_NOT_FOUND,
    PROVIDER_ERROR,
    REJECTED,
    STREAM_CUT,
    TIMEOUT,
    UNREACHABLE,
)
from services.providers.ollama import OllamaChatAdapter
from services.runtime.errors import BadInput, ErrorCode, GekoError, NotFound, UpstreamUnavailable
from tests.fakes.ollama_server import OllamaServer, ollama_server

__all__ = ["ollama_server"]  # the fixture, used by the tests below

WEATHER = ToolSpec(
    name="get_weather",
    description="The weather in a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


@pytest_asyncio.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """One pooled client, as the chat service shares one across its adapters; closed after the test."""
    async with httpx.AsyncClient() as shared:
        yield shared


def adapter(server: OllamaServer, client: httpx.AsyncClient, **config: object) -> OllamaChatAdapter:
    settings = ProviderConfig(kind="ollama", base_url=server.base_url, **config)  # type: ignore[arg-type]
    return OllamaChatAdapter(settings, client)


def hello(model: str = "llama3.2", **fields: object) -> ChatRequest:
    return ChatRequest(model=model, messages=[ChatMessage(role="user", content="hi")], **fields)  # type: ignore[arg-type]


async def collect(events: object, into: list[StreamEvent] | None = None) -> list[StreamEvent]:
    """Every event of a stream, kept in `into` as they come (so a test sees what arrived before a failure)."""
    seen = [] if into is None else into
    async for event in events:  # type: ignore[attr-defined]
        seen.append(event)
    return seen


async def ask(chat: OllamaChatAdapter, request: ChatRequest, *, streamed: bool) -> object:
    return await collect(chat.stream(request)) if streamed else await chat.complete(request)


async def test_a_stream_yields_the_text_in_pieces_then_one_end_with_the_token_counts(
    ollama_server: OllamaServer, client: httpx.AsyncClient
) -> None:
    # given
    ollama_server.chat.text = "Rayleigh scattering, mostly."
    # when
    events = await collect(
        adapter(ollama_server, client).stream(hello(max_output_tokens=64, temperature=0.2))
    )
    # then
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) == 3
    assert "".join(deltas) == "Rayleigh scattering, mostly."
    assert events[-1] == StreamEnd(finish_reason="stop", usage=Usage(input_tokens=11, output_tokens=7))
    assert sum(isinstance(e, StreamEnd) for e in events) == 1
    sent = ollama_server.requests_to("/api/chat")[0]
    assert sent.body == {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "options": {"num_predict": 64, "temperature": 0.2},
    }
    assert "authorization" not in sent.headers


async def test_create_adapter_builds_the_ollama_adapter_and_a_key_travels_as_bearer(
    ollama_server: OllamaServer, client: httpx.AsyncClient
) -> None:
    config = ProviderConfig(kind="ollama", base_url=ollama_server.base_url + "/", api_key="proxy-secret-1")
    chat = create_adapter(config, client)
    assert isinstance(chat, OllamaChatAdapter)
    completion = await chat.complete(hello())
    assert completion.text == "Hello from the fake Ollama."
    assert ollama_server.requests[0].headers["authorization"] == "Bearer proxy-secret-1"


async def test_a_completion_arrives_whole_with_usage_and_finish_reason(
    ollama_server: OllamaServer, client: httpx.AsyncClient
) -> None:
    ollama_server.chat.done_reason = "length"
    ollama_server.chat.eval_count = 64
    completion = await adapter(ollama_server, client).complete(hello())
    assert completion.text == "Hello from the fake Ollama."
    assert completion.tool_calls == ()
    assert completion.usage == Usage(input_tokens=11, output_tokens=64)
    assert completion.finish_reason == "length"
    assert ollama_server.requests_to("/api/chat")[0].body["stream"] is False


async def test_tool_calls_stream_whole_with_ids_and_the_turn_ends_for_tool_calls(
    ollama_server: OllamaServer, client: httpx.AsyncClient
) -> None:
    # given a model that answers with a call
    ollama_server.chat.text = ""
    ollama_server.chat.tool_calls = [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    # when
    events = await collect(adapter(ollama_server, client).stream(hello(tools=[WEATHER])))
    # then
    calls = [e.call for e in events if isinstance(e, ToolCallDelta)]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments_json) == {"city": "Paris"}
    assert calls[0].id.startswith("call_")
    assert not any(isinstance(e, TextDelta) for e in events)
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].finish_reason == "tool_calls"
    assert ollama_server.requests_to("/api/chat")[0].body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "The weather in a city",
                "parameters": dict(WEATHER.parameters),
            },
        }
    ]


async def test_a_tool_round_trip_carries_the_call_and_its_answer_by_name(
    ollama_server: OllamaServer, client: httpx.AsyncClient
) -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments_json='{"city": "Paris"}')
    request = ChatRequest(
        model="llama3.2",
        messages=[
            ChatMessage(role="user", content="weather?"),
            ChatMessage(role="assistant", content="", tool_calls=(call,)),
            ChatMessage(role="tool", content="18C, clear", tool_call_id="call_1"),
        ],
    )
    ollama_server.chat.tool_calls = [{"name": "get_weather", "arguments": {"city": "Lyon"}}]
    completion = await adapter(ollama_server, client).complete(request)
    assert [c.name for c in completion.tool_calls] == ["get_weather"]
    assert json.loads(completion.tool_calls[0].arguments_json) == {"city": "Lyon"}
    assert completion.finish_reason == "tool_calls"
    sent = ollama_server.requests_to("/api/chat")[0].body["messages"]
    assert sent[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
    }
    assert sent[2] == {"role": "tool", "content": "18C, clear", "tool_name": "get_weather"}


@pytest.mark.parametrize("streamed", [True, False])
async def test_a_model_ollama_does_not_have_is_model_not_found(
    ollama_server: OllamaServer, client: httpx.AsyncClient, streamed: bool
) -> None:
    chat = adapter(ollama_server, client)
    with pytest.raises(NotFound) as caught:
        await ask(chat, hello("mistral"), streamed=streamed)
    assert caught.value.reason == MODEL_NOT_FOUND
    assert "mistral" in caught.value.message


@pytest.mark.parametrize(
    ("status", "error_type", "reason"),
    [
        (500, UpstreamUnavailable, PROVIDER_ERROR),
        (503, UpstreamUnavailable, PROVIDER_ERROR),
        (400, BadInput, REJECTED),
        (401, UpstreamUnavailable, AUTH_FAILED),
    ],
)
async def test_a_failed_status_maps_to_its_reason(
    ollama_server: OllamaServer,
    client: httpx.AsyncClient,
    status: int,
    error_type: type[GekoError],
    reason: str,
) -> None:
    ollama_server.chat_mode = "fail_status"
    ollama_server.fail_status = status
    with pytest.raises(error_type) as caught:
        await collect(adapter(ollama_server, client, api_key="proxy-secret-2").stream(hello()))
    assert caught.value.reason == reason
    assert "proxy-secret-2" not in caught.value.message


async def test_an_error_line_mid_stream_raises_after_the_deltas_that_came_first(
    ollama_server: OllamaServer, client: httpx.AsyncClient
) -> None:
    ollama_server.chat_mode = "error_midstream"
    seen: list[StreamEvent] = []
    with pytest.raises(UpstreamUnavailable) as caught:
        await collect(adapter(ollama_server, client).stream(hello()), seen)
    assert caught.value.reason == PROVIDER_ERROR
    assert caught.value.code == ErrorCode.UPSTREAM_UNAVAILABLE
    assert [type(e) for e in seen] == [TextDelta, TextDelta]


async def test_a_connection_cut_mid_stream_is_a_cut_stream(
    ollama_server: OllamaServer, client: httpx.AsyncClient
) -> None:
    ollama_server.chat_mode = "cut"
    seen: list[StreamEvent] = []
    with pytest.raises(UpstreamUnavailable) as caught:
        await collect(adapter(ollama_server, client).stream(hello()), seen)
    assert caught.value.reason == STREAM_CUT
    assert len(seen) == 2
    assert not any(isinstance(e, StreamEnd) for e in seen)


async def test_a_body_that_ends_without_the_done_object_is_a_cut_stream(
    ollama_server: OllamaServer, client: httpx.AsyncClient
) -> None:
    ollama_server.chat_mode = "no_done"
    seen: list[StreamEvent] = []
    with pytest.raises(UpstreamUnavailable) as caught:
        await collect(adapter(ollama_server, client).stream(hello()), seen)
    assert caught.value.reason == STREAM_CUT
    assert "".join(e.text for e in seen if isinstance(e, TextDelta)) == "Hello from the fake Ollama."


async def test_an_upstream_that_goes_silent_times_out(
    ollama_server: OllamaServer, client: httpx.AsyncClient
) -> None:
    ollama_server.chat_mode = "slow"
    ollama_server.delay = 5.0
    with pytest.raises(UpstreamUnavailable) as caught:
        await collect(adapter(ollama_server, client, read_timeout=0.3).stream(hello()))
    assert caught.value.reason == TIMEOUT


async def test_nothing_listening_is_unreachable(client: httpx.AsyncClient) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    chat = OllamaChatAdapter(ProviderConfig(kind="ollama", base_url=f"http://127.0.0.1:{port}"), client)
    with pytest.raises(UpstreamUnavailable) as caught:
        await collect(chat.stream(hello()))
    assert caught.value.reason == UNREACHABLE


async def test_closing_the_stream_closes_the_upstream_connection(
    ollama_server: OllamaServer, client: httpx.AsyncClient
) -> None:
    # given a slow answer, of which the caller reads one piece
    ollama_server.chat_mode = "slow"
    ollama_server.delay = 0.2
    stream = adapter(ollama_server, client).stream(hello())
    first = await anext(stream)
    assert isinstance(first, TextDelta)
    # when the caller leaves
    await stream.aclose()  # type: ignore[attr-defined]
    # then Ollama sees the client go
    assert await ollama_server.wait_for_disconnect() == "/api/chat"


async def test_cancelling_the_consumer_closes_the_upstream_connection(
    ollama_server: OllamaServer, client: httpx.AsyncClient
) -> None:
    ollama_server.chat_mode = "slow"
    ollama_server.delay = 0.2
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in adapter(ollama_server, client).stream(hello()):
            started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await ollama_server.wait_for_disconnect() == "/api/chat"
