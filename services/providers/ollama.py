"""Ollama: chat turns over `/api/chat` (NDJSON), and the local installs the model service manages
(`/api/pull`, `/api/delete`, `/api/tags`, `/api/version`).

Wire format: https://github.com/ollama/ollama/blob/main/docs/api.md. Ollama streams one JSON object per line;
an error is a status with `{"error": "…"}`, or, once the 200 has gone out, an `{"error": "…"}` line. Tool
calls arrive whole (arguments as a JSON object, usually without an id), so each becomes one `ToolCallDelta`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

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
from services.providers.errors import (
    PROVIDER_ERROR,
    error_for_event,
    error_for_status,
    error_for_transport,
    sanitize,
    stream_cut,
)
from services.providers.transport import (
    as_object,
    body_lines,
    decode_object,
    drain,
    make_client,
    open_response,
    read_json,
    timeout_for,
)
from services.runtime.errors import BadInput, GekoError, UpstreamUnavailable
from services.runtime.ids import new_id


def _headers(config: ProviderConfig) -> dict[str, str]:
    """Ollama itself needs no key; one is sent when set, for an Ollama behind an authenticating proxy."""
    return {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}


def _url(config: ProviderConfig, path: str) -> str:
    return config.base_url.rstrip("/") + path


# Chat


def _arguments_object(call: ToolCall) -> Any:
    """Ollama wants a tool call's arguments as a JSON object, not the text other providers take."""
    try:
        return json.loads(call.arguments_json) if call.arguments_json.strip() else {}
    except ValueError:
        raise BadInput(
            f"tool call {call.id} has arguments that are not JSON", field="messages.tool_calls.arguments_json"
        ) from None


def _wire_message(message: ChatMessage, tool_names: Mapping[str, str]) -> dict[str, Any]:
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["tool_calls"] = [
            {"function": {"name": call.name, "arguments": _arguments_object(call)}}
            for call in message.tool_calls
        ]
    name = tool_names.get(message.tool_call_id or "")
    if message.role == "tool" and name:
        # Ollama matches a tool's answer to its call by the function's name; it has no call ids.
        wire["tool_name"] = name
    return wire


def chat_body(request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The `/api/chat` request body for `request`."""
    tool_names = {call.id: call.name for message in request.messages for call in message.tool_calls}
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [_wire_message(message, tool_names) for message in request.messages],
        "stream": stream,
    }
    options: dict[str, Any] = {}
    if request.max_output_tokens is not None:
        options["num_predict"] = request.max_output_tokens
    if request.temperature is not None:
        options["temperature"] = request.temperature
    if options:
        body["options"] = options
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": dict(t.parameters)},
            }
            for t in request.tools
        ]
    return body


def _tool_call(raw: Any) -> ToolCall:
    call = as_object(raw)
    function = as_object(call.get("function"))
    arguments = function.get("arguments", {})
    arguments_json = arguments if isinstance(arguments, str) else json.dumps(arguments, separators=(",", ":"))
    call_id = call.get("id")
    return ToolCall(
        id=call_id if isinstance(call_id, str) and call_id else f"call_{new_id().replace('-', '')}",
        name=str(function.get("name") or ""),
        arguments_json=arguments_json,
    )


def _tool_calls(message: Mapping[str, Any]) -> tuple[ToolCall, ...]:
    calls = message.get("tool_calls")
    return tuple(_tool_call(call) for call in calls) if isinstance(calls, list) else ()


def _text(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def _usage(final: Mapping[str, Any]) -> Usage | None:
    """Tokens from the final object; Ollama omits a zero count (Go `omitempty`), so an absent one is 0 unless
    both are absent (no usage at all)."""
    if "prompt_eval_count" not in final and "eval_count" not in final:
        return None
    return Usage(
        input_tokens=int(final.get("prompt_eval_count") or 0),
        output_tokens=int(final.get("eval_count") or 0),
    )


def _finish_reason(final: Mapping[str, Any], *, called_tools: bool) -> str:
    """Ollama's "stop" and "length" are ours already, and others pass through; but Ollama says "stop" after
    tool calls too, where callers expect "tool_calls", as OpenAI says it."""
    reason = str(final.get("done_reason") or "stop")
    return "tool_calls" if called_tools and reason == "stop" else reason


class OllamaChatAdapter:
    """`ProviderAdapter` for Ollama's native `/api/chat`."""

    def __init__(self, config: ProviderConfig, client: httpx.AsyncClient | None = None) -> None:
        self._config = config
        self._client = client or make_client(config)
        self._url = _url(config, "/api/chat")

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        body = chat_body(request, stream=True)
        async with open_response(
            self._client, self._config, self._url, headers=_headers(self._config), json=body
        ) as response:
            called_tools = False
            lines = body_lines(response)
            async for line in lines:
                if not line.strip():
                    continue
                data = decode_object(line)
                if "error" in data:
                    raise error_for_event(data, api_key=self._config.api_key)
                message = as_object(data.get("message"))
                if text := _text(message):
                    yield TextDelta(text)
                for call in _tool_calls(message):
                    called_tools = True
                    yield ToolCallDelta(call)
                if data.get("done") is True:
                    yield StreamEnd(_finish_reason(data, called_tools=called_tools), _usage(data))
                    await drain(lines)
                    return
        raise stream_cut()

    async def complete(self, request: ChatRequest) -> Completion:
        body = chat_body(request, stream=False)
        async with open_response(
            self._client, self._config, self._url, headers=_headers(self._config), json=body
        ) as response:
            data = await read_json(response)
        if "error" in data:
            raise error_for_event(data, api_key=self._config.api_key)
        message = as_object(data.get("message"))
        calls = _tool_calls(message)
        return Completion(
            text=_text(message),
            tool_calls=calls,
            usage=_usage(data),
            finish_reason=_finish_reason(data, called_tools=bool(calls)),
        )


# Local installs


@dataclass(frozen=True)
class PullProgress:
    """One line of `/api/pull`: a status, and for a layer being downloaded its digest and byte counts."""

    status: str
    digest: str | None
    total: int | None
    completed: int | None


PullPhase = Literal["downloading", "verifying", "success"]


@dataclass(frozen=True)
class PullTotals:
    """The whole pull so far: bytes over all layers seen, and a percent that never goes back."""

    phase: PullPhase
    completed_bytes: int
    total_bytes: int
    percent: int


class PullTracker:
    """Folds `PullProgress` lines into `PullTotals`. Layers report separately and interleave, a layer may
    repeat a smaller count (a retried part), and a new layer raises the total part-way: completed bytes are
    kept per layer at their highest, and the percent is held at its highest so progress never moves back."""

    def __init__(self) -> None:
        self._layers: dict[str, tuple[int, int]] = {}
        self._phase: PullPhase = "downloading"
        self._percent = 0

    def update(self, progress: PullProgress) -> PullTotals:
        if progress.digest and progress.total:
            seen, _ = self._layers.get(progress.digest, (0, 0))
            done = min(max(seen, progress.completed or 0), progress.total)
            self._layers[progress.digest] = (done, progress.total)
        if progress.status == "success":
            self._phase = "success"
        elif not progress.digest and progress.status != "pulling manifest":
            self._phase = "verifying"  # verifying sha256 digest, writing manifest, removing unused layers
        completed = sum(done for done, _ in self._layers.values())
        total = sum(size for _, size in self._layers.values())
        if self._phase == "downloading":
            # 100 only once Ollama says success: the last byte is not the end of the job.
            self._percent = max(self._percent, min(99, completed * 100 // total) if total else 0)
        elif self._phase == "success":
            self._percent = 100
        return PullTotals(self._phase, completed, total, self._percent)


@dataclass(frozen=True)
class LocalModel:
    """One installed model, as `/api/tags` lists it."""

    name: str
    model: str
    size: int
    digest: str
    modified_at: str


def _progress(data: Mapping[str, Any]) -> PullProgress:
    def number(key: str) -> int | None:
        value = data.get(key)
        return int(value) if isinstance(value, int | float) else None

    digest = data.get("digest")
    return PullProgress(
        status=str(data.get("status") or ""),
        digest=digest if isinstance(digest, str) and digest else None,
        total=number("total"),
        completed=number("completed"),
    )


def _pull_error(data: Mapping[str, Any], api_key: str | None) -> GekoError:
    """A failed pull keeps Ollama's reason in its message: it is what an admin needs to see."""
    error = error_for_event(data, api_key=api_key)
    if error.reason == PROVIDER_ERROR:
        detail = sanitize(str(data.get("error") or ""), api_key)
        return UpstreamUnavailable(f"the model download failed: {detail}", reason=PROVIDER_ERROR)
    return error


class OllamaClient:
    """The model service's handle on one Ollama for installs. `read_timeout` bounds the silence between two
    lines: Ollama says nothing while it verifies a large download, so give pulls a generous one."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 300.0,
        api_key: str | None = None,
    ) -> None:
        self._config = ProviderConfig(
            kind="ollama",
            base_url=base_url,
            api_key=api_key,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._owns_client = client is None
        self._client = client or make_client(self._config)

    async def aclose(self) -> None:
        """Closes the HTTP client if this object built it; a client passed in stays its owner's."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> OllamaClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def pull(self, name: str) -> AsyncIterator[PullProgress]:
        """Progress lines until "success"; an `{"error"}` line or a stream that ends early raises. Closing the
        iterator closes the connection (Ollama keeps what it downloaded and resumes on the next pull)."""
        url = _url(self._config, "/api/pull")
        body = {"model": name, "stream": True}
        async with open_response(
            self._client, self._config, url, headers=_headers(self._config), json=body
        ) as response:
            async for line in body_lines(response):
                if not line.strip():
                    continue
                data = decode_object(line)
                if "error" in data:
                    raise _pull_error(data, self._config.api_key)
                progress = _progress(data)
                yield progress
                if progress.status == "success":
                    return
        raise stream_cut()

    async def delete(self, name: str) -> None:
        """Removes an installed model; one Ollama does not have raises `NotFound`."""
        await self._request("DELETE", "/api/delete", json={"model": name})

    async def tags(self) -> list[LocalModel]:
        models = decode_object((await self._request("GET", "/api/tags")).text).get("models")
        return [
            LocalModel(
                name=str(m.get("name") or ""),
                model=str(m.get("model") or m.get("name") or ""),
                size=int(m.get("size") or 0),
                digest=str(m.get("digest") or ""),
                modified_at=str(m.get("modified_at") or ""),
            )
            for m in (models if isinstance(models, list) else ())
            if isinstance(m, dict)
        ]

    async def version(self) -> str:
        """Ollama's version; a cheap health probe."""
        return str(decode_object((await self._request("GET", "/api/version")).text).get("version") or "")

    async def _request(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        try:
            response = await self._client.request(
                method,
                _url(self._config, path),
                json=json,
                headers=_headers(self._config),
                timeout=timeout_for(self._config),
            )
        except httpx.TransportError as error:
            raise error_for_transport(error, started=False) from None
        if response.status_code >= 400:
            raise error_for_status(
                response.status_code, response.content, response.headers, api_key=self._config.api_key
            )
        return response
