"""The audit service on its own real gRPC server (127.0.0.1:0), beside the auth + workspace harness
(tests/integration/auth/harness.py) and on the same database: people and their tokens come from the real
auth service, permissions from the real WorkspaceService.CheckPermission, and the audit server verifies
callers as a separate service process does (JWKS from auth, plus the platform's service token).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import grpc
import pytest_asyncio

from geko.audit.v1 import audit_pb2, audit_pb2_grpc
from services.audit.service import AuditService
from services.audit.servicer import SERVICE_NAME, AuditServicer
from services.events.relay import OutboxRelay
from services.runtime.backends import create_backends
from services.runtime.clients import Channels
from services.runtime.clock import utcnow
from services.runtime.database import Database
from services.runtime.messages import timestamp
from services.runtime.secrets import SecretBox
from services.runtime.server import GrpcServer, ServiceDeps, ServiceRegistration
from services.runtime.service_identity import service_metadata
from services.runtime.settings import Settings
from services.runtime.tokens import jwks_verifier_from_channels
from tests.integration.auth.harness import SECRET_KEY, Platform, PlatformFactory
from tests.integration.workspace.team import Team, new_team


@dataclass
class AuditPlatform:
    """The auth + workspace platform, the audit server beside it, and a stub on the audit server."""

    platform: Platform
    deps: ServiceDeps
    server: GrpcServer
    channel: grpc.aio.Channel
    audit: audit_pb2_grpc.AuditServiceStub
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

    async def record(self, tenant_id: str, **fields: Any) -> str:
        """Records one event (fields as for `audit_event`) through AuditService.Record as the platform (the
        service token); its id."""
        response = await self.audit.Record(
            audit_pb2.RecordRequest(event=audit_event(tenant_id, **fields)), metadata=self.service_metadata()
        )
        return str(response.id)

    async def batch_record(self, events: list[audit_pb2.AuditEvent]) -> list[str]:
        """Records `events` through AuditService.BatchRecord as the platform; their ids, in order."""
        response = await self.audit.BatchRecord(
            audit_pb2.BatchRecordRequest(events=events), metadata=self.service_metadata()
        )
        return list(response.ids)

    async def verify(self, tenant_id: str = "") -> audit_pb2.VerifyAuditChainResponse:
        response: audit_pb2.VerifyAuditChainResponse = await self.audit.VerifyAuditChain(
            audit_pb2.VerifyAuditChainRequest(tenant_id=tenant_id), metadata=self.service_metadata()
        )
        return response

    async def team(self, tenant_name: str = "Acme") -> Team:
        """A new tenant's owner and their default workspace (owners hold audit:view and audit:export)."""
        return await new_team(self.platform, tenant_name)


def audit_event(
    tenant_id: str,
    *,
    action: str = "WORKSPACE_UPDATED",
    resource_type: str = "workspace",
    resource_id: str = "",
    workspace_id: str = "",
    actor_user_id: str = "",
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    event_id: str = "",
) -> audit_pb2.AuditEvent:
    """An event as an emitter sends it (the chain fields left to the service)."""
    return audit_pb2.AuditEvent(
        id=event_id,
        tenant_id=tenant_id,
        workspace_id=workspace_id,
        actor_user_id=actor_user_id,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        details_json=json.dumps(details or {}),
        ip="192.0.2.10",
        user_agent="pytest",
        request_id="req-1",
        create_time=timestamp(at or utcnow()),
    )


AuditPlatformFactory = Callable[..., Awaitable[AuditPlatform]]


@pytest_asyncio.fixture
async def start_audit(start_platform: PlatformFactory) -> AsyncIterator[AuditPlatformFactory]:
    """Starts audit servers (keyword options go to `AuditService`, e.g. page sizes); stops them all."""
    started: list[AuditPlatform] = []

    async def start(**service_options: Any) -> AuditPlatform:
        platform = await start_platform()
        settings = platform.settings.model_copy()  # auth_addr and workspace_addr: the platform's server
        deps = ServiceDeps(
            settings=settings,
            database=Database(settings.effective_database_url),
            backends=create_backends(None),
            channels=Channels(settings),
            secret_box=SecretBox(SECRET_KEY.encode()),
        )
        service = AuditService(deps.database, deps.channels, **service_options)
        server = GrpcServer(
            [
                ServiceRegistration(
                    SERVICE_NAME, AuditServicer(service), audit_pb2_grpc.add_AuditServiceServicer_to_server
                )
            ],
            token_verifier=jwks_verifier_from_channels(
                deps.channels, settings, service_key=SECRET_KEY.encode()
            ),
            settings=settings,
        )
        port = await server.start("127.0.0.1:0")
        settings.audit_addr = f"127.0.0.1:{port}"
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        harness = AuditPlatform(
            platform=platform,
            deps=deps,
            server=server,
            channel=channel,
            audit=audit_pb2_grpc.AuditServiceStub(channel),
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
