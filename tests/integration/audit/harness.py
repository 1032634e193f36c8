"""The audit service on a real gRPC server (127.0.0.1:0), beside the auth + workspace harness: users and
their tokens come from the real auth service; the audit server verifies them as a separate service
process would (JWKS from auth, plus the platform's service token).

`CheckPermission` is answered by `PermissionTable`, a small stand-in of the workspace service's RPC that
tests fill with grants, hosted on the audit server (the audit service calls it over gRPC like the real one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest_asyncio

from geko.audit.v1 import audit_pb2_grpc
from geko.workspace.v1 import workspace_pb2, workspace_pb2_grpc
from services.audit import servicer as audit_servicer
from services.events.relay import OutboxRelay
from services.runtime.backends import create_backends
from services.runtime.clients import Channels
from services.runtime.context import require_principal
from services.runtime.database import Database
from services.runtime.errors import NotFound
from services.runtime.secrets import SecretBox
from services.runtime.server import GrpcServer, ServiceDeps, ServiceRegistration
from services.runtime.service_identity import service_metadata
from services.runtime.settings import Settings
from services.runtime.tokens import jwks_verifier_from_channels
from services.runtime.types import ServicerContext
from tests.integration.auth.harness import SECRET_KEY, Platform, PlatformFactory, unique_email

WORKSPACE_SERVICE = workspace_pb2.DESCRIPTOR.services_by_name["WorkspaceService"].full_name


class PermissionTable(workspace_pb2_grpc.WorkspaceServiceServicer):
    """CheckPermission from a table: workspaces by tenant, grants by (user, workspace)."""

    def __init__(self) -> None:
        self.tenant_of: dict[str, str] = {}
        self.grants: dict[tuple[str, str], set[str]] = {}

    def grant(self, *, tenant_id: str, workspace_id: str, user_id: str, permissions: set[str]) -> None:
        self.tenant_of[workspace_id] = tenant_id
        self.grants[(user_id, workspace_id)] = set(permissions)

    async def CheckPermission(
        self, request: workspace_pb2.CheckPermissionRequest, context: ServicerContext
    ) -> workspace_pb2.CheckPermissionResponse:
        principal = require_principal()
        if self.tenant_of.get(request.workspace_id) != principal.tenant_id:
            raise NotFound("workspace not found")
        granted = self.grants.get((request.user_id, request.workspace_id), set())
        return workspace_pb2.CheckPermissionResponse(allowed=request.permission in granted)


@dataclass(frozen=True)
class User:
    id: str
    tenant_id: str
    workspace_id: str
    token: str

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),)


@dataclass
class AuditPlatform:
    """The auth + workspace platform, the audit server beside it, and a stub on the audit server."""

    platform: Platform
    deps: ServiceDeps
    server: GrpcServer
    channel: grpc.aio.Channel
    audit: audit_pb2_grpc.AuditServiceStub
    permissions: PermissionTable
    relays: list[tuple[OutboxRelay, Channels]] = field(default_factory=list)

    @property
    def database(self) -> Database:
        return self.deps.database

    @property
    def settings(self) -> Settings:
        return self.deps.settings

    def service_metadata(self) -> tuple[tuple[str, str], ...]:
        return service_metadata(self.settings)

    def relay(
        self, services: tuple[str, ...] = ("billing",), *, settings: Settings | None = None, **options: Any
    ) -> OutboxRelay:
        """A relay for `services` delivering to this audit server (or where `settings` say); stopped at
        the end of the test."""
        settings = settings or self.settings
        channels = Channels(settings)
        relay = OutboxRelay(self.database, channels, settings, services, **options)
        self.relays.append((relay, channels))
        return relay

    async def user(self, tenant_name: str = "Acme", *, permissions: set[str] | None = None) -> User:
        """A newly registered owner of a new tenant, granted `permissions` (default: view and export) in
        the tenant's default workspace."""
        registered = await self.platform.register(unique_email(), tenant_name=tenant_name)
        user = User(
            id=registered.session.user.id,
            tenant_id=registered.session.user.tenant_id,
            workspace_id=registered.default_workspace_id,
            token=registered.session.access_token,
        )
        self.permissions.grant(
            tenant_id=user.tenant_id,
            workspace_id=user.workspace_id,
            user_id=user.id,
            permissions={"audit:view", "audit:export"} if permissions is None else permissions,
        )
        return user


AuditPlatformFactory = Callable[..., Awaitable[AuditPlatform]]


@pytest_asyncio.fixture
async def start_audit(start_platform: PlatformFactory) -> AsyncIterator[AuditPlatformFactory]:
    started: list[AuditPlatform] = []

    async def start(**service_options: Any) -> AuditPlatform:
        platform = await start_platform()
        settings = platform.settings.model_copy()
        deps = ServiceDeps(
            settings=settings,
            database=Database(settings.effective_database_url),
            backends=create_backends(None),
            channels=Channels(settings),
            secret_box=SecretBox(SECRET_KEY.encode()),
        )
        permissions = PermissionTable()
        registration = audit_servicer.create(deps)
        if service_options:
            registration = ServiceRegistration(
                name=registration.name,
                servicer=audit_servicer.AuditServicer(
                    audit_servicer.AuditService(deps.database, deps.channels, **service_options)
                ),
                add_to_server=registration.add_to_server,
            )
        server = GrpcServer(
            [
                registration,
                ServiceRegistration(
                    WORKSPACE_SERVICE, permissions, workspace_pb2_grpc.add_WorkspaceServiceServicer_to_server
                ),
            ],
            token_verifier=jwks_verifier_from_channels(
                deps.channels, settings, service_key=SECRET_KEY.encode()
            ),
            settings=settings,
        )
        port = await server.start("127.0.0.1:0")
        settings.audit_addr = settings.workspace_addr = f"127.0.0.1:{port}"
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        harness = AuditPlatform(
            platform=platform,
            deps=deps,
            server=server,
            channel=channel,
            audit=audit_pb2_grpc.AuditServiceStub(channel),
            permissions=permissions,
        )
        started.append(harness)
        return harness

    yield start
    for harness in started:
        for relay, channels in harness.relays:
            await relay.stop()
            await channels.close()
        await harness.channel.close()
        await harness.server.stop(0)
        await harness.deps.aclose()


@pytest_asyncio.fixture
async def audit_platform(start_audit: AuditPlatformFactory) -> AuditPlatform:
    return await start_audit()
