"""AuditService, not implemented yet (issue 3): every RPC answers UNIMPLEMENTED, health answers SERVING."""

from __future__ import annotations

from geko.audit.v1 import audit_pb2_grpc
from services.runtime.server import ServiceDeps, ServiceRegistration, unimplemented_service


def create(deps: ServiceDeps) -> ServiceRegistration:
    return unimplemented_service(
        "geko.audit.v1.AuditService",
        audit_pb2_grpc.AuditServiceServicer,
        audit_pb2_grpc.add_AuditServiceServicer_to_server,
    )
