"""Never a stale grant: permission answers are cached in Redis (5 minutes), yet a demotion, a role's new
permissions or a removal hold from the very next request — even on another replica.

Two platforms share one database and one Redis, as two replicas do in the distributed mode: the owner
changes things through the first, the member acts through the second, whose cache was warm with the old grant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
import redis.asyncio as redis

from geko.memory.v1 import memory_pb2, memory_pb2_grpc
from services.runtime.metrics import REGISTRY
from tests.integration.auth.harness import unique_email
from tests.integration.gateway.team import INVITE, TeamGateway, team_gateway

pytestmark = pytest.mark.integration

MY_PERMISSIONS = "query($id: ID!) { myPermissions(workspaceId: $id) }"
WORKSPACE = "query($id: ID!) { workspace(id: $id) { id } }"
UPDATE_MEMBER_ROLE = (
    """mutation($input: UpdateMemberRoleInput!) { updateMemberRole(input: $input) { role } }"""
)
UPDATE_ROLE = """mutation($input: UpdateRoleInput!) { updateRole(input: $input) { permissions } }"""
REMOVE_MEMBER = "mutation($ws: ID!, $user: ID!) { removeMember(workspaceId: $ws, userId: $user) }"


@pytest_asyncio.fixture
async def replicas(
    database_url: str, tmp_path: Path, redis_url: str
) -> AsyncIterator[tuple[TeamGateway, TeamGateway]]:
    async with (
        team_gateway(database_url, tmp_path / "one", redis_url) as first,
        team_gateway(database_url, tmp_path / "two", redis_url) as second,
    ):
        yield first, second


@pytest_asyncio.fixture
async def cache_keys(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def keys_about(client: redis.Redis, workspace_id: str) -> list[bytes]:
    return [key async for key in client.scan_iter(match=f"*{workspace_id}*")]


async def invite_code(
    gateway: TeamGateway, token: str, workspace_id: str, role: str = "viewer"
) -> str | None:
    """None when the invitation went out, else the error code."""
    body = await gateway.graphql(
        INVITE, token, input={"workspaceId": workspace_id, "email": unique_email("guest"), "role": role}
    )
    return body["errors"][0]["extensions"]["code"] if body.get("errors") else None


async def test_a_demoted_admin_loses_member_invite_on_the_very_next_request(
    replicas: tuple[TeamGateway, TeamGateway], cache_keys: redis.Redis
) -> None:
    one, two = replicas
    owner = await one.register("Cachet")
    workspace_id = await one.create_workspace(owner.token)
    admin = await one.join_new(owner.token, workspace_id, "admin")
    try:
        # Given: the admin invited through replica two, so its cache holds the grant, in Redis.
        assert await invite_code(two, admin.token, workspace_id) is None
        assert (
            "member:invite" in (await two.data(MY_PERMISSIONS, admin.token, id=workspace_id))["myPermissions"]
        )
        assert await keys_about(cache_keys, workspace_id)

        # When: the owner demotes the admin through replica one.
        demoted = await one.data(
            UPDATE_MEMBER_ROLE,
            owner.token,
            input={"workspaceId": workspace_id, "userId": admin.user_id, "role": "editor"},
        )
        assert demoted == {"updateMemberRole": {"role": "editor"}}

        # Then: the very next request through replica two is refused.
        assert await invite_code(two, admin.token, workspace_id) == "FORBIDDEN"
        permissions = (await two.data(MY_PERMISSIONS, admin.token, id=workspace_id))["myPermissions"]
        assert "member:invite" not in permissions
        assert "chat:create" in permissions  # an editor now
    finally:
        await cache_keys.delete(*await keys_about(cache_keys, workspace_id))


async def test_a_roles_new_permissions_and_a_removal_hold_on_the_very_next_request(
    replicas: tuple[TeamGateway, TeamGateway], cache_keys: redis.Redis
) -> None:
    one, two = replicas
    owner = await one.register("Cachet")
    workspace_id = await one.create_workspace(owner.token)
    role_id = await one.create_role(owner.token, workspace_id, "inviter", ["member:view", "member:invite"])
    inviter = await one.join_new(owner.token, workspace_id, "inviter")
    try:
        # The role holds nothing its holder lacks, so only member:invite decides.
        assert await invite_code(two, inviter.token, workspace_id, "inviter") is None

        await one.data(UPDATE_ROLE, owner.token, input={"id": role_id, "permissions": ["member:view"]})
        after_role_change = await invite_code(two, inviter.token, workspace_id, "inviter")
        still_member = await two.data(WORKSPACE, inviter.token, id=workspace_id)

        await one.data(REMOVE_MEMBER, owner.token, ws=workspace_id, user=inviter.user_id)
        after_removal = await two.code(WORKSPACE, inviter.token, id=workspace_id)

        assert after_role_change == "FORBIDDEN"
        assert still_member == {"workspace": {"id": workspace_id}}
        assert after_removal == "NOT_FOUND"
    finally:
        await cache_keys.delete(*await keys_about(cache_keys, workspace_id))


RENAME = "mutation($input: RenameConversationInput!) { renameConversation(input: $input) { title } }"


def workspace_permission_calls() -> float:
    """CheckPermission and ListPermissions answered so far by any server of this process."""
    return sum(
        REGISTRY.get_sample_value(
            "grpc_server_handled_total",
            {"service": "geko.workspace.v1.WorkspaceService", "method": method, "code": code},
        )
        or 0.0
        for method in ("CheckPermission", "ListPermissions")
        for code in ("OK", "NOT_FOUND", "PERMISSION_DENIED")
    )


async def test_other_services_read_the_cache_without_a_call_and_still_see_a_demotion_at_once(
    replicas: tuple[TeamGateway, TeamGateway],
) -> None:
    one, two = replicas
    owner = await one.register()
    workspace_id = await one.create_workspace(owner.token)
    editor = await one.join_new(owner.token, workspace_id, "editor")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{two.platform.grpc_port}") as channel:
        created = await memory_pb2_grpc.MemoryServiceStub(channel).CreateConversation(
            memory_pb2.CreateConversationRequest(workspace_id=workspace_id, title="Plans"),
            metadata=[("authorization", f"Bearer {editor.token}")],
        )
    rename = {"id": created.conversation.id, "title": "Plans, v2"}
    await two.data(RENAME, editor.token, input=rename)  # warms the cache through the workspace service

    before = workspace_permission_calls()
    renamed = await two.data(RENAME, editor.token, input=rename)
    calls = workspace_permission_calls() - before

    await one.data(
        UPDATE_MEMBER_ROLE,
        owner.token,
        input={"workspaceId": workspace_id, "userId": editor.user_id, "role": "viewer"},
    )
    demoted = await two.code(RENAME, editor.token, input=rename)

    assert renamed == {"renameConversation": {"title": "Plans, v2"}}
    assert calls == 0
    assert demoted == "FORBIDDEN"
