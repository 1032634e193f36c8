"""The Anthropic adapter's wire format against the fake Anthropic server: headers, `system`, the required
`max_tokens`, and tool calls as `tool_use` / `tool_result` blocks. (Behaviour shared with the OpenAI adapter —
errors, cancellation, timeouts — is tested in test_openai_and_anthropic_adapters.py.)"""

from __future__ import annotations

import httpx

from services.providers.anthropic import API_VERSION, DEFAULT_MAX_TOKENS
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
from tests.fakes.anthropic_server import API_KEY, AnthropicServer, anthropic_server
from tests.fakes.http_fake import ScriptedCall
from tests.integration.providers.adapter_checks import client, collect

__all__ = ["anthropic_server", "client"]

WEATHER = ToolSpec(
    "get_weather",
    "The weather in a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def adapter_for(
    server: AnthropicServer, client: httpx.AsyncClient, base_url: str | None = None
) -> ProviderAdapter:
    return create_adapter(ProviderConfig("anthropic", base_url or server.base_url, API_KEY), client)


async def test_a_streamed_request_carries_key_version_system_and_limits(
    anthropic_server: AnthropicServer, client: httpx.AsyncClient
) -> None:
    request = ChatRequest(
        "claude-haiku-4-5",
        [ChatMessage("system", "Be brief."), ChatMessage("user", "Say hello.")],
        max_output_tokens=64,
        temperature=0.2,
    )

    events = await collect(adapter_for(anthropic_server, client).stream(request))

    assert events[-1] == StreamEnd("stop", Usage(12, 6))
    [sent] = anthropic_server.requests
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == API_KEY
    assert sent.headers["anthropic-version"] == API_VERSION
    assert "authorization" not in sent.headers
    assert sent.body == {
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Say hello."}],
        "temperature": 0.2,
        "stream": True,
    }


async def test_a_request_without_a_limit_gets_the_default_max_tokens_and_a_v1_base_url_is_tolerated(
    anthropic_server: AnthropicServer, client: httpx.AsyncClient
) -> None:
    adapter = adapter_for(anthropic_server, client, base_url=anthropic_server.base_url + "/v1/")

    completion = await adapter.complete(ChatRequest("claude-haiku-4-5", [ChatMessage("user", "hi")]))

    assert completion.text == "Hello from the fake model."
    assert anthropic_server.requests[0].path == "/v1/messages"
    assert anthropic_server.requests[0].body == {
        "model": "claude-haiku-4-5",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "hi"}],
    }


async def test_streamed_tool_use_blocks_are_assembled_and_carried_back_as_tool_results(
    anthropic_server: AnthropicServer, client: httpx.AsyncClient
) -> None:
    anthropic_server.script.text = "Let me look."
    anthropic_server.script.tool_calls = [
        ScriptedCall("toolu_1", "get_weather", {"city": "Paris"}),
        ScriptedCall("toolu_2", "get_weather", {"city": "Oslo"}),
    ]
    adapter = adapter_for(anthropic_server, client)
    asking = ChatRequest(
        "claude-sonnet-4-5", [ChatMessage("user", "Weather in Paris and Oslo?")], tools=[WEATHER]
    )

    events = await collect(adapter.stream(asking))

    paris = ToolCall("toolu_1", "get_weather", '{"city":"Paris"}')
    oslo = ToolCall("toolu_2", "get_weather", '{"city":"Oslo"}')
    assert events == [
        TextDelta("Let"),
        TextDelta(" me"),
        TextDelta(" look."),
        ToolCallDelta(paris),
        ToolCallDelta(oslo),
        StreamEnd("tool_calls", Usage(12, 6)),
    ]
    assert anthropic_server.requests[0].body["tools"] == [
        {
            "name": "get_weather",
            "description": "The weather in a city",
            "input_schema": dict(WEATHER.parameters),
        }
    ]

    anthropic_server.script.tool_calls = []
    anthropic_server.script.text = "Sunny in Paris, rain in Oslo."
    follow_up = ChatRequest(
        "claude-sonnet-4-5",
        [
            *asking.messages,
            ChatMessage("assistant", "Let me look.", tool_calls=(paris, oslo)),
            ChatMessage("tool", "sunny", tool_call_id="toolu_1"),
            ChatMessage("tool", "rain", tool_call_id="toolu_2"),
        ],
        tools=[WEATHER],
    )
    completion = await adapter.complete(follow_up)

    assert completion.text == "Sunny in Paris, rain in Oslo."
    assert anthropic_server.requests[1].body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "rain"},
            ],
        },
    ]


async def test_a_completion_returns_tool_use_as_tool_calls(
    anthropic_server: AnthropicServer, client: httpx.AsyncClient
) -> None:
    anthropic_server.script.text = ""
    anthropic_server.script.tool_calls = [ScriptedCall("toolu_9", "get_weather", {"city": "Rome"})]

    completion = await adapter_for(anthropic_server, client).complete(
        ChatRequest("claude-haiku-4-5", [ChatMessage("user", "Rome?")], tools=[WEATHER])
    )

    assert completion.tool_calls == (ToolCall("toolu_9", "get_weather", '{"city": "Rome"}'),)
    assert completion.finish_reason == "tool_calls"
    assert completion.text == ""
