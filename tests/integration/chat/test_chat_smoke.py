"""First light: one turn streams through GraphQL, is stored and billed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from tests.integration.chat.harness import ChatPlatform, chat_platform, streamed_text
from tests.integration.gateway.team import Member


@pytest_asyncio.fixture
async def platform(tmp_path: Path) -> AsyncIterator[ChatPlatform]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'geko.db'}"
    async with chat_platform(url, tmp_path / "data") as chat:
        yield chat


async def test_a_turn_streams_and_settles(platform: ChatPlatform) -> None:
    owner: Member = await platform.gateway.register("Smoke Co")
    ws = await platform.gateway.create_workspace(owner.token, "Lab")
    platform.openai.script.text = "Hello there, how are you today?"
    events = await platform.chat(owner.token, workspaceId=ws, model="gpt-4o-mini", message="Hi!", maxTokens=64)
    print(events)
    kinds = [event.get("__typename") for event in events]
    assert kinds[0] == "ChatStarted" and kinds[-1] == "ChatCompleted", events
    assert streamed_text(events) == "Hello there, how are you today?"
