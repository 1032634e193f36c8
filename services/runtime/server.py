"""One `grpc.aio` server hosting any set of services, with health, reflection and a graceful stop.

`geko up` puts every service in one server (or a few); `geko serve <service>` puts one in its own.
Either way a service only provides a `ServiceRegistration` built from the shared `ServiceDeps`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.runtime.backends import Backends, create_backends
from services.runtime.clients import Channels
from services.runtime.database import Database
from services.runtime.interceptors import ServerInterceptor
from services.runtime.local_calls import LocalRoutes
from services.runtime.logging import get_logger
from services.runtime.secrets import SecretBox, load_secret_key
from services.runtime.settings import Settings
from services.runtime.tokens import TokenVerifier
from services.runtime.types import AddServicerFn

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SERVER_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Accept the keepalive pings our clients send (clients.CHANNEL_OPTIONS) instead of answering GOAWAY.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 0),
)

log = get_logger(__name__)


@dataclass
class ServiceDeps:
    """What a service's `create(deps)` gets: shared by every service hosted in the process."""

    settings: Settings
    database: Database
    backends: Backends
    channels: Channels
    secret_box: SecretBox

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceDeps:
        """The process's dependencies as the settings describe them (SQLite/in-process when unset)."""
        return cls(
            settings=settings,
            database=Database(settings.effective_database_url),
            backends=create_backends(settings.redis_url),
            channels=Channels(settings),
            secret_box=SecretBox(load_secret_key(settings)),
        )

    async def aclose(self) -> None:
        """Closes channels, backends and the database pool, in the reverse order of use."""
        await self.channels.close()
        await self.backends.aclose()
        await self.database.dispose()


@dataclass
class ServiceRegistration:
    """A servicer and the generated function that adds it; `name` is the full proto service name.

    `start`/`stop` run a service's background work (billing's reservation sweeper) for as long as the server
    hosting it serves, wherever that is (`geko up`, `geko serve`, tests): `GrpcServer` calls them.
    """

    name: str
    servicer: object
    add_to_server: AddServicerFn
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None


class GrpcServer:
    """Hosts registrations behind the runtime interceptor, plus `grpc.health.v1` and reflection."""

    def __init__(
        self,
        registrations: Sequence[ServiceRegistration],
        *,
        token_verifier: TokenVerifier | None,
        settings: Settings,
    ) -> None:
        names = [registration.name for registration in registrations]
        if len(set(names)) != len(names):
            raise ValueError(f"a service is registered twice: {names}")
        self.registrations = tuple(registrations)
        self.settings = settings
        self.health = health.aio.HealthServicer()
        interceptor = ServerInterceptor(token_verifier)
        self._server = grpc.aio.server(interceptors=[interceptor], options=SERVER_OPTIONS)
        # The same methods behind the same interceptor, for callers in this process (`serve_locally`).
        self.local_routes = LocalRoutes(self.service_names, interceptor)
        self.port: int | None = None

    @property
    def service_names(self) -> tuple[str, ...]:
        return tuple(registration.name for registration in self.registrations)

    async def start(self, address: str) -> int:
        """Bind `address` (`127.0.0.1:0` picks a free port), start serving and mark every service SERVING."""
        for registration in self.registrations:
            registration.add_to_server(registration.servicer, self._server)
            self.local_routes.add(registration.servicer, registration.add_to_server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        reflection.enable_server_reflection(
            (*self.service_names, health_name, reflection.SERVICE_NAME), self._server
        )
        port = int(self._server.add_insecure_port(address))
        if port == 0:
            raise OSError(f"cannot bind gRPC server to {address}")
        await self._server.start()
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        for registration in self.registrations:
            if registration.start is not None:
                await registration.start()
        self.port = port
        log.info("grpc_server_started", address=address, port=port, services=list(self.service_names))
        return port

    def serve_locally(self, channels: Channels) -> None:
        """Callers using `channels` reach this server's services in-process, when `local_calls` is on."""
        if self.settings.local_calls:
            channels.serve_locally(self.local_routes)

    async def stop(self, grace: float | None = None) -> None:
        """Stop the services' background work, report NOT_SERVING (so balancers stop sending), then let
        in-flight RPCs (in-process ones too) finish within `grace`."""
        for registration in reversed(self.registrations):
            if registration.stop is not None:
                await registration.stop()
        await self.health.enter_graceful_shutdown()
        grace = self.settings.grpc_grace_seconds if grace is None else grace
        await asyncio.gather(self._server.stop(grace), self.local_routes.close(grace))
        log.info("grpc_server_stopped", port=self.port)

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()
