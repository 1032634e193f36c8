"""Anthropic Messages (https://docs.anthropic.com/en/api/messages), streamed as its server-sent event types
(https://docs.anthropic.com/en/api/messages-streaming). `base_url` is the host, e.g. "https://api.anthropic.com";
a trailing "/v1" is tolerated.

Our messages map onto Anthropic's shape: system turns go to `system`; an assistant turn with tool calls
becomes `text` and `tool_use` blocks; tool turns become `tool_result` blocks of a user turn; consecutive turns
of one role merge, as the API wants roles to alternate.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.providers.base import (
    ChatMessage,
    ChatRequest,
    Completion,
    ProviderConfig,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from services.providers.errors import error_for_event, stream_cut
from services.providers.sse import iter_sse
from services.providers.transport import (
    as_object,
    body_chunks,
    decode_object,
    drain,
    make_client,
    open_response,
    read_json,
)
from services.runtime.errors import BadInput

API_VERSION = "2023-06-01"
# `max_tokens` is required by the API; this is what a request that names no limit gets.
DEFAULT_MAX_TOKENS = 4096
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


class AnthropicChatAdapter:
    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._client = client or make_client(config)
        self._url = config.base_url.rstrip("/").removesuffix("/v1") + "/v1/messages"

    def __repr__(self) -> str:
        return f"AnthropicChatAdapter({self._config!r})"

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        body = {**request_body(request), "stream": True}
        headers = {**self._headers(), "Accept": "text/event-stream"}
        async with open_response(
            self._client, self._config, self._url, headers=headers, json=body
        ) as response:
            state = _StreamState()
            events = iter_sse(body_chunks(response))
            async for event in events:
                data = decode_object(event.data)
                kind = data.get("type", event.event)
                if kind == "error":
                    raise error_for_event(data, api_key=self._config.api_key)
                if kind == "message_stop":
                    yield state.end()
                    await drain(events)
                    return
                delta = state.feed(kind, data)
                if delta is not None:
                    yield delta
            raise stream_cut()

    async def complete(self, request: ChatRequest) -> Completion:
        body = request_body(request)
        async with open_response(
            self._client, self._config, self._url, headers=self._headers(), json=body
        ) as response:
            answer = await read_json(response)
        return completion_from(answer)

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": API_VERSION}
        if self._config.api_key:
            headers["x-api-key"] = self._config.api_key
        return headers


def request_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body of a Messages request (without `stream`)."""
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": request.max_output_tokens or DEFAULT_MAX_TOKENS,
        "messages": _turns(request.messages),
    }
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    if system:
        body["system"] = system
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
            for t in request.tools
        ]
    return body


def _turns(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:  # the plain form for a lone text block, as people write it
        if len(turn["content"]) == 1 and turn["content"][0]["type"] == "text":
            turn["content"] = turn["content"][0]["text"]
    return turns


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {"type": "tool_result", "tool_use_id": message.tool_call_id or "", "content": message.content}
        ]
    blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
    for call in message.tool_calls:
        blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": _arguments(call)})
    return blocks or [{"type": "text", "text": ""}]


def _arguments(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments_json or "{}")
    except ValueError:
        raise BadInput(f"the arguments of tool call {call.id!r} are not JSON", field="messages") from None


def completion_from(answer: Mapping[str, Any]) -> Completion:
    """A non-streamed answer (a `message` object) as a `Completion`."""
    text: list[str] = []
    calls: list[ToolCall] = []
    for block in answer.get("content") or ():
        block = as_object(block)
        if block.get("type") == "text":
            text.append(str(block.get("text") or ""))
        elif block.get("type") == "tool_use":
            arguments = json.dumps(block.get("input") or {})
            calls.append(ToolCall(str(block.get("id") or ""), str(block.get("name") or ""), arguments))
    usage = as_object(answer.get("usage"))
    return Completion(
        text="".join(text),
        tool_calls=tuple(calls),
        usage=_usage(_input_tokens(usage), usage.get("output_tokens")),
        finish_reason=_stop_reason(answer.get("stop_reason")),
    )


@dataclass
class _ToolBlock:
    id: str
    name: str
    arguments: list[str] = field(default_factory=list)


@dataclass
class _StreamState:
    """What the events so far said: open tool_use blocks by index, the stop reason, the token counts."""

    tools: dict[int, _ToolBlock] = field(default_factory=dict)
    stop_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None

    def feed(self, kind: str, data: Mapping[str, Any]) -> StreamEvent | None:
        index = data.get("index")
        if kind == "message_start":
            usage = as_object(as_object(data.get("message")).get("usage"))
            self.input_tokens = _input_tokens(usage)
            self._count_output(usage)
        elif kind == "content_block_start":
            block = as_object(data.get("content_block"))
            if block.get("type") == "tool_use" and isinstance(index, int):
                self.tools[index] = _ToolBlock(str(block.get("id") or ""), str(block.get("name") or ""))
        elif kind == "content_block_delta":
            delta = as_object(data.get("delta"))
            if delta.get("type") == "text_delta" and delta.get("text"):
                return TextDelta(str(delta["text"]))
            if delta.get("type") == "input_json_delta" and isinstance(index, int) and index in self.tools:
                self.tools[index].arguments.append(str(delta.get("partial_json") or ""))
        elif kind == "content_block_stop" and isinstance(index, int) and index in self.tools:
            tool = self.tools.pop(index)
            return ToolCallDelta(ToolCall(tool.id, tool.name, "".join(tool.arguments) or "{}"))
        elif kind == "message_delta":
            self.stop_reason = as_object(data.get("delta")).get("stop_reason") or self.stop_reason
            usage = as_object(data.get("usage"))
            self._count_output(usage)
            self.input_tokens = _input_tokens(usage) if "input_tokens" in usage else self.input_tokens
        return None  # ping, thinking blocks and whatever the API adds later

    def end(self) -> StreamEnd:
        return StreamEnd(_stop_reason(self.stop_reason), _usage(self.input_tokens, self.output_tokens))

    def _count_output(self, usage: Mapping[str, Any]) -> None:
        if isinstance(usage.get("output_tokens"), int):  # cumulative: the last count is the total
            self.output_tokens = usage["output_tokens"]


def _input_tokens(usage: Mapping[str, Any]) -> int | None:
    """All input the request consumed: fresh tokens plus those written to and read from the prompt cache."""
    counts = [
        usage.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    ]
    numbers = [c for c in counts if isinstance(c, int)]
    return sum(numbers) if isinstance(counts[0], int) else None


def _usage(input_tokens: object, output_tokens: object) -> Usage | None:
    if not isinstance(input_tokens, int) or not isinstance(output_tokens, int):
        return None
    return Usage(input_tokens=input_tokens, output_tokens=output_tokens)


def _stop_reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason:
        return "stop"
    return _STOP_REASONS.get(reason, reason)
