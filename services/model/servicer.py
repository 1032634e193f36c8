"""ModelService, not implemented yet: the generated base servicer answers every RPC with UNIMPLEMENTED.

Hosting it now keeps the platform's shape honest: the service has an address, answers `grpc.health.v1`,
and callers get a clear UNIMPLEMENTED instead of a connection error until the real servicer replaces this.
"""

from __future__ import annotations

from geko.model.v1 import model_pb2, model_pb2_grpc
from services.runtime.server import ServiceDeps, ServiceRegistration

SERVICE_NAME = model_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name


def create(deps: ServiceDeps) -> ServiceRegistration:
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=model_pb2_grpc.ModelServiceServicer(),
        add_to_server=model_pb2_grpc.add_ModelServiceServicer_to_server,
    )
