"""The one interface every provider adapter speaks, and the value types that cross it.

Chat (turns) and model (installs, probes) code against `ProviderAdapter` only; which wire format sits
behind it is chosen once, by `create_adapter`, from a `ProviderConfig`.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, cast

import httpx

Role = Literal["system", "user", "assistant", "tool"]
ProviderKind = Literal["openai", "anthropic", "ollama"]


@dataclass(frozen=True)
class ToolCall:
    """A complete function call the model asked for; `arguments_json` is its JSON text as the model wrote
    it."""

    id: str
    name: str
    arguments_json: str


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class ChatMessage:
    """One turn of the conversation; an assistant turn may carry tool calls, a tool turn answers one by id."""

    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: Sequence[ChatMessage]
    max_output_tokens: int | None = None
    temperature: float | None = None
    tools: Sequence[ToolSpec] = ()


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """One complete tool call, assembled from the stream's fragments before it is handed on."""

    call: ToolCall


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class StreamEnd:
    """The last event of every stream. `finish_reason` is normalised to "stop", "length", "tool_calls" or
    "content_filter"; anything else the provider says is passed through. `usage` is None when the provider
    sent none (the caller counts tokens itself then)."""

    finish_reason: str
    usage: Usage | None


@dataclass(frozen=True)
class Completion:
    text: str
    tool_calls: tuple[ToolCall, ...]
    usage: Usage | None
    finish_reason: str


StreamEvent = TextDelta | ToolCallDelta | StreamEnd


class ProviderAdapter(Protocol):
    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """An async generator: deltas as they arrive, then exactly one `StreamEnd`. Closing it (`aclose()`) or
        cancelling the task consuming it closes the upstream HTTP connection at once. Failures raise
        `GekoError`s from `services.providers.errors`."""
        ...

    async def complete(self, request: ChatRequest) -> Completion:
        """The whole answer at once. The provider sends nothing until it is done, so `read_timeout` bounds the
        whole generation here, not just the gap between chunks."""
        ...


@dataclass(frozen=True)
class ProviderConfig:
    """Where a provider lives and how to reach it. The key never shows in `repr` (configs end up in logs)."""

    kind: ProviderKind
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    connect_timeout: float = 5.0
    read_timeout: float = 60.0

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return (
            f"ProviderConfig(kind={self.kind!r}, base_url={self.base_url!r}, api_key=<{key}>, "
            f"connect_timeout={self.connect_timeout}, read_timeout={self.read_timeout})"
        )

    __str__ = __repr__


# Adapter classes by kind, imported on first use: each takes `(config, client)`.
_ADAPTERS: dict[str, tuple[str, str]] = {
    "openai": ("services.providers.openai", "OpenAIChatAdapter"),
    "anthropic": ("services.providers.anthropic", "AnthropicChatAdapter"),
    "ollama": ("services.providers.ollama", "OllamaChatAdapter"),
}


def create_adapter(config: ProviderConfig, client: httpx.AsyncClient | None = None) -> ProviderAdapter:
    """The adapter for `config.kind`, built as `Adapter(config, client)`. Pass a shared `client` to pool
    connections across adapters; without one the adapter builds its own from `config` (see
    `transport.make_client`)."""
    try:
        module_name, class_name = _ADAPTERS[config.kind]
    except KeyError:
        raise ValueError(f"unknown provider kind {config.kind!r}") from None
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    return cast(ProviderAdapter, adapter_class(config, client))
