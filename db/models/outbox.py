"""The transactional outbox: messages a service must deliver to another (usage to billing, events to audit).

Shared table, but each row belongs to the service that wrote it (`service`): a service's relay reads and
updates only its own rows. A row is written in the same transaction as the change it announces.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, CreatedAt, IdPk, JsonDict
from services.runtime.clock import utcnow


class OutboxEvent(CreatedAt, Base):
    """One undelivered (or delivered) message; the relay retries until `delivered_at` is set."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_service_delivered_at", "service", "delivered_at"),)

    id: Mapped[IdPk]
    service: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(128))
    payload: Mapped[JsonDict]
    # Not before this time: the relay's backoff moves it forward after a failed attempt.
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
