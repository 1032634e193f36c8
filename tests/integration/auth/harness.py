"""A real gRPC server hosting auth + workspace on 127.0.0.1:0, over SQLite (in-process backends) or a fresh
PostgreSQL database (Redis backends); and a client that reads our error trailer.

The database is made once per test module (migrated and seeded, as `geko migrate` does); each test gets its
own server, backends (a Redis key prefix of its own) and unique emails, so tests do not see each other's
rate limits or accounts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import psycopg
import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.engine import make_url

from db import migrate
from db.models.outbox import OutboxEvent
from db.seed import seed
from geko.auth.v1 import auth_pb2, auth_pb2_grpc
from geko.workspace.v1 import workspace_pb2_grpc
from services.auth import servicer as auth_servicer
from services.events.audit import AUDIT_TOPIC
from services.runtime.backends import create_backends
from services.runtime.clients import Channels
from services.runtime.database import Database
from services.runtime.errors import GekoError, from_rpc_error
from services.runtime.ids import new_id
from services.runtime.secrets import SecretBox
from services.runtime.server import GrpcServer, ServiceDeps
from services.runtime.settings import Settings
from services.workspace import servicer as workspace_servicer

T = TypeVar("T")
PASSWORD = "correct horse 42"
# Signing keys are stored encrypted: one platform key for the whole run, as one installation has one.
SECRET_KEY = Fernet.generate_key().decode()


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)],
)
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_url: str
) -> AsyncIterator[str]:
    """A migrated and seeded database for one test module: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('auth') / 'geko.db'}"
        await _migrate_and_seed(url)
        yield url
        return
    name = "geko_h4_" + new_id().replace("-", "")[:20]
    async with await psycopg.AsyncConnection.connect(_libpq(pg_url), autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        await _migrate_and_seed(url)
        yield url
    finally:
        async with await psycopg.AsyncConnection.connect(_libpq(pg_url), autocommit=True) as conn:
            await conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def _migrate_and_seed(url: str) -> None:
    await migrate.upgrade(url)
    database = Database(url)
    try:
        async with database.transaction() as session:
            await seed(session)
    finally:
        await database.dispose()


@dataclass
class Platform:
    """The running server, its dependencies and client stubs on a plain channel."""

    deps: ServiceDeps
    server: GrpcServer
    channel: grpc.aio.Channel
    auth: auth_pb2_grpc.AuthServiceStub
    workspace: workspace_pb2_grpc.WorkspaceServiceStub
    ip: str

    @property
    def settings(self) -> Settings:
        return self.deps.settings

    def metadata(self, token: str | None = None) -> tuple[tuple[str, str], ...]:
        """Call metadata: the client address the gateway would forward, and a bearer token if given."""
        pairs = [("x-forwarded-for", self.ip)]
        if token is not None:
            pairs.append(("authorization", f"Bearer {token}"))
        return tuple(pairs)

    async def register(
        self, email: str | None = None, tenant_name: str = "Acme"
    ) -> auth_pb2.RegisterResponse:
        request = auth_pb2.RegisterRequest(
            email=email or unique_email(), password=PASSWORD, name="Ann Lee", tenant_name=tenant_name
        )
        return await self.auth.Register(request, metadata=self.metadata())


def unique_email(name: str = "ann") -> str:
    return f"{name}.{new_id()[-12:]}@example.com"


def _settings(url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": url,
        "secret_key": SecretStr(SECRET_KEY),
        "login_rate_per_ip": 1000,
        "login_rate_per_email": 1000,
        "grpc_deadline_seconds": 5.0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


PlatformFactory = Callable[..., Awaitable[Platform]]


@pytest_asyncio.fixture
async def start_platform(database_url: str, tmp_path: Path, redis_url: str) -> AsyncIterator[PlatformFactory]:
    """Starts platforms with settings overrides (e.g. low rate limits); stops them all at the end."""
    started: list[Platform] = []

    async def start(*, workspace_addr: str | None = None, **overrides: Any) -> Platform:
        settings = _settings(database_url, tmp_path, **overrides)
        use_redis = make_url(database_url).get_backend_name() == "postgresql"
        deps = ServiceDeps(
            settings=settings,
            database=Database(database_url),
            backends=create_backends(redis_url if use_redis else None, key_prefix=f"geko-test:{new_id()}:"),
            channels=Channels(settings),
            secret_box=SecretBox(SECRET_KEY.encode()),
        )
        server = GrpcServer(
            [auth_servicer.create(deps), workspace_servicer.create(deps)],
            token_verifier=auth_servicer.local_token_verifier(deps),
            settings=settings,
        )
        port = await server.start("127.0.0.1:0")
        # Stubs are made lazily, so pointing the addresses at the bound port now is in time.
        settings.auth_addr = f"127.0.0.1:{port}"
        settings.workspace_addr = workspace_addr or f"127.0.0.1:{port}"
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        platform = Platform(
            deps=deps,
            server=server,
            channel=channel,
            auth=auth_pb2_grpc.AuthServiceStub(channel),
            workspace=workspace_pb2_grpc.WorkspaceServiceStub(channel),
            ip=f"198.51.100.{len(started) + 1}",
        )
        started.append(platform)
        return platform

    yield start
    for platform in started:
        await platform.channel.close()
        await platform.server.stop(0)
        await platform.deps.backends.cache.delete_prefix("")
        await platform.deps.aclose()


@pytest_asyncio.fixture
async def platform(start_platform: PlatformFactory) -> Platform:
    return await start_platform()


async def rpc_error(call: Awaitable[Any]) -> tuple[grpc.StatusCode, GekoError]:
    """The status and the decoded `geko-error-bin` detail of a call that must fail."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), from_rpc_error(caught.value)


@asynccontextmanager
async def db_session(platform: Platform) -> AsyncIterator[Any]:
    """A session on the platform's database, to check what was (not) written."""
    async with platform.deps.database.session() as session:
        yield session


async def audit_events(
    platform: Platform, *, tenant_id: str | None = None, service: str | None = None
) -> list[dict[str, Any]]:
    """Payloads of the audit events written to the outbox so far, oldest first (ids are time-ordered),
    optionally only those of one tenant and/or one emitting service."""
    query = select(OutboxEvent).where(OutboxEvent.topic == AUDIT_TOPIC).order_by(OutboxEvent.id)
    if service is not None:
        query = query.where(OutboxEvent.service == service)
    async with db_session(platform) as db:
        rows = (await db.scalars(query)).all()
    return [row.payload for row in rows if tenant_id is None or row.payload["tenant_id"] == tenant_id]
