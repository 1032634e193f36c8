"""BillingService, not implemented yet: the generated base servicer answers every RPC with UNIMPLEMENTED.

Hosting it now keeps the platform's shape honest: the service has an address, answers `grpc.health.v1`,
and callers get a clear UNIMPLEMENTED instead of a connection error until the real servicer replaces this.
"""

from __future__ import annotations

from geko.billing.v1 import billing_pb2, billing_pb2_grpc
from services.runtime.server import ServiceDeps, ServiceRegistration

SERVICE_NAME = billing_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name


def create(deps: ServiceDeps) -> ServiceRegistration:
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=billing_pb2_grpc.BillingServiceServicer(),
        add_to_server=billing_pb2_grpc.add_BillingServiceServicer_to_server,
    )
