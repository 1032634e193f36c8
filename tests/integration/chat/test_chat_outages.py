"""Parts of the platform going away while a turn runs.

- Billing down when a turn settles: the turn still completes (cost and quota unknown), its usage waits in the
  outbox and arrives once billing is back — once, however often the commit is replayed. Meanwhile new turns
  are refused before any provider call (nothing can be reserved). Billing runs on a gRPC server of its own
  here (harness.billing_apart_platform), so it can be stopped while chat, the relay and the gateway run on.
- Billing down and the outbox not writable either: the turn cannot be settled, but it still ends with one
  terminal event (its readers never hang).
- The platform shutting down mid-turn: the turn is cut and settled before the process stops."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from db.models.billing import TokenUsage
from db.models.memory import Message
from db.models.outbox import OutboxEvent
from services.events.usage import USAGE_TOPIC
from services.runtime.database import Database
from tests.fakes.http_fake import Script
from tests.integration.auth.harness import database_url
from tests.integration.chat.harness import (
    billing_apart_platform,
    chat_platform,
    collect,
    eventually,
    streamed_text,
)

__all__ = ["database_url"]

pytestmark = pytest.mark.asyncio(loop_scope="module")

ANSWER = " ".join(f"w{n}" for n in range(40))


async def usage_rows(database: Database, turn_id: str) -> list[OutboxEvent]:
    """The outbox rows that carry the turn's usage."""
    async with database.session() as session:
        rows = (await session.execute(select(OutboxEvent).where(OutboxEvent.topic == USAGE_TOPIC))).scalars()
        return [row for row in rows if row.payload["idempotency_key"] == turn_id]


async def ledger_rows(database: Database, turn_id: str) -> int:
    async with database.session() as session:
        count = select(func.count()).select_from(TokenUsage).where(TokenUsage.idempotency_key == turn_id)
        return int((await session.execute(count)).scalar_one())


async def test_billing_down_at_commit_the_usage_arrives_once_when_it_is_back(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    async with billing_apart_platform(
        database_url, tmp_path_factory.mktemp("billing-down"), redis_url if use_redis else None
    ) as (platform, billing):
        platform.openai.script = Script(
            text=ANSWER, input_tokens=30, output_tokens=40, mode="slow", delay=0.02
        )
        owner, ws = await platform.team("Outage Co")
        turn: dict[str, Any] = {
            "workspaceId": ws,
            "model": "gpt-4o-mini",
            "message": "Count",
            "maxTokens": 512,
        }
        database = platform.deps.database

        async with platform.websocket(owner.token) as connection:
            await platform.subscribe(connection, {"input": turn})
            head = await collect(connection, limit=1)
            assert head[0]["__typename"] == "ChatStarted", head
            await billing.stop()
            events = head + await collect(connection)

        done = events[-1]
        assert done["__typename"] == "ChatCompleted", events
        assert streamed_text(events) == ANSWER
        assert done["usage"] == {"inputTokens": 30, "outputTokens": 40, "totalTokens": 70}
        assert done["finishReason"] == "STOP"
        assert (done["costMicros"], done["quota"]) == (None, None)  # billing could not say
        turn_id = done["turnId"]
        queued = await usage_rows(database, turn_id)
        assert len(queued) == 1
        assert queued[0].service == "chat"
        assert queued[0].payload["output_tokens"] == 40
        assert await ledger_rows(database, turn_id) == 0
        stored = await platform.messages(owner.token, events[0]["conversationId"])
        assert [(m["role"], m["status"]) for m in stored] == [("USER", "COMPLETE"), ("ASSISTANT", "COMPLETE")]

        # While billing is down, a new turn cannot reserve: refused before the provider is called.
        calls = len(platform.openai.requests)
        refused = await platform.chat(owner.token, **turn)
        assert [event["__typename"] for event in refused] == ["ChatFailed"], refused
        assert refused[0]["code"] == "UPSTREAM_UNAVAILABLE"
        assert len(platform.openai.requests) == calls

        await billing.start()

        await eventually(
            lambda: usage_rows(database, turn_id), lambda rows: rows[0].delivered_at is not None, timeout=30
        )
        assert await ledger_rows(database, turn_id) == 1
        quota = await platform.quota(owner.token, ws)
        assert (quota["tokensUsed"], quota["tokensReserved"], quota["requestsUsed"]) == (70, 0, 1)

        for _ in range(3):
            replayed = await platform.commit_usage(owner.token, ws, 40, input_tokens=30, key=turn_id)
            assert replayed.duplicate is True
        assert await ledger_rows(database, turn_id) == 1
        quota = await platform.quota(owner.token, ws)
        assert (quota["tokensUsed"], quota["tokensReserved"], quota["requestsUsed"]) == (70, 0, 1)
        usage = await platform.usage(owner.token, ws)
        assert (usage["tokens"], usage["requests"]) == (70, 1)


async def test_a_platform_stopping_mid_turn_settles_the_turn_first(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    async with chat_platform(
        database_url, tmp_path_factory.mktemp("shutdown"), redis_url if use_redis else None
    ) as platform:
        platform.openai.script = Script(
            text=ANSWER, input_tokens=30, output_tokens=40, mode="slow", delay=0.05
        )
        owner, ws = await platform.team("Closing Co")
        turn: dict[str, Any] = {
            "workspaceId": ws,
            "model": "gpt-4o-mini",
            "message": "Count",
            "maxTokens": 512,
        }
        async with platform.websocket(owner.token) as connection:
            await platform.subscribe(connection, {"input": turn})
            head = await collect(connection, limit=2)
        # The client left: the turn would wait out its 10 s grace period, but the platform stops now.

    turn_id = head[0]["turnId"]
    database = Database(database_url)
    try:
        async with database.session() as session:
            billed = (
                (await session.execute(select(TokenUsage).where(TokenUsage.idempotency_key == turn_id)))
                .scalars()
                .all()
            )
            answer = (
                await session.execute(
                    select(Message).where(Message.turn_id == turn_id, Message.role == "assistant")
                )
            ).scalar_one()
    finally:
        await database.dispose()
    assert len(billed) == 1
    assert billed[0].output_tokens > 0
    assert answer.status == "cut"
    assert answer.content.startswith(streamed_text(head))
    assert ANSWER.startswith(answer.content)
    assert answer.content != ANSWER
    assert billed[0].output_tokens == answer.output_tokens


async def test_a_turn_that_cannot_be_settled_still_ends_with_one_terminal_event(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    async with billing_apart_platform(
        database_url, tmp_path_factory.mktemp("unsettled"), redis_url if use_redis else None
    ) as (platform, billing):
        platform.openai.script = Script(
            text=ANSWER, input_tokens=30, output_tokens=40, mode="slow", delay=0.02
        )
        owner, ws = await platform.team("Broken Co")
        turn: dict[str, Any] = {
            "workspaceId": ws,
            "model": "gpt-4o-mini",
            "message": "Count",
            "maxTokens": 512,
        }
        database = platform.deps.database

        async with platform.websocket(owner.token) as connection:
            await platform.subscribe(connection, {"input": turn})
            head = await collect(connection, limit=1)
            await billing.stop()
            async with database.transaction() as session:  # the outbox goes too
                await session.execute(text("ALTER TABLE outbox_events RENAME TO outbox_events_away"))
            try:
                events = head + await collect(connection)
            finally:
                async with database.transaction() as session:
                    await session.execute(text("ALTER TABLE outbox_events_away RENAME TO outbox_events"))
                await billing.start()

    kinds = [event["__typename"] for event in events]
    assert kinds[0] == "ChatStarted"
    assert kinds[-1] == "ChatFailed", events
    assert kinds.count("ChatFailed") + kinds.count("ChatCompleted") == 1
    assert events[-1]["code"] == "INTERNAL"
