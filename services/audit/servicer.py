"""AuditService over gRPC: requests to domain values and back. Record, BatchRecord and VerifyAuditChain are
for internal callers only (the platform's service token); List and Export for users holding the workspace
permission."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from db.models.audit import AuditLog
from geko.audit.v1 import audit_pb2, audit_pb2_grpc
from geko.common.v1 import common_pb2
from services.audit.inputs import audit_query, new_entries, new_entry, tenant_filter
from services.audit.service import AuditService
from services.runtime.context import require_principal, require_service
from services.runtime.messages import timestamp
from services.runtime.server import ServiceDeps, ServiceRegistration
from services.runtime.types import ServicerContext

SERVICE_NAME = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name


def event_message(entry: AuditLog) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        id=entry.id,
        tenant_id=entry.tenant_id,
        workspace_id=entry.workspace_id or "",
        actor_user_id=entry.actor_user_id or "",
        action=entry.action,
        resource_type=entry.resource_type,
        resource_id=entry.resource_id or "",
        details_json=json.dumps(entry.details or {}, sort_keys=True, separators=(",", ":")),
        ip=entry.ip or "",
        user_agent=entry.user_agent or "",
        request_id=entry.request_id or "",
        create_time=timestamp(entry.created_at),
        hash=entry.hash,
        prev_hash=entry.prev_hash or "",
        seq=entry.seq,
    )


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, audit: AuditService) -> None:
        self._audit = audit

    async def Record(
        self, request: audit_pb2.RecordRequest, context: ServicerContext
    ) -> audit_pb2.RecordResponse:
        require_service()
        entry = new_entry(request.event)
        await self._audit.record([entry])
        return audit_pb2.RecordResponse(id=entry.id)

    async def BatchRecord(
        self, request: audit_pb2.BatchRecordRequest, context: ServicerContext
    ) -> audit_pb2.BatchRecordResponse:
        require_service()
        entries = new_entries(request.events)
        await self._audit.record(entries)
        return audit_pb2.BatchRecordResponse(ids=[entry.id for entry in entries])

    async def ListAuditEvents(
        self, request: audit_pb2.ListAuditEventsRequest, context: ServicerContext
    ) -> audit_pb2.ListAuditEventsResponse:
        principal = require_principal()
        query = audit_query(
            tenant_id=principal.tenant_id, workspace_id=request.workspace_id, filter=request.filter
        )
        page = await self._audit.list_events(
            query, size=request.page.page_size, token=request.page.page_token
        )
        return audit_pb2.ListAuditEventsResponse(
            events=[event_message(entry) for entry in page.items],
            page_info=common_pb2.PageInfo(next_page_token=page.next_page_token, total_size=page.total_size),
        )

    async def ExportAuditEvents(
        self, request: audit_pb2.ExportAuditEventsRequest, context: ServicerContext
    ) -> AsyncIterator[audit_pb2.ExportAuditEventsResponse]:
        principal = require_principal()
        query = audit_query(
            tenant_id=principal.tenant_id, workspace_id=request.workspace_id, filter=request.filter
        )
        async for chunk in self._audit.export_csv(query):
            yield audit_pb2.ExportAuditEventsResponse(csv_chunk=chunk)

    async def VerifyAuditChain(
        self, request: audit_pb2.VerifyAuditChainRequest, context: ServicerContext
    ) -> audit_pb2.VerifyAuditChainResponse:
        require_service()
        report = await self._audit.verify(tenant_filter(request.tenant_id))
        response = audit_pb2.VerifyAuditChainResponse(ok=report.ok, checked_count=report.checked)
        if report.broken is not None:
            response.first_broken_event_id = report.broken.event_id
            response.first_broken_seq = report.broken.seq
            response.first_broken_tenant_id = report.broken.tenant_id
            response.reason = report.broken.reason
        return response


def create(deps: ServiceDeps) -> ServiceRegistration:
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=AuditServicer(AuditService(deps.database, deps.channels)),
        add_to_server=audit_pb2_grpc.add_AuditServiceServicer_to_server,
    )
