"""BillingService, not implemented yet (issue 5): every RPC answers UNIMPLEMENTED, health answers SERVING."""

from __future__ import annotations

from geko.billing.v1 import billing_pb2_grpc
from services.runtime.server import ServiceDeps, ServiceRegistration, unimplemented_service


def create(deps: ServiceDeps) -> ServiceRegistration:
    return unimplemented_service(
        "geko.billing.v1.BillingService",
        billing_pb2_grpc.BillingServiceServicer,
        billing_pb2_grpc.add_BillingServiceServicer_to_server,
    )
