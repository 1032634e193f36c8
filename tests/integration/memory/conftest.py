"""Auth, workspace and memory on one real gRPC server (127.0.0.1:0), over SQLite with in-process backends or a
fresh PostgreSQL database with Redis (tests/integration/auth/harness.py makes the databases)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from geko.auth.v1 import auth_pb2_grpc
from geko.workspace.v1 import workspace_pb2_grpc
from services.auth import servicer as auth_servicer
from services.memory import servicer as memory_servicer
from services.runtime.backends import create_backends
from services.runtime.clients import Channels
from services.runtime.database import Database
from services.runtime.ids import new_id
from services.runtime.secrets import SecretBox
from services.runtime.server import GrpcServer, ServiceDeps
from services.runtime.settings import Settings
from services.workspace import servicer as workspace_servicer
from tests.integration.auth.harness import SECRET_KEY, Platform, database_url

__all__ = ["database_url", "memory_platform"]


@pytest_asyncio.fixture
async def memory_platform(database_url: str, tmp_path: Path, redis_url: str) -> AsyncIterator[Platform]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path,
        database_url=database_url,
        secret_key=SecretStr(SECRET_KEY),
        login_rate_per_ip=1000,
        login_rate_per_email=1000,
        grpc_deadline_seconds=5.0,
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
        [auth_servicer.create(deps), workspace_servicer.create(deps), memory_servicer.create(deps)],
        token_verifier=auth_servicer.local_token_verifier(deps),
        settings=settings,
    )
    port = await server.start("127.0.0.1:0")
    settings.auth_addr = settings.workspace_addr = settings.memory_addr = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield Platform(
        deps=deps,
        server=server,
        channel=channel,
        auth=auth_pb2_grpc.AuthServiceStub(channel),
        workspace=workspace_pb2_grpc.WorkspaceServiceStub(channel),
        ip="198.51.100.9",
    )
    await channel.close()
    await server.stop(0)
    await deps.backends.cache.delete_prefix("")
    await deps.aclose()
