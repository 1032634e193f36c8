"""GraphQL types of the audit log, built from `geko.audit.v1` messages, and the filter both the query and
the CSV export take."""

from __future__ import annotations

import json
from datetime import datetime

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from geko.audit.v1 import audit_pb2
from graphql_gateway.auth.types import User
from graphql_gateway.common import to_datetime
from graphql_gateway.context import context_of
from services.runtime.messages import timestamp


@strawberry.type(description="One recorded action: who did what, when, on what and from where.")
class AuditLog:
    id: strawberry.ID
    action: str = strawberry.field(description="Upper snake case, e.g. MEMBER_ROLE_CHANGED.")
    resource_type: str
    resource_id: str | None
    details: JSON = strawberry.field(description="The specifics (old and new role…), a JSON object.")
    ip: str | None
    user_agent: str | None
    request_id: str | None
    created_at: datetime = strawberry.field(description="When the change happened.")
    actor_id: strawberry.Private[str]

    @strawberry.field(description="Who acted; null for events without a signed-in user (a failed login).")
    async def actor(self, info: Info) -> User | None:
        return await context_of(info).users.load(self.actor_id) if self.actor_id else None

    @classmethod
    def from_proto(cls, event: audit_pb2.AuditEvent) -> AuditLog:
        return cls(
            id=strawberry.ID(event.id),
            action=event.action,
            resource_type=event.resource_type,
            resource_id=event.resource_id or None,
            details=json.loads(event.details_json) if event.details_json else {},
            ip=event.ip or None,
            user_agent=event.user_agent or None,
            request_id=event.request_id or None,
            created_at=to_datetime(event.create_time),
            actor_id=event.actor_user_id,
        )


@strawberry.input(description="Fields left out do not filter; `from` is inclusive, `to` exclusive.")
class AuditLogFilter:
    user_id: strawberry.ID | None = strawberry.field(default=None, description="The actor.")
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    from_: datetime | None = strawberry.field(default=None, name="from")
    to: datetime | None = None

    def to_proto(self) -> audit_pb2.AuditEventFilter:
        return audit_pb2.AuditEventFilter(
            actor_user_id=self.user_id or "",
            action=self.action or "",
            resource_type=self.resource_type or "",
            resource_id=self.resource_id or "",
            start_time=timestamp(self.from_),
            end_time=timestamp(self.to),
        )
