"""The OpenAI-compatible adapter's wire format against the fake OpenAI server: what it sends, and tool calls
assembled from streamed fragments and carried back. (Behaviour shared with the Anthropic adapter — errors,
cancellation, timeouts — is tested in test_openai_and_anthropic_adapters.py.)"""

from __future__ import annotations

import json

import httpx

from services.providers.base import (
    ChatMessage,
    ChatRequest,
    ProviderAdapter,
    ProviderConfig,
    StreamEnd,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
    create_adapter,
)
from tests.fakes.http_fake import ScriptedCall
from tests.fakes.openai_server import API_KEY, OpenAIServer, openai_server
from tests.integration.providers.adapter_checks import client, collect

__all__ = ["client", "openai_server"]

WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def adapter_for(server: OpenAIServer, client: httpx.AsyncClient) -> ProviderAdapter:
    return create_adapter(ProviderConfig("openai", server.api_base, API_KEY), client)


async def test_a_streamed_request_carries_key_model_messages_and_limits(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    request = ChatRequest(
        "gpt-4o-mini",
        [ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello.")],
        max_output_tokens=64,
        temperature=0.2,
    )

    events = await collect(adapter_for(openai_server, client).stream(request))

    assert events[-1] == StreamEnd("stop", Usage(12, 6))
    [sent] = openai_server.requests
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["accept"] == "text/event-stream"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}],
        "max_tokens": 64,
        "temperature": 0.2,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_streams_read_to_their_end_so_the_next_turn_reuses_the_connection(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    adapter = adapter_for(openai_server, client)
    request = ChatRequest("gpt-4o-mini", [ChatMessage("user", "hi")])

    for _ in range(3):
        events = await collect(adapter.stream(request))
        assert events[-1] == StreamEnd("stop", Usage(12, 6))

    assert len({sent.peer for sent in openai_server.requests}) == 1, openai_server.requests


async def test_a_completion_request_is_not_streamed_and_names_no_unset_limits(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    await adapter_for(openai_server, client).complete(ChatRequest("gpt-4o", [ChatMessage("user", "hi")]))

    assert openai_server.requests[0].body == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
    }


async def test_streamed_tool_call_fragments_are_assembled_and_carried_back(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    openai_server.script.text = "Let me look."
    openai_server.script.tool_calls = [
        ScriptedCall("call_1", "get_weather", {"city": "Paris"}),
        ScriptedCall("call_2", "get_weather", {"city": "Oslo"}),
    ]
    adapter = adapter_for(openai_server, client)
    asking = ChatRequest("gpt-4o", [ChatMessage("user", "Weather in Paris and Oslo?")], tools=[WEATHER])

    events = await collect(adapter.stream(asking))

    paris = ToolCall("call_1", "get_weather", json.dumps({"city": "Paris"}))
    oslo = ToolCall("call_2", "get_weather", json.dumps({"city": "Oslo"}))
    assert events == [
        TextDelta("Let"),
        TextDelta(" me"),
        TextDelta(" look."),
        ToolCallDelta(paris),
        ToolCallDelta(oslo),
        StreamEnd("tool_calls", Usage(12, 6)),
    ]
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
            ChatMessage("assistant", "Let me look.", tool_calls=(paris, oslo)),
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
            "content": "Let me look.",
            "tool_calls": [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
                for c in (paris, oslo)
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
    ]


async def test_a_completion_returns_tool_calls(
    openai_server: OpenAIServer, client: httpx.AsyncClient
) -> None:
    openai_server.script.text = ""
    openai_server.script.tool_calls = [ScriptedCall("call_9", "get_weather", {"city": "Rome"})]

    completion = await adapter_for(openai_server, client).complete(
        ChatRequest("gpt-4o", [ChatMessage("user", "Rome?")], tools=[WEATHER])
    )

    assert completion.tool_calls == (ToolCall("call_9", "get_weather", '{"city": "Rome"}'),)
    assert completion.finish_reason == "tool_calls"
    assert completion.text == ""
