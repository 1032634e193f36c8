"""The adapter factory and the config's key hiding."""

from __future__ import annotations

import httpx
import pytest

from services.providers.anthropic import AnthropicChatAdapter
from services.providers.base import ProviderConfig, create_adapter
from services.providers.ollama import OllamaChatAdapter
from services.providers.openai import OpenAIChatAdapter


@pytest.mark.parametrize(
    ("kind", "adapter_class"),
    [("openai", OpenAIChatAdapter), ("anthropic", AnthropicChatAdapter), ("ollama", OllamaChatAdapter)],
)
async def test_the_adapter_is_chosen_by_kind(kind: str, adapter_class: type) -> None:
    async with httpx.AsyncClient() as client:
        adapter = create_adapter(ProviderConfig(kind, "http://127.0.0.1:1"), client)  # type: ignore[arg-type]

    assert isinstance(adapter, adapter_class)


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown provider kind 'gemini'"):
        create_adapter(ProviderConfig("gemini", "http://127.0.0.1:1"))  # type: ignore[arg-type]


def test_the_config_repr_says_whether_a_key_is_set_never_which() -> None:
    with_key = ProviderConfig("openai", "https://api.openai.com/v1", "sk-abcdefghijklmnop")
    without = ProviderConfig("ollama", "http://127.0.0.1:11434")

    assert "sk-abcdefghijklmnop" not in repr(with_key)
    assert "api_key=<set>" in repr(with_key)
    assert "api_key=<none>" in repr(without)
