"""A fake OpenAI Chat Completions server for tests, speaking the real wire format over real HTTP.

It follows https://platform.openai.com/docs/api-reference/chat/create and the streaming chunk object
(https://platform.openai.com/docs/api-reference/chat/streaming):
- `POST /chat/completions` under the base URL (`/v1` here, as in "https://api.openai.com/v1"),
  authenticated by `Authorization: Bearer <key>`; a wrong key answers 401 `{"error": {"message": "Incorrect
  API key provided: …", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}`.
- Non-streamed: a `chat.completion` object `{"id", "object", "created", "model", "choices": [{"index": 0,
  "message": {"role": "assistant", "content", "tool_calls"?, "refusal": null}, "logprobs": null,
  "finish_reason"}], "usage": {"prompt_tokens", "completion_tokens", "total_tokens"}}`.
- Streamed (`"stream": true`): server-sent events, each `data: <chat.completion.chunk>` with
  `choices[0].delta` (first `{"role": "assistant", "content": ""}`, then `content` pieces; tool calls as
  `tool_calls: [{"index", "id", "type": "function", "function": {"name", "arguments": ""}}]` followed by
  fragments `{"index", "function": {"arguments": "<piece>"}}`), a chunk with `finish_reason`, and with
  `stream_options.include_usage` a last chunk with `"choices": []` and `usage` (other chunks carry
  `"usage": null`); then `data: [DONE]`.
- An unknown model is 404 `{"error": {…, "code": "model_not_found"}}`; 429 carries `retry-after` and
  `x-ratelimit-reset-requests`; errors inside a stream arrive as `data: {"error": {…}}`.

Scripted per test through `script` (see `tests/fakes/http_fake.Script`). In fail_status mode a 400 quotes the
presented key back in its message, as a hostile server might: tests check our errors never repeat it.

Standalone, for benchmarks (scripts/bench_chat_stream.py): `python -m tests.fakes.openai_server --tokens 200
--pace-ms 10` serves every request the same answer (`token_script`, paced by `PacedServer`) on a free port,
prints its base URL (`http://127.0.0.1:<port>/v1`) on one line, and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import json
import signal
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from tests.fakes.http_fake import FakeHttpServer, Receive, RecordedRequest, Reply, Scope, Script, Send, sse

API_KEY = "sk-test-openai-0123456789abcdefSECRET"
CREATED = 1_764_000_000
SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"


class OpenAIServer(FakeHttpServer):
    def __init__(
        self, *, api_key: str = API_KEY, models: tuple[str, ...] = ("gpt-4o-mini", "gpt-4o")
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.models = set(models)
        self.script = Script()

    @property
    def api_base(self) -> str:
        return self.base_url + "/v1"

    async def handle(self, request: RecordedRequest, reply: Reply) -> None:
        if (request.method, request.path) != ("POST", "/v1/chat/completions"):
            await reply.json(
                404, _error(f"Invalid URL ({request.method} {request.path})", "invalid_request_error")
            )
            return
        presented = request.headers.get("authorization", "").removeprefix("Bearer ")
        if presented != self.api_key:
            masked = f"{presented[:3]}***{presented[-4:]}" if len(presented) > 8 else "***"
            message = f"Incorrect API key provided: {masked}. You can find your API key at https://platform.openai.com/account/api-keys."
            await reply.json(401, _error(message, "invalid_request_error", "invalid_api_key"))
            return
        body = request.body if isinstance(request.body, dict) else {}
        model = str(body.get("model") or "")
        if model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            await reply.json(404, _error(message, "invalid_request_error", "model_not_found"))
            return
        script = self.script
        if script.mode == "fail_status":
            await self._fail(script, presented, reply)
            return
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            await self._stream(reply, self._chunks(model, script, include_usage), script)
            return
        await reply.json(200, self._completion(model, script))

    async def _stream(self, reply: Reply, chunks: list[bytes], script: Script) -> None:
        await reply.stream(
            chunks,
            content_type=SSE_CONTENT_TYPE,
            delay=script.delay if script.mode == "slow" else 0.0,
            cut=script.mode == "cut",
        )

    async def _fail(self, script: Script, presented: str, reply: Reply) -> None:
        status = script.fail_status
        headers = dict(script.fail_headers)
        if status == 429:
            headers.setdefault("retry-after", script.retry_after or "7")
            headers.setdefault("x-ratelimit-reset-requests", "6m0s")
            payload = _error("Rate limit reached for requests", "requests", "rate_limit_exceeded")
        elif status == 400:
            payload = _error(
                f"Invalid 'messages': unexpected value (key {presented})", "invalid_request_error"
            )
        else:
            payload = _error("The server had an error while processing your request.", "server_error")
        await reply.json(status, payload, headers)

    def _completion(self, model: str, script: Script) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": script.text or None, "refusal": None}
        if script.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for c in script.tool_calls
            ]
        answer: dict[str, Any] = {
            "id": "chatcmpl-fake1",
            "object": "chat.completion",
            "created": CREATED,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish_reason(script)}
            ],
        }
        if script.mode != "no_usage":
            answer["usage"] = _usage(script)
        return answer

    def _chunks(self, model: str, script: Script, include_usage: bool) -> list[bytes]:
        with_usage = include_usage and script.mode != "no_usage"

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            data: dict[str, Any] = {
                "id": "chatcmpl-fake1",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if with_usage:
                data["usage"] = None
            return sse(data)

        chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
        chunks += [chunk({"content": word}) for word in script.words()]
        for index, call in enumerate(script.tool_calls):
            head = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            chunks.append(chunk({"tool_calls": [head]}))
            arguments = json.dumps(call.arguments)
            middle = len(arguments) // 2
            for piece in (arguments[:middle], arguments[middle:]):
                chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
        if script.mode in ("cut", "error_midstream"):
            chunks = chunks[:3]
            if script.mode == "error_midstream":
                chunks.append(
                    sse(_error("The server had an error while processing your request.", "server_error"))
                )
            return chunks
        chunks.append(chunk({}, _finish_reason(script)))
        if with_usage:
            final = {
                "id": "chatcmpl-fake1",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [],
                "usage": _usage(script),
            }
            chunks.append(sse(final))
        if script.mode != "no_terminal":
            chunks.append(sse("[DONE]"))
        return chunks


def _finish_reason(script: Script) -> str:
    return "tool_calls" if script.tool_calls else "stop"


def _usage(script: Script) -> dict[str, int]:
    return {
        "prompt_tokens": script.input_tokens,
        "completion_tokens": script.output_tokens,
        "total_tokens": script.input_tokens + script.output_tokens,
    }


def _error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@pytest_asyncio.fixture
async def openai_server() -> AsyncIterator[OpenAIServer]:
    """A started fake OpenAI knowing "gpt-4o-mini" and "gpt-4o"; its key is `API_KEY`."""
    server = OpenAIServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# --- standalone, for benchmarks -----------------------------------------------------------------------------

TOKEN = "tok"  # each streamed token of a benchmark answer: one word, one event
_ASGI_SEND: contextvars.ContextVar[Send] = contextvars.ContextVar("asgi_send")


def token_script(tokens: int) -> Script:
    """An answer of `tokens` words `TOKEN`, one streamed event each; its usage counts exactly those tokens."""
    return Script(text=" ".join([TOKEN] * tokens), input_tokens=8, output_tokens=tokens)


class PacedServer(OpenAIServer):
    """Serves one script for its whole life, each streamed event `pace` seconds after the previous one (0: at
    full speed, as `OpenAIServer` does). Cheap per token, so that a benchmark measures its subject, not the
    fake: each answer is rendered once, and the pace is kept with one timer per event on a fixed schedule
    (Reply's `delay` spends a task per event on noticing a client that left; this ignores one)."""

    def __init__(self, script: Script, pace: float = 0.0) -> None:
        super().__init__()
        self.script = script
        self.pace = pace
        self._rendered: dict[tuple[str, bool], list[bytes]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _ASGI_SEND.set(send)  # for `_stream`, which runs within this call
        try:
            await super().__call__(scope, receive, send)
        finally:
            _ASGI_SEND.reset(token)

    def _chunks(self, model: str, script: Script, include_usage: bool) -> list[bytes]:
        key = (model, include_usage)
        if key not in self._rendered:
            self._rendered[key] = super()._chunks(model, script, include_usage)
        return self._rendered[key]

    async def _stream(self, reply: Reply, chunks: list[bytes], script: Script) -> None:
        if not self.pace:
            await super()._stream(reply, chunks, script)
            return
        send = _ASGI_SEND.get()
        headers = [(b"content-type", SSE_CONTENT_TYPE.encode()), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        loop = asyncio.get_running_loop()
        due = loop.time()
        for chunk in chunks:
            due += self.pace
            await asyncio.sleep(due - loop.time())
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def serve(server: OpenAIServer) -> None:
    """Runs `server` until SIGTERM/SIGINT; prints its base URL once listening."""
    await server.start()
    print(server.api_base, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        while not stop.is_set():
            server.requests.clear()  # a benchmark sends many thousands: keep none
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="The fake OpenAI server as a process of its own.")
    parser.add_argument("--tokens", type=int, default=200, help="streamed tokens in each answer")
    parser.add_argument("--pace-ms", type=float, default=0.0, help="time between streamed events")
    args = parser.parse_args()
    asyncio.run(serve(PacedServer(token_script(args.tokens), args.pace_ms / 1000)))


if __name__ == "__main__":
    main()
