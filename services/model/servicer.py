"""ModelService, not implemented yet (issue 4): every RPC answers UNIMPLEMENTED, health answers SERVING."""

from __future__ import annotations

from geko.model.v1 import model_pb2_grpc
from services.runtime.server import ServiceDeps, ServiceRegistration, unimplemented_service


def create(deps: ServiceDeps) -> ServiceRegistration:
    return unimplemented_service(
        "geko.model.v1.ModelService",
        model_pb2_grpc.ModelServiceServicer,
        model_pb2_grpc.add_ModelServiceServicer_to_server,
    )
