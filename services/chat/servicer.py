"""ChatService, not implemented yet: the generated base servicer answers every RPC with UNIMPLEMENTED.

Hosting it now keeps the platform's shape honest: the service has an address, answers `grpc.health.v1`,
and callers get a clear UNIMPLEMENTED instead of a connection error until the real servicer replaces this.
"""

from __future__ import annotations

from geko.chat.v1 import chat_pb2, chat_pb2_grpc
from services.runtime.server import ServiceDeps, ServiceRegistration

SERVICE_NAME = chat_pb2.DESCRIPTOR.services_by_name["ChatService"].full_name


def create(deps: ServiceDeps) -> ServiceRegistration:
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=chat_pb2_grpc.ChatServiceServicer(),
        add_to_server=chat_pb2_grpc.add_ChatServiceServicer_to_server,
    )
