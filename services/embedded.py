"""The embedded mode: every service and the gateway in one process, calling each other in-process.

`run_embedded(settings)` migrates and seeds the database, hosts the seven services in one gRPC server on a
loopback port (every `<service>_addr` points at it; with `local_calls`, the default, the process's own calls
skip that socket: runtime/local_calls.py) with their outbox relay, creates the first admin on a
first start, and serves the gateway over HTTP. Leaving the block shuts down in order: gateway, relay, gRPC
server (with grace), then the database and cache. `geko up`, the admin commands and tests all use it.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from db import migrate
from db.seed import seed
from geko.auth.v1 import auth_pb2, auth_pb2_grpc
from graphql_gateway.app import create_app
from services.auth.repository import AuthRepository
from services.events.relay import OutboxRelay
from services.hosting import (
    HttpServer,
    registrations,
    reserved_loopback_port,
    token_verifier,
    with_service_addresses,
)
from services.runtime.errors import BadInput, GekoError
from services.runtime.logging import get_logger
from services.runtime.server import GrpcServer, ServiceDeps
from services.runtime.settings import SERVICES, Settings

FIRST_ADMIN_NAME = "Admin"
FIRST_TENANT_NAME = "GEKO"

log = get_logger(__name__)


@dataclass(frozen=True)
class AdminCredentials:
    """The first admin, created on this start. `password` is None when it came from GEKO_ADMIN_PASSWORD
    (never echoed); otherwise it was generated and must be shown once."""

    email: str
    password: str | None


@dataclass(frozen=True)
class Platform:
    settings: Settings  # as the services see them: every <service>_addr is the shared gRPC server
    grpc_port: int
    http_port: int
    url: str
    new_admin: AdminCredentials | None


@asynccontextmanager
async def run_embedded(settings: Settings) -> AsyncIterator[Platform]:
    """The whole platform in this process, for as long as the block runs."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await migrate.upgrade(settings.effective_database_url)
    async with AsyncExitStack() as stack:
        with reserved_loopback_port() as grpc_port:
            settings = with_service_addresses(settings, f"127.0.0.1:{grpc_port}")
            deps = ServiceDeps.from_settings(settings)
            stack.push_async_callback(deps.aclose)
            async with deps.database.transaction() as session:
                await seed(session)
            server = GrpcServer(
                registrations(SERVICES, deps),
                token_verifier=token_verifier(SERVICES, deps),
                settings=settings,
            )
            await server.start(f"127.0.0.1:{grpc_port}")
            stack.push_async_callback(server.stop)
            server.serve_locally(deps.channels)  # the services and the gateway skip the loopback socket
            # Started after the server (it delivers to audit over gRPC), stopped before it (LIFO).
            relay = OutboxRelay(deps.database, deps.channels, settings, SERVICES)
            await relay.start()
            stack.push_async_callback(relay.stop)

        new_admin = await ensure_first_admin(deps)

        # The gateway gets the process's database and cache, but builds its own token verifier from the
        # channels, exactly as a separate gateway process would.
        app = create_app(settings, channels=deps.channels, database=deps.database, backends=deps.backends)
        http = HttpServer(app, settings.host, settings.port, grace_seconds=settings.grpc_grace_seconds)
        await http.start()
        stack.push_async_callback(http.stop)

        url = f"http://{settings.host}:{http.port}"
        log.info("geko_up", url=url, grpc_port=grpc_port, database=deps.database.dialect)
        yield Platform(settings, grpc_port, http.port, url, new_admin)


async def ensure_first_admin(deps: ServiceDeps) -> AdminCredentials | None:
    """On a first start (no user at all), registers the first admin through AuthService.Register, so the
    account gets a tenant and a default workspace like anyone else's."""
    async with deps.database.session() as session:
        if await AuthRepository(session).list_users(tenant_id=None, limit=1):
            return None
    settings = deps.settings
    email = settings.admin_email
    given = settings.admin_password.get_secret_value() if settings.admin_password else ""
    password = given or generate_password()
    request = auth_pb2.RegisterRequest(
        email=email, password=password, name=FIRST_ADMIN_NAME, tenant_name=FIRST_TENANT_NAME
    )
    try:
        await deps.channels.stub("auth", auth_pb2_grpc.AuthServiceStub).Register(request)
    except GekoError as error:
        if error.field in ("email", "password"):
            raise BadInput(
                f"first admin: {error.message}", field=f"GEKO_ADMIN_{error.field.upper()}"
            ) from None
        raise
    log.info("first_admin_created", email=email)
    return AdminCredentials(email=email, password=None if given else password)


def generate_password() -> str:
    """A random password that meets the policy (letters mixed with digits or symbols)."""
    while True:
        password = secrets.token_urlsafe(18)
        if any(c.isalpha() for c in password) and not password.isalpha():
            return password
