"""Billing on its own real gRPC server (127.0.0.1:0) next to the model tests' auth + workspace + model server
(tests/integration/model/harness.py), sharing its dependencies: billing reaches the others over gRPC with the
caller's token forwarded, the way it runs in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest_asyncio

from geko.billing.v1 import billing_pb2_grpc
from services.auth import servicer as auth_servicer
from services.billing import servicer as billing_servicer
from services.runtime.server import GrpcServer
from tests.integration.auth.harness import Platform
from tests.integration.model.harness import ModelTeam, model_team


@dataclass
class BillingTeam(ModelTeam):
    billing: billing_pb2_grpc.BillingServiceStub | None = None

    @property
    def bill(self) -> billing_pb2_grpc.BillingServiceStub:
        assert self.billing is not None
        return self.billing


@dataclass
class BillingPlatform:
    platform: Platform
    channel: grpc.aio.Channel

    async def team(self, tenant_name: str = "Acme") -> BillingTeam:
        team = await model_team(self.platform, tenant_name)
        return BillingTeam(
            platform=team.platform,
            owner=team.owner,
            workspace_id=team.workspace_id,
            model=team.model,
            billing=billing_pb2_grpc.BillingServiceStub(self.channel),
        )


@pytest_asyncio.fixture
async def billing_platform(model_platform: Platform) -> AsyncIterator[BillingPlatform]:
    deps = model_platform.deps
    server = GrpcServer(
        [billing_servicer.create(deps)],
        token_verifier=auth_servicer.local_token_verifier(deps),
        settings=deps.settings,
    )
    port = await server.start("127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield BillingPlatform(platform=model_platform, channel=channel)
    await channel.close()
    await server.stop(0)
