"""OpenAI Chat Completions (https://platform.openai.com/docs/api-reference/chat/create), which every
OpenAI-compatible server speaks too: DeepSeek, vLLM, llama.cpp, LM Studio. `base_url` ends where the API's
paths begin, e.g. "https://api.openai.com/v1".

The output limit goes out as `max_tokens`: OpenAI deprecated it for `max_completion_tokens`, but most
compatible servers only know the old name, and OpenAI still accepts it for chat models.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
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
from services.providers.sse import SSEDecoder
from services.providers.transport import (
    as_object,
    body_chunks,
    decode_object,
    drain,
    make_client,
    open_response,
    read_json,
)

_FINISH_REASONS = {"function_call": "tool_calls"}


class OpenAIChatAdapter:
    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._client = client or make_client(config)
        self._url = config.base_url.rstrip("/") + "/chat/completions"

    def __repr__(self) -> str:
        return f"OpenAIChatAdapter({self._config!r})"

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        body = {**request_body(request), "stream": True, "stream_options": {"include_usage": True}}
        headers = {**self._headers(), "Accept": "text/event-stream"}
        async with open_response(
            self._client, self._config, self._url, headers=headers, json=body
        ) as response:
            state = _StreamState()
            # The SSE decoder is driven here rather than through `iter_sse`: one async generator fewer to
            # resume per token.
            decoder = SSEDecoder()
            chunks = body_chunks(response)
            # The text of plain chunks read together goes out as one delta (the turn would merge them
            # anyway): a yield per read instead of per token. The first goes out alone, at once.
            texts: list[str] = []
            first = True
            more = True
            while more:
                try:
                    events = decoder.feed(await chunks.__anext__())
                except StopAsyncIteration:
                    events, more = decoder.end(), False
                for event in events:
                    if event.data == "[DONE]":
                        if texts:
                            yield TextDelta("".join(texts))
                        for last in state.end():
                            yield last
                        await drain(chunks)
                        return
                    chunk = decode_object(event.data)
                    text = _plain_text(chunk)
                    if text is not None:
                        if text:
                            if first:
                                first = False
                                yield TextDelta(text)
                            else:
                                texts.append(text)
                        continue
                    if texts:
                        yield TextDelta("".join(texts))
                        texts.clear()
                    for delta in state.feed(chunk, api_key=self._config.api_key):
                        yield delta
                if texts:
                    yield TextDelta("".join(texts))
                    texts.clear()
            raise stream_cut()

    async def complete(self, request: ChatRequest) -> Completion:
        body = request_body(request)
        async with open_response(
            self._client, self._config, self._url, headers=self._headers(), json=body
        ) as response:
            answer = await read_json(response)
        return completion_from(answer)

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._config.api_key}"} if self._config.api_key else {}


def request_body(request: ChatRequest) -> dict[str, Any]:
    """The JSON body of a chat completion request (without the streaming fields)."""
    body: dict[str, Any] = {"model": request.model, "messages": [_message(m) for m in request.messages]}
    if request.max_output_tokens is not None:
        body["max_tokens"] = request.max_output_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": dict(t.parameters)},
            }
            for t in request.tools
        ]
    return body


def _message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id or "", "content": message.content}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments_json}}
            for c in message.tool_calls
        ]
    return wire


def completion_from(answer: Mapping[str, Any]) -> Completion:
    """A non-streamed answer (a `chat.completion` object) as a `Completion`."""
    choices = answer.get("choices")
    choice = as_object(choices[0]) if isinstance(choices, list) and choices else {}
    message = as_object(choice.get("message"))
    calls = tuple(
        ToolCall(
            id=str(call.get("id") or f"call_{i}"),
            name=str(as_object(call.get("function")).get("name") or ""),
            arguments_json=str(as_object(call.get("function")).get("arguments") or "{}"),
        )
        for i, call in enumerate(message.get("tool_calls") or ())
        if isinstance(call, dict)
    )
    content = message.get("content")
    return Completion(
        text=content if isinstance(content, str) else "",
        tool_calls=calls,
        usage=_usage(answer.get("usage")),
        finish_reason=_finish_reason(choice.get("finish_reason") or ("tool_calls" if calls else "stop")),
    )


def _plain_text(chunk: Mapping[str, Any]) -> str | None:
    """The content of the commonest chunk, one choice with a text delta and nothing else to note (no tool
    call, finish, usage or error); None for any other chunk, which `_StreamState.feed` reads."""
    choices = chunk.get("choices")
    if type(choices) is not list or len(choices) != 1 or chunk.get("usage") or chunk.get("error"):
        return None
    choice = choices[0]
    if type(choice) is not dict or choice.get("finish_reason") or choice.get("index", 0) != 0:
        return None
    delta = choice.get("delta")
    if type(delta) is not dict or delta.get("tool_calls"):
        return None
    content = delta.get("content")
    return content if type(content) is str else None


@dataclass
class _PartialCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class _StreamState:
    """What the chunks so far said: tool call fragments by index, the finish reason, the usage."""

    calls: dict[int, _PartialCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage | None = None

    def feed(self, chunk: Mapping[str, Any], *, api_key: str | None) -> list[StreamEvent]:
        """The deltas one chunk finishes. It runs for every token: each lookup is made once, and a chunk
        without tool calls goes past their code."""
        if chunk.get("error"):
            raise error_for_event(chunk, api_key=api_key)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = _usage(usage)
        events: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict):
                content = delta.get("content")
                if content and isinstance(content, str):
                    events.append(TextDelta(content))
                for fragment in delta.get("tool_calls") or ():
                    if isinstance(fragment, dict):
                        self._add(fragment)
            if choice.get("finish_reason"):
                self.finish_reason = _finish_reason(str(choice["finish_reason"]))
                events.extend(self._flush_calls())
        return events

    def end(self) -> list[StreamEvent]:
        return [*self._flush_calls(), StreamEnd(self.finish_reason or "stop", self.usage)]

    def _add(self, fragment: Mapping[str, Any]) -> None:
        index = fragment.get("index", 0)
        call = self.calls.setdefault(index if isinstance(index, int) else 0, _PartialCall())
        call.id = call.id or str(fragment.get("id") or "")
        function = as_object(fragment.get("function"))
        call.name = call.name or str(function.get("name") or "")
        if isinstance(function.get("arguments"), str):
            call.arguments.append(function["arguments"])

    def _flush_calls(self) -> list[StreamEvent]:
        events: list[StreamEvent] = [
            ToolCallDelta(ToolCall(c.id or f"call_{i}", c.name, "".join(c.arguments) or "{}"))
            for i, c in sorted(self.calls.items())
        ]
        self.calls.clear()
        return events


def _usage(value: object) -> Usage | None:
    if not isinstance(value, dict):
        return None
    prompt, completion = value.get("prompt_tokens"), value.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(input_tokens=prompt, output_tokens=completion)


def _finish_reason(reason: str) -> str:
    return _FINISH_REASONS.get(reason, reason)
