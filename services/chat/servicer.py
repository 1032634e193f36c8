"""ChatService, not implemented yet (issue 5): every RPC answers UNIMPLEMENTED, health answers SERVING."""

from __future__ import annotations

from geko.chat.v1 import chat_pb2_grpc
from services.runtime.server import ServiceDeps, ServiceRegistration, unimplemented_service


def create(deps: ServiceDeps) -> ServiceRegistration:
    return unimplemented_service(
        "geko.chat.v1.ChatService",
        chat_pb2_grpc.ChatServiceServicer,
        chat_pb2_grpc.add_ChatServiceServicer_to_server,
    )
