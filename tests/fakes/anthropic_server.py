"""A fake Anthropic Messages server for tests, speaking the real wire format over real HTTP.

It follows https://docs.anthropic.com/en/api/messages, https://docs.anthropic.com/en/api/messages-streaming
and https://docs.anthropic.com/en/api/errors:
- `POST /v1/messages` with headers `x-api-key` and `anthropic-version`; a request without `max_tokens` or the
  version header is 400 `invalid_request_error`; a wrong key is 401 `authentication_error` ("invalid
  x-api-key"). Error bodies are `{"type": "error", "error": {"type", "message"}}` with a `request-id` header.
- Non-streamed: a `message` object `{"id", "type": "message", "role": "assistant", "model", "content":
  [{"type": "text", "text"} | {"type": "tool_use", "id", "name", "input"}], "stop_reason", "stop_sequence":
  null, "usage": {"input_tokens", "output_tokens"}}`.
- Streamed (`"stream": true`): server-sent events with `event:` names: `message_start` (the message with
  empty content and `usage.input_tokens`), then per content block `content_block_start` (`{"type": "text",
  "text": ""}` or `{"type": "tool_use", "id", "name", "input": {}}`), `ping`, `content_block_delta`
  (`text_delta` with `text`, or `input_json_delta` with `partial_json` pieces), `content_block_stop`; then
  `message_delta` (`delta.stop_reason` and cumulative `usage.output_tokens`) and `message_stop`. Errors inside
  a stream are `event: error` with `{"type": "error", "error": {"type": "overloaded_error", "message":
  "Overloaded"}}`.
- Unknown models are 404 `not_found_error`; 429 `rate_limit_error` carries `retry-after` and
  `anthropic-ratelimit-requests-reset`; 529 is `overloaded_error`.

Scripted per test through `script` (see `tests/fakes/http_fake.Script`). In fail_status mode a 400 quotes the
presented key back in its message, as a hostile server might: tests check our errors never repeat it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from tests.fakes.http_fake import FakeHttpServer, RecordedRequest, Reply, Script, sse

API_KEY = "sk-ant-api03-test-0123456789abcdefSECRET"
VERSION = "2023-06-01"
_ERROR_TYPES = {400: "invalid_request_error", 429: "rate_limit_error", 529: "overloaded_error"}
_ERROR_MESSAGES = {429: "Number of requests has exceeded your rate limit", 529: "Overloaded"}


class AnthropicServer(FakeHttpServer):
    def __init__(
        self, *, api_key: str = API_KEY, models: tuple[str, ...] = ("claude-haiku-4-5", "claude-sonnet-4-5")
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = set(models)
        self.script = Script()

    async def handle(self, request: RecordedRequest, reply: Reply) -> None:
        if (request.method, request.path) != ("POST", "/v1/messages"):
            await _error(reply, 404, "not_found_error", "Not Found")
            return
        presented = request.headers.get("x-api-key", "")
        if presented != self.api_key:
            await _error(reply, 401, "authentication_error", "invalid x-api-key")
            return
        if request.headers.get("anthropic-version") != VERSION:
            await _error(reply, 400, "invalid_request_error", "anthropic-version: header is required")
            return
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("max_tokens"), int):
            await _error(reply, 400, "invalid_request_error", "max_tokens: Field required")
            return
        model = str(body.get("model") or "")
        if model not in self.models:
            await _error(reply, 404, "not_found_error", f"model: {model}")
            return
        script = self.script
        if script.mode == "fail_status":
            await self._fail(script, presented, reply)
            return
        if body.get("stream"):
            await reply.stream(
                self._events(model, script),
                content_type="text/event-stream; charset=utf-8",
                delay=script.delay if script.mode == "slow" else 0.0,
                cut=script.mode == "cut",
            )
            return
        await reply.json(200, self._message(model, script), {"request-id": "req_fake1"})

    async def _fail(self, script: Script, presented: str, reply: Reply) -> None:
        status = script.fail_status
        headers = dict(script.fail_headers)
        message = _ERROR_MESSAGES.get(status, "Internal server error")
        if status == 429:
            headers.setdefault("retry-after", script.retry_after or "7")
            headers.setdefault("anthropic-ratelimit-requests-reset", "2026-01-01T00:00:00Z")
        if status == 400:
            message = f"messages.0.content: Input should be a valid list (x-api-key {presented})"
        await _error(reply, status, _ERROR_TYPES.get(status, "api_error"), message, headers)

    def _message(self, model: str, script: Script) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": script.text}] if script.text else []
        content += [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.arguments)}
            for c in script.tool_calls
        ]
        message: dict[str, Any] = {
            "id": "msg_fake1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": _stop_reason(script),
            "stop_sequence": None,
        }
        if script.mode != "no_usage":
            message["usage"] = {"input_tokens": script.input_tokens, "output_tokens": script.output_tokens}
        return message

    def _events(self, model: str, script: Script) -> list[bytes]:
        with_usage = script.mode != "no_usage"
        start: dict[str, Any] = {
            "id": "msg_fake1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
        }
        if with_usage:
            start["usage"] = {"input_tokens": script.input_tokens, "output_tokens": 1}
        events = [_event("message_start", {"message": start})]
        index = 0
        if script.text:
            events.append(
                _event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            )
            events.append(_event("ping", {}))
            for word in script.words():
                delta = {"type": "text_delta", "text": word}
                events.append(_event("content_block_delta", {"index": 0, "delta": delta}))
            events.append(_event("content_block_stop", {"index": 0}))
            index = 1
        for offset, call in enumerate(script.tool_calls):
            block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            events.append(_event("content_block_start", {"index": index + offset, "content_block": block}))
            arguments = _compact_json(call.arguments)
            middle = len(arguments) // 2
            for piece in ("", arguments[:middle], arguments[middle:]):
                delta = {"type": "input_json_delta", "partial_json": piece}
                events.append(_event("content_block_delta", {"index": index + offset, "delta": delta}))
            events.append(_event("content_block_stop", {"index": index + offset}))
        if script.mode in ("cut", "error_midstream"):
            events = events[:5]  # message_start, content_block_start, ping and two text deltas
            if script.mode == "error_midstream":
                error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
                events.append(sse(error, "error"))
            return events
        message_delta: dict[str, Any] = {
            "delta": {"stop_reason": _stop_reason(script), "stop_sequence": None}
        }
        if with_usage:
            message_delta["usage"] = {"output_tokens": script.output_tokens}
        events.append(_event("message_delta", message_delta))
        if script.mode != "no_terminal":
            events.append(_event("message_stop", {}))
        return events


def _event(kind: str, fields: dict[str, Any]) -> bytes:
    return sse({"type": kind, **fields}, kind)


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _stop_reason(script: Script) -> str:
    return "tool_use" if script.tool_calls else "end_turn"


async def _error(
    reply: Reply, status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> None:
    payload = {"type": "error", "error": {"type": kind, "message": message}}
    await reply.json(status, payload, {"request-id": "req_fake1", **(headers or {})})


@pytest_asyncio.fixture
async def anthropic_server() -> AsyncIterator[AnthropicServer]:
    """A started fake Anthropic knowing "claude-haiku-4-5" and "claude-sonnet-4-5"; its key is `API_KEY`."""
    server = AnthropicServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
