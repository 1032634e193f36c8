"""Running GEKO's pieces in this process: which services to host, their token verifier, the HTTP server
for the gateway, and the wait for SIGINT/SIGTERM. Shared by `geko up` (all of it) and `geko serve` (one).
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress

import uvicorn
from starlette.types import ASGIApp

from services.audit import servicer as audit
from services.auth import servicer as auth
from services.billing import servicer as billing
from services.chat import servicer as chat
from services.memory import servicer as memory
from services.model import servicer as model
from services.runtime.secrets import load_secret_key
from services.runtime.server import ServiceDeps, ServiceRegistration
from services.runtime.settings import SERVICES, Settings
from services.runtime.tokens import TokenVerifier, jwks_verifier_from_channels
from services.workspace import servicer as workspace

CREATORS: dict[str, Callable[[ServiceDeps], ServiceRegistration]] = {
    "auth": auth.create,
    "workspace": workspace.create,
    "model": model.create,
    "chat": chat.create,
    "memory": memory.create,
    "billing": billing.create,
    "audit": audit.create,
}
assert tuple(CREATORS) == SERVICES, "every service needs a creator"


def registrations(services: Sequence[str], deps: ServiceDeps) -> list[ServiceRegistration]:
    return [CREATORS[service](deps) for service in services]


def token_verifier(services: Sequence[str], deps: ServiceDeps) -> TokenVerifier:
    """The process hosting auth reads signing keys locally (auth never calls itself); others ask auth."""
    if "auth" in services:
        return auth.local_token_verifier(deps)
    return jwks_verifier_from_channels(
        deps.channels, deps.settings, service_key=load_secret_key(deps.settings)
    )


def with_service_addresses(settings: Settings, address: str) -> Settings:
    """`settings` with every `<service>_addr` pointing at `address` (all services in one server)."""
    return settings.model_copy(update={f"{service}_addr": address for service in SERVICES})


@contextmanager
def reserved_loopback_port() -> Iterator[int]:
    """A free loopback port, held until the block ends so no other process takes it meanwhile.

    The holding socket sets SO_REUSEPORT and never listens; gRPC binds with SO_REUSEPORT too, so it can take
    the port while we hold it. The services need their own address before the server binds (they build
    their clients in `create`), hence the reservation instead of binding port 0.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers: the process's shutdown sequence owns SIGINT/SIGTERM
    (uvicorn's would re-raise the signal after shutdown and turn a clean exit into death by signal)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """The gateway app served by uvicorn on `host:port` (port 0 picks one), started and stopped in-loop."""

    def __init__(self, app: ASGIApp, host: str, port: int, *, grace_seconds: float) -> None:
        # Bound here, so a taken port fails at once with a plain OSError, before anything else starts.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose protocol says TCP, and
        # accepted sockets inherit it. With protocol 0, each response's body waited ~40 ms for a delayed ACK.
        self._socket = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind((host, port))
        except OSError as error:
            self._socket.close()
            raise OSError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="on",
            ws="websockets-sansio",
            # No permessage-deflate: ~100 KB of zlib state per WebSocket, and streamed tokens barely compress.
            ws_per_message_deflate=False,
            timeout_graceful_shutdown=max(1, round(grace_seconds)),
        )
        self._server = _Uvicorn(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                await self._task
                raise RuntimeError("the HTTP server stopped during startup")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stops accepting, lets open requests finish (within the grace period), runs the app's shutdown."""
        if self._task is not None:
            self._server.should_exit = True
            await self._task
        self._socket.close()


async def wait_for_shutdown_signal() -> None:
    """Returns on the first SIGINT or SIGTERM; a second one during shutdown gets the default behaviour."""
    loop = asyncio.get_running_loop()
    received = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, received.set)
    try:
        await received.wait()
    finally:
        for sig in signals:
            with suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(sig)
