"""`GET /export/audit.csv?workspaceId=…`: a workspace's audit log as CSV, streamed as the audit service
produces it (pages of rows, never the whole table in memory, here or there).

The caller signs in with `Authorization: Bearer …` as for GraphQL; the filter is the query string
(`userId`, `action`, `resourceType`, `resourceId`, `from`, `to` as ISO 8601). A refusal that comes before the
first chunk (bad token, no audit:export, another tenant's workspace, a bad filter) is an HTTP status with the
GraphQL-shaped JSON error body; a failure after it can only cut the download short.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import strawberry
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from geko.audit.v1 import audit_pb2
from graphql_gateway.audit.queries import FILTER_ARGUMENTS
from graphql_gateway.audit.types import AuditLogFilter
from graphql_gateway.context import GatewayContext, GatewayDeps
from graphql_gateway.errors import error_extensions
from services.runtime.errors import BadInput, ErrorCode, GekoError
from services.runtime.ids import parse_id
from services.runtime.logging import get_logger

log = get_logger(__name__)

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UPSTREAM_UNAVAILABLE: 503,
}


def error_response(error: GekoError) -> JSONResponse:
    """The refusal as an HTTP status and `{"errors": [{"message", "extensions": {"code", …}}]}`."""
    extensions = error_extensions(error)
    field = extensions.get("field")
    if field in FILTER_ARGUMENTS:
        extensions["field"] = FILTER_ARGUMENTS[field].removeprefix("filter.")
    body = {"data": None, "errors": [{"message": error.message, "extensions": extensions}]}
    headers = {"WWW-Authenticate": "Bearer"} if error.code is ErrorCode.UNAUTHENTICATED else None
    return JSONResponse(body, status_code=HTTP_STATUS.get(error.code, 500), headers=headers)


def _datetime_param(params: QueryParams, name: str) -> datetime | None:
    value = params.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{name} must be an ISO 8601 date-time", field=name) from None
    if parsed.tzinfo is None:
        raise BadInput(f"{name} must carry a time zone (e.g. 2025-01-31T00:00:00Z)", field=name)
    return parsed


def export_request(params: QueryParams) -> audit_pb2.ExportAuditEventsRequest:
    """The export request the query string describes; BAD_USER_INPUT naming the parameter at fault."""
    workspace_id = params.get("workspaceId", "").strip()
    if not workspace_id:
        raise BadInput("workspaceId is required", field="workspaceId")
    user_id = params.get("userId")
    audit_filter = AuditLogFilter(
        user_id=strawberry.ID(user_id) if user_id else None,
        action=params.get("action") or None,
        resource_type=params.get("resourceType") or None,
        resource_id=params.get("resourceId") or None,
        from_=_datetime_param(params, "from"),
        to=_datetime_param(params, "to"),
    )
    return audit_pb2.ExportAuditEventsRequest(workspace_id=workspace_id, filter=audit_filter.to_proto())


class AuditCsvExport:
    """The route's endpoint; one per app, sharing the GraphQL view's dependencies."""

    def __init__(self, deps: GatewayDeps) -> None:
        self.deps = deps

    async def respond(self, request: Request) -> Response:
        ctx = GatewayContext(self.deps, request, Response(), request.headers.get("authorization"))
        try:
            await ctx.principal()
            call = ctx.audit.ExportAuditEvents(export_request(request.query_params), metadata=ctx.metadata())
            chunks = aiter(call)
            # Waiting for the first chunk lets the service refuse (permission, tenant, filter) before any
            # byte of a 200 is sent.
            first = await anext(chunks, None)
        except GekoError as error:
            return error_response(error)
        filename = f"audit-{parse_id(request.query_params['workspaceId']) or 'log'}.csv"
        return StreamingResponse(
            _relay(call, chunks, first),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )


async def _relay(
    call: Any,
    chunks: AsyncIterator[audit_pb2.ExportAuditEventsResponse],
    first: audit_pb2.ExportAuditEventsResponse | None,
) -> AsyncIterator[bytes]:
    """The first chunk, then the rest as they arrive; the call is cancelled if the client goes away."""
    try:
        if first is not None:
            yield first.csv_chunk
        async for response in chunks:
            yield response.csv_chunk
    except GekoError as error:
        # The status line is long gone: all that is left is to cut the body short, so the client sees an
        # incomplete download rather than a file that silently lacks rows.
        log.warning("audit_export_failed", code=error.code.value, message=error.message)
        raise
    finally:
        call.cancel()
