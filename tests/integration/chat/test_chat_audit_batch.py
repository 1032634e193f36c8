"""The chat service's audit rows are committed in batches (services/chat/audit.py): each row still carries
the request context of its own turn, and a batch that cannot be written fails every turn in it (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text

from services.chat.audit import AuditBatcher
from services.events.audit import AuditAction, record_audit
from services.runtime.context import current_request_id
from services.runtime.database import Database
from services.runtime.ids import new_id
from tests.integration.auth.harness import database_url

__all__ = ["database_url"]


@pytest_asyncio.fixture(loop_scope="module")
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


async def audited_turn(batcher: AuditBatcher, request_id: str, turn_id: str) -> None:
    """A turn's CHAT_COMPLETED row, staged from the turn's own task (and so its own request context)."""
    current_request_id.set(request_id)
    await batcher.record(
        lambda session: record_audit(
            session,
            service="chat",
            action=AuditAction.CHAT_COMPLETED,
            tenant_id=new_id(),
            resource_type="chat_turn",
            resource_id=turn_id,
            details={"status": "complete"},
        )
    )


async def payloads(database: Database, turn_ids: list[str]) -> dict[str, dict[str, Any]]:
    async with database.session() as session:
        rows = (await session.execute(text("SELECT payload FROM outbox_events WHERE service = 'chat'"))).all()
    found = [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in rows]
    return {payload["resource_id"]: payload for payload in found if payload["resource_id"] in turn_ids}


@pytest.mark.asyncio(loop_scope="module")
async def test_turns_settling_together_are_audited_each_with_its_own_request(database: Database) -> None:
    batcher = AuditBatcher(database)
    turns = {new_id(): f"request-{number}" for number in range(6)}

    await asyncio.gather(*(audited_turn(batcher, request, turn) for turn, request in turns.items()))

    stored = await payloads(database, list(turns))
    assert {turn: payload["request_id"] for turn, payload in stored.items()} == turns
    assert all(payload["action"] == "CHAT_COMPLETED" for payload in stored.values())
    await batcher.aclose()


@pytest.mark.asyncio(loop_scope="module")
async def test_a_batch_that_cannot_be_written_fails_every_turn_in_it(database: Database) -> None:
    batcher = AuditBatcher(database)
    turns = [new_id(), new_id()]
    async with database.transaction() as session:
        await session.execute(text("ALTER TABLE outbox_events RENAME TO outbox_events_away"))
    try:
        results = await asyncio.gather(
            *(audited_turn(batcher, "request", turn) for turn in turns), return_exceptions=True
        )
    finally:
        async with database.transaction() as session:
            await session.execute(text("ALTER TABLE outbox_events_away RENAME TO outbox_events"))

    assert all(isinstance(result, Exception) for result in results), results
    assert await payloads(database, turns) == {}
    await audited_turn(batcher, "request", turns[0])  # the next batch is written again
    assert list(await payloads(database, turns)) == [turns[0]]
    await batcher.aclose()
