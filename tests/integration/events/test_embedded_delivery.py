"""In the embedded mode the relay runs beside the services: the first admin's registration is in the audit
log without anyone draining by hand, authenticated with the platform's service token."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from db.models.audit import AuditLog
from services.embedded import run_embedded
from services.runtime.database import Database
from services.runtime.settings import Settings


async def test_the_embedded_platform_delivers_its_audit_events(settings: Settings) -> None:
    settings = settings.model_copy(update={"port": 0})
    async with run_embedded(settings) as platform:
        assert platform.new_admin is not None
        database = Database(settings.effective_database_url)
        try:
            actions: list[str] = []
            for _ in range(400):  # bounded wait: delivery follows the commit, not a poll interval
                async with database.session() as session:
                    actions = list(await session.scalars(select(AuditLog.action).order_by(AuditLog.seq)))
                if "USER_REGISTERED" in actions:
                    break
                await asyncio.sleep(0.025)
        finally:
            await database.dispose()
    assert "USER_REGISTERED" in actions
