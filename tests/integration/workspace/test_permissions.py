"""CheckPermission, ListPermissions, ListAllPermissions and the permission cache, through real gRPC.

The cache tests run with Redis backends: two workspace servers (two GrpcServers, two ServiceDeps) share one
Redis and one database, as two replicas would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest_asyncio
from pydantic import SecretStr
from sqlalchemy import event

from db.seed import DEFAULT_ROLE_PERMISSIONS, PERMISSIONS
from geko.auth.v1 import auth_pb2_grpc
from geko.workspace.v1 import workspace_pb2, workspace_pb2_grpc
from services.auth import servicer as auth_servicer
from services.runtime.backends import create_backends
from services.runtime.clients import Channels
from services.runtime.database import Database
from services.runtime.ids import new_id
from services.runtime.secrets import SecretBox
from services.runtime.server import GrpcServer, ServiceDeps
from services.runtime.service_identity import service_metadata
from services.runtime.settings import Settings
from services.workspace import servicer as workspace_servicer
from tests.integration.auth.harness import SECRET_KEY, Platform, rpc_error
from tests.integration.workspace.team import Team, new_team


def _request(team: Team, permission: str, user_id: str = "") -> workspace_pb2.CheckPermissionRequest:
    return workspace_pb2.CheckPermissionRequest(
        workspace_id=team.workspace_id, permission=permission, user_id=user_id
    )


async def test_each_default_role_holds_its_seeded_permissions(platform: Platform) -> None:
    team = await new_team(platform)
    people = {"owner": team.owner, **{role: await team.join(role) for role in ("admin", "editor", "viewer")}}

    for role, person in people.items():
        listed = await team.ws.ListPermissions(
            workspace_pb2.ListPermissionsRequest(workspace_id=team.workspace_id), metadata=team.md(person)
        )
        assert (listed.role, set(listed.permissions)) == (role, DEFAULT_ROLE_PERMISSIONS[role])
        checked = await team.ws.CheckPermission(_request(team, "member:invite"), metadata=team.md(person))
        assert (checked.allowed, checked.role) == ("member:invite" in DEFAULT_ROLE_PERMISSIONS[role], role)


async def test_non_members_and_other_tenants_hold_nothing_and_cannot_list(platform: Platform) -> None:
    team = await new_team(platform)
    outsider = await team.person()
    stranger = (await new_team(platform, "Other Co")).owner

    for person in (outsider, stranger):
        checked = await team.ws.CheckPermission(_request(team, "member:view"), metadata=team.md(person))
        assert (checked.allowed, checked.role) == (False, "")
        code, _ = await rpc_error(
            team.ws.ListPermissions(
                workspace_pb2.ListPermissionsRequest(workspace_id=team.workspace_id), metadata=team.md(person)
            )
        )
        assert code == grpc.StatusCode.NOT_FOUND


async def test_asking_about_someone_else_needs_member_view_or_a_service_identity(platform: Platform) -> None:
    team = await new_team(platform)
    viewer = await team.join("viewer")
    outsider = await team.person()
    stranger = (await new_team(platform, "Other Co")).owner

    assert await team.check(viewer, "workspace:billing", about=team.owner)
    for person in (outsider, stranger):
        code, _ = await rpc_error(
            team.ws.CheckPermission(
                _request(team, "member:view", team.owner.user_id), metadata=team.md(person)
            )
        )
        assert code == grpc.StatusCode.NOT_FOUND
    as_service = service_metadata(platform.settings)
    checked = await team.ws.CheckPermission(
        _request(team, "chat:create", viewer.user_id), metadata=as_service
    )
    assert (checked.allowed, checked.role) == (False, "viewer")
    code, error = await rpc_error(team.ws.CheckPermission(_request(team, "chat:create"), metadata=as_service))
    assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, "user_id")


async def test_unknown_permissions_and_missing_ids_are_bad_input(platform: Platform) -> None:
    team = await new_team(platform)
    metadata = team.md(team.owner)

    for request, field in (
        (_request(team, "chat:fly"), "permission"),
        (workspace_pb2.CheckPermissionRequest(permission="chat:create"), "workspace_id"),
        (_request(team, "chat:create", "not-an-id"), "user_id"),
    ):
        code, error = await rpc_error(team.ws.CheckPermission(request, metadata=metadata))
        assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, field)


async def test_the_catalogue_lists_every_permission_with_its_description(platform: Platform) -> None:
    team = await new_team(platform)

    catalogue = await team.ws.ListAllPermissions(
        workspace_pb2.ListAllPermissionsRequest(), metadata=team.md(team.owner)
    )

    assert {p.name: p.description for p in catalogue.permissions} == PERMISSIONS
    assert len(catalogue.permissions) >= 30


@contextmanager
def _counting_queries(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", count)


async def test_a_repeated_check_is_answered_from_the_cache(platform: Platform) -> None:
    team = await new_team(platform)
    editor = await team.join("editor")
    request = _request(team, "chat:create", editor.user_id)
    metadata = team.md(team.owner)

    with _counting_queries(platform.deps.database) as first:
        assert (await team.ws.CheckPermission(request, metadata=metadata)).allowed
    with _counting_queries(platform.deps.database) as second:
        assert (await team.ws.CheckPermission(request, metadata=metadata)).allowed

    assert first, "the first check reads the database"
    assert second == []


@pytest_asyncio.fixture
async def replicas(
    database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Platform, Platform]]:
    """Two servers hosting auth + workspace over one database, each with its own ServiceDeps and Redis
    backends under one shared key prefix."""
    prefix = f"geko-test:{new_id()}:"
    started: list[Platform] = []
    for _ in range(2):
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            data_dir=tmp_path,
            database_url=database_url,
            secret_key=SecretStr(SECRET_KEY),
            login_rate_per_ip=1000,
            login_rate_per_email=1000,
        )
        deps = ServiceDeps(
            settings=settings,
            database=Database(database_url),
            backends=create_backends(redis_url, key_prefix=prefix),
            channels=Channels(settings),
            secret_box=SecretBox(SECRET_KEY.encode()),
        )
        server = GrpcServer(
            [auth_servicer.create(deps), workspace_servicer.create(deps)],
            token_verifier=auth_servicer.local_token_verifier(deps),
            settings=settings,
        )
        port = await server.start("127.0.0.1:0")
        settings.auth_addr = settings.workspace_addr = f"127.0.0.1:{port}"
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        started.append(
            Platform(
                deps=deps,
                server=server,
                channel=channel,
                auth=auth_pb2_grpc.AuthServiceStub(channel),
                workspace=workspace_pb2_grpc.WorkspaceServiceStub(channel),
                ip="198.51.100.1",
            )
        )
    yield started[0], started[1]
    await started[0].deps.backends.cache.delete_prefix("")
    for replica in started:
        await replica.channel.close()
        await replica.server.stop(0)
        await replica.deps.aclose()


async def test_a_demoted_admin_loses_member_invite_on_the_next_request_to_any_replica(
    replicas: tuple[Platform, Platform],
) -> None:
    first, second = replicas
    assert first.deps.backends.kind == second.deps.backends.kind == "redis"
    team = await new_team(first)
    admin = await team.join("admin")
    via_second = workspace_pb2_grpc.WorkspaceServiceStub(second.channel)
    request = _request(team, "member:invite")
    assert (await via_second.CheckPermission(request, metadata=team.md(admin))).allowed
    with _counting_queries(second.deps.database) as reads:
        assert (await via_second.CheckPermission(request, metadata=team.md(admin))).allowed
    assert reads == [], "the second replica answers from the shared cache"

    await team.ws.UpdateMemberRole(
        workspace_pb2.UpdateMemberRoleRequest(
            workspace_id=team.workspace_id, user_id=admin.user_id, role="viewer"
        ),
        metadata=team.md(team.owner),
    )

    checked = await via_second.CheckPermission(request, metadata=team.md(admin))
    assert (checked.allowed, checked.role) == (False, "viewer")
    code, _ = await rpc_error(team.invite("cy@example.com", "viewer", by=admin))
    assert code == grpc.StatusCode.PERMISSION_DENIED
