"""MemoryService, not implemented yet: the generated base servicer answers every RPC with UNIMPLEMENTED.

Hosting it now keeps the platform's shape honest: the service has an address, answers `grpc.health.v1`,
and callers get a clear UNIMPLEMENTED instead of a connection error until the real servicer replaces this.
"""

from __future__ import annotations

from geko.memory.v1 import memory_pb2, memory_pb2_grpc
from services.runtime.server import ServiceDeps, ServiceRegistration

SERVICE_NAME = memory_pb2.DESCRIPTOR.services_by_name["MemoryService"].full_name


def create(deps: ServiceDeps) -> ServiceRegistration:
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=memory_pb2_grpc.MemoryServiceServicer(),
        add_to_server=memory_pb2_grpc.add_MemoryServiceServicer_to_server,
    )
