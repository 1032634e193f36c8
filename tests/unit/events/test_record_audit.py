"""record_audit adds one outbox row to the caller's session, with who and from where taken from the request
context, and refuses what the audit log could not store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from db.models.outbox import OutboxEvent
from services.events.audit import AUDIT_TOPIC, AuditAction, audit_event_message, record_audit
from services.runtime.context import (
    Principal,
    current_peer_ip,
    current_principal,
    current_request_id,
    current_user_agent,
)


@pytest.fixture
async def session() -> AsyncIterator[AsyncSession]:
    """A session that is never flushed: these tests look only at what was added to it."""
    engine = create_async_engine("sqlite+aiosqlite://")
    async with AsyncSession(engine) as session:
        yield session
    await engine.dispose()


async def test_the_row_carries_the_event_and_its_context(session: AsyncSession) -> None:
    current_principal.set(Principal(user_id="u-1", tenant_id="t-1", role="owner"))
    current_peer_ip.set("198.51.100.4")
    current_user_agent.set("x" * 600)
    current_request_id.set("r" * 100)

    event_id = await record_audit(
        session,
        service="workspace",
        action=AuditAction.WORKSPACE_RENAMED
        if hasattr(AuditAction, "WORKSPACE_RENAMED")
        else "WORKSPACE_UPDATED",
        tenant_id="t-1",
        resource_type="workspace",
        resource_id="w-1",
        workspace_id="w-1",
        details={"name": ("old", "new")},
    )

    [row] = list(session.new)
    assert isinstance(row, OutboxEvent)
    assert (row.id, row.service, row.topic) == (event_id, "workspace", AUDIT_TOPIC)
    payload = row.payload
    assert payload["actor_user_id"] == "u-1"
    assert payload["details"] == {"name": ["old", "new"]}  # as JSON will give it back
    assert (payload["ip"], len(payload["user_agent"]), len(payload["request_id"])) == (
        "198.51.100.4",
        512,
        64,
    )
    assert datetime.fromisoformat(payload["created_at"]).tzinfo is not None
    message = audit_event_message(event_id, payload)
    assert (message.id, message.tenant_id, message.workspace_id, message.action) == (
        event_id,
        "t-1",
        "w-1",
        "WORKSPACE_UPDATED",
    )
    assert message.details_json == '{"name":["old","new"]}'


async def test_a_service_or_anonymous_caller_is_no_actor_unless_named(session: AsyncSession) -> None:
    current_principal.set(Principal(user_id="", tenant_id="", role="service"))
    await record_audit(session, service="auth", action="LOGIN_FAILED", tenant_id="t-1", resource_type="user")
    await record_audit(
        session,
        service="auth",
        action="USER_REGISTERED",
        tenant_id="t-1",
        resource_type="user",
        actor_user_id="u-9",
    )

    actors = sorted(str(row.payload["actor_user_id"]) for row in session.new if isinstance(row, OutboxEvent))
    assert actors == ["None", "u-9"]


@pytest.mark.parametrize(
    "changes",
    [
        {"service": "nobody"},
        {"action": "A" * 65},
        {"resource_type": ""},
        {"tenant_id": ""},
        {"details": {"when": datetime(2025, 1, 1)}},
    ],
)
async def test_what_the_log_cannot_store_is_refused_at_the_call(
    session: AsyncSession, changes: dict[str, object]
) -> None:
    fields: dict[str, object] = {
        "service": "auth",
        "action": "USER_LOGIN",
        "tenant_id": "t-1",
        "resource_type": "user",
        **changes,
    }
    with pytest.raises((ValueError, TypeError)):
        await record_audit(session, **fields)  # type: ignore[arg-type]
    assert not session.new
