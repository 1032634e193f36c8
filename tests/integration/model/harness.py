"""Auth, workspace and model on one real gRPC server (127.0.0.1:0), over SQLite with in-process backends or a
fresh PostgreSQL database with Redis (tests/integration/auth/harness.py makes the databases).

A `ModelTeam` is the workspace tests' team (an owner, their workspace, people who joined through real
invitations) plus the model stub, and helpers for what only the tests do directly: a tenant's plan (auth's
table) and a local model's installed state (an install job row in `ready`, what InstallsRepository reads).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from db.models.model import ModelInstallJob
from geko.auth.v1 import auth_pb2_grpc
from geko.model.v1 import model_pb2, model_pb2_grpc
from geko.workspace.v1 import workspace_pb2_grpc
from services.auth import admin
from services.auth import servicer as auth_servicer
from services.model import servicer as model_servicer
from services.runtime.backends import create_backends
from services.runtime.clients import Channels
from services.runtime.database import Database
from services.runtime.ids import new_id
from services.runtime.secrets import SecretBox
from services.runtime.server import GrpcServer, ServiceDeps
from services.runtime.settings import Settings
from services.workspace import servicer as workspace_servicer
from tests.integration.auth.harness import SECRET_KEY, Platform
from tests.integration.workspace.team import Person, Team, new_team

PLATFORM_OPENAI_KEY = "sk-platform-openai-key-0123456789"


@dataclass
class ModelTeam(Team):
    model: model_pb2_grpc.ModelServiceStub | None = None

    @property
    def models(self) -> model_pb2_grpc.ModelServiceStub:
        assert self.model is not None
        return self.model

    async def set_plan(self, plan: str) -> None:
        """Through auth's admin action, which also tells the plan cache (a raw UPDATE would not)."""
        await admin.set_plan(self.platform.deps, self.owner.tenant_id, plan)

    async def mark_installed(self, model_id: str) -> None:
        async with self.platform.deps.database.transaction() as session:
            session.add(
                ModelInstallJob(
                    tenant_id=self.owner.tenant_id,
                    model_id=model_id,
                    created_by=self.owner.user_id,
                    status="ready",
                    completed_bytes=1,
                    total_bytes=1,
                )
            )

    async def eligible(self, person: Person | None = None, user_id: str = "") -> dict[str, Any]:
        """model id → EligibleModel, as `person` (default: the owner) sees them."""
        answer = await self.models.ListEligibleModels(
            model_pb2.ListEligibleModelsRequest(workspace_id=self.workspace_id, user_id=user_id),
            metadata=self.md(person or self.owner),
        )
        return {entry.model.id: entry for entry in answer.models}

    async def usable(self, person: Person | None = None) -> set[str]:
        return {model_id for model_id, entry in (await self.eligible(person)).items() if entry.usable}


async def model_team(platform: Platform, tenant_name: str = "Acme") -> ModelTeam:
    team = await new_team(platform, tenant_name)
    return ModelTeam(
        platform=team.platform,
        owner=team.owner,
        workspace_id=team.workspace_id,
        model=model_pb2_grpc.ModelServiceStub(platform.channel),
    )


@pytest_asyncio.fixture
async def model_platform(database_url: str, tmp_path: Path, redis_url: str) -> AsyncIterator[Platform]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        database_url=database_url,
        secret_key=SecretStr(SECRET_KEY),
        login_rate_per_ip=1000,
        login_rate_per_email=1000,
        grpc_deadline_seconds=5.0,
        openai_api_key=SecretStr(PLATFORM_OPENAI_KEY),
        anthropic_api_key=SecretStr("sk-ant-platform"),
        deepseek_api_key=SecretStr("sk-deepseek-platform"),
    )
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    deps = ServiceDeps(
        settings=settings,
        database=Database(database_url),
        backends=create_backends(redis_url if use_redis else None, key_prefix=f"geko-test:{new_id()}:"),
        channels=Channels(settings),
        secret_box=SecretBox(SECRET_KEY.encode()),
    )
    server = GrpcServer(
        [auth_servicer.create(deps), workspace_servicer.create(deps), model_servicer.create(deps)],
        token_verifier=auth_servicer.local_token_verifier(deps),
        settings=settings,
    )
    port = await server.start("127.0.0.1:0")
    settings.auth_addr = settings.workspace_addr = settings.model_addr = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    platform = Platform(
        deps=deps,
        server=server,
        channel=channel,
        auth=auth_pb2_grpc.AuthServiceStub(channel),
        workspace=workspace_pb2_grpc.WorkspaceServiceStub(channel),
        ip="198.51.100.7",
    )
    yield platform
    await channel.close()
    await server.stop(0)
    await deps.backends.cache.delete_prefix("")
    await deps.aclose()
