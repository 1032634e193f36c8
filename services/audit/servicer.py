"""AuditService, not implemented yet: the generated base servicer answers every RPC with UNIMPLEMENTED.

Hosting it now keeps the platform's shape honest: the service has an address, answers `grpc.health.v1`,
and callers get a clear UNIMPLEMENTED instead of a connection error until the real servicer replaces this.
"""

from __future__ import annotations

from geko.audit.v1 import audit_pb2, audit_pb2_grpc
from services.runtime.server import ServiceDeps, ServiceRegistration

SERVICE_NAME = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name


def create(deps: ServiceDeps) -> ServiceRegistration:
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=audit_pb2_grpc.AuditServiceServicer(),
        add_to_server=audit_pb2_grpc.add_AuditServiceServicer_to_server,
    )
