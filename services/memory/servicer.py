"""MemoryService, not implemented yet (issue 5): every RPC answers UNIMPLEMENTED, health answers SERVING."""

from __future__ import annotations

from geko.memory.v1 import memory_pb2_grpc
from services.runtime.server import ServiceDeps, ServiceRegistration, unimplemented_service


def create(deps: ServiceDeps) -> ServiceRegistration:
    return unimplemented_service(
        "geko.memory.v1.MemoryService",
        memory_pb2_grpc.MemoryServiceServicer,
        memory_pb2_grpc.add_MemoryServiceServicer_to_server,
    )
