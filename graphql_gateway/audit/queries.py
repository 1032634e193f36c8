"""Audit queries: a workspace's audit log, newest first, paged (the audit service checks audit:view)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from geko.audit.v1 import audit_pb2
from graphql_gateway.audit.types import AuditLog, AuditLogFilter
from graphql_gateway.connections import Connection, paging_arguments, window
from graphql_gateway.context import IsAuthenticated, context_of

# The audit service's names of filter fields, as the GraphQL arguments call them.
FILTER_ARGUMENTS = {
    "filter.actor_user_id": "filter.userId",
    "filter.resource_type": "filter.resourceType",
    "filter.resource_id": "filter.resourceId",
    "filter.start_time": "filter.from",
    "filter.end_time": "filter.to",
    "workspace_id": "workspaceId",
}


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="A workspace's audit log, newest first (needs audit:view).",
        permission_classes=[IsAuthenticated],
    )
    async def audit_logs(
        self,
        info: Info,
        workspace_id: strawberry.ID,
        filter: AuditLogFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AuditLog]:
        ctx = context_of(info)
        seen = window(first, after)
        request = audit_pb2.ListAuditEventsRequest(
            workspace_id=str(workspace_id),
            filter=(filter or AuditLogFilter()).to_proto(),
            page=seen.page_request(),
        )
        with paging_arguments(FILTER_ARGUMENTS):
            response = await ctx.audit.ListAuditEvents(request, metadata=ctx.metadata())
        events = [AuditLog.from_proto(event) for event in response.events]
        return Connection.from_page(events, response.page_info, seen)
