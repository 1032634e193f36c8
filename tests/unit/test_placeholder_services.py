"""Services not built yet are hosted honestly: they answer health SERVING and every RPC UNIMPLEMENTED."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from geko.chat.v1 import chat_pb2, chat_pb2_grpc
from services.chat import servicer as chat_servicer
from services.runtime.server import GrpcServer, ServiceDeps
from services.runtime.settings import Settings

# service → (servicer module, stub class, one call with that stub)
CASES: dict[str, tuple[ModuleType, type[Any], Callable[[Any], Any]]] = {
    "chat": (
        chat_servicer,
        chat_pb2_grpc.ChatServiceStub,
        lambda s: s.CancelChat(chat_pb2.CancelChatRequest()),
    ),
}


@pytest.mark.parametrize(("servicer", "stub_cls", "call"), list(CASES.values()), ids=list(CASES))
async def test_placeholder_answers_health_and_unimplemented(
    settings: Settings, servicer: ModuleType, stub_cls: type[Any], call: Callable[[Any], Any]
) -> None:
    deps = ServiceDeps.from_settings(settings)
    registration = servicer.create(deps)
    server = GrpcServer([registration], token_verifier=None, settings=settings)
    port = await server.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=registration.name), timeout=5
            )
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await call(stub_cls(channel))
    finally:
        await server.stop(0)
        await deps.aclose()

    assert registration.name.endswith("." + stub_cls.__name__.removesuffix("Stub"))
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED
