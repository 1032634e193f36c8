"""The workspace part of the schema as a client uses it: member connections (one user lookup per query,
cursors), both ways of accepting an invitation and their refusals, leaving, soft delete and restore, partial
updates. Rules are the workspace service's; these tests pin how the gateway carries them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from db.seed import DEFAULT_ROLE_PERMISSIONS
from services.runtime.metrics import REGISTRY
from tests.integration.auth.harness import unique_email
from tests.integration.gateway.team import ACCEPT, PASSWORD, TeamGateway, team_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

MEMBERS = """query($id: ID!, $first: Int, $after: String) { workspace(id: $id) {
  members(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { role joinedAt status user { id email name } } }
  }
} }"""
PREVIEW = "query($token: String!) { invitationByToken(token: $token) { email role workspaceName expiresAt } }"
ACCEPT_DEEP = """mutation($token: String!, $name: String, $password: String) {
  acceptInvitation(token: $token, name: $name, password: $password) {
    accessToken user { email } workspace { id myPermissions members { totalCount } }
  }
}"""
REVOKE = "mutation($id: ID!) { revokeInvitation(id: $id) { status } }"
LEAVE = "mutation($id: ID!) { leaveWorkspace(id: $id) }"
WORKSPACE = "query($id: ID!) { workspace(id: $id) { id name icon updatedAt } }"
WORKSPACES = "query($deleted: Boolean!) { workspaces(deleted: $deleted) { id deletedAt } }"
UPDATE = """mutation($id: ID!, $input: UpdateWorkspaceInput!) {
  updateWorkspace(id: $id, input: $input) { name icon }
}"""
DELETE = "mutation($id: ID!) { deleteWorkspace(id: $id) { workspace { id deletedAt } purgeAt } }"
RESTORE = "mutation($id: ID!) { restoreWorkspace(id: $id) { id deletedAt } }"
CREATE_ROLE = "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[TeamGateway]:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    data_dir: Path = tmp_path_factory.mktemp("workspace-api")
    async with team_gateway(database_url, data_dir, redis_url if use_redis else None) as team:
        yield team


def batch_get_users_calls() -> float:
    labels = {"service": "geko.auth.v1.AuthService", "method": "BatchGetUsers", "code": "OK"}
    return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


def error_of(body: dict[str, Any]) -> dict[str, Any]:
    assert body.get("errors"), body
    extensions: dict[str, Any] = body["errors"][0]["extensions"]
    return extensions


async def test_members_load_their_users_in_one_call_and_page_by_cursor(gateway: TeamGateway) -> None:
    owner = await gateway.register()
    workspace_id = await gateway.create_workspace(owner.token)
    joined = [
        await gateway.join_new(owner.token, workspace_id, "viewer", name=f"Member {n}") for n in range(4)
    ]

    before = batch_get_users_calls()
    everyone = (await gateway.data(MEMBERS, owner.token, id=workspace_id, first=10))["workspace"]["members"]
    calls = batch_get_users_calls() - before
    walked: list[str] = []
    after = None
    while True:
        page = (await gateway.data(MEMBERS, owner.token, id=workspace_id, first=2, after=after))["workspace"]
        walked.extend(edge["node"]["user"]["id"] for edge in page["members"]["edges"])
        if not page["members"]["pageInfo"]["hasNextPage"]:
            break
        after = page["members"]["pageInfo"]["endCursor"]
    third_cursor = everyone["edges"][2]["cursor"]
    rest = (await gateway.data(MEMBERS, owner.token, id=workspace_id, after=third_cursor))["workspace"]

    assert calls == 1
    assert everyone["totalCount"] == 5
    ids = [edge["node"]["user"]["id"] for edge in everyone["edges"]]
    assert ids == [owner.user_id, *(member.user_id for member in joined)]  # oldest first
    assert everyone["edges"][1]["node"]["user"]["email"] == joined[0].email
    assert {edge["node"]["status"] for edge in everyone["edges"]} == {"ACTIVE"}
    assert walked == ids
    assert [edge["node"]["user"]["id"] for edge in rest["members"]["edges"]] == ids[3:]


async def test_a_new_account_joins_from_the_link_and_answers_as_the_new_user(gateway: TeamGateway) -> None:
    owner = await gateway.register()
    workspace_id = await gateway.create_workspace(owner.token, "Atelier")
    email = unique_email("invitee")
    _, token = await gateway.invite(owner.token, workspace_id, email, "editor")

    preview = await gateway.data(PREVIEW, token=token)
    accepted = (await gateway.data(ACCEPT_DEEP, token=token, name="Eve", password=PASSWORD))[
        "acceptInvitation"
    ]
    again = await gateway.graphql(ACCEPT, token=token, name="Eve", password=PASSWORD)

    assert preview["invitationByToken"]["email"] == email
    assert preview["invitationByToken"]["role"] == "editor"
    assert preview["invitationByToken"]["workspaceName"] == "Atelier"
    assert accepted["accessToken"]
    assert accepted["user"] == {"email": email}
    # Resolved as the new member: their permissions, and the members they may now see.
    assert set(accepted["workspace"]["myPermissions"]) == DEFAULT_ROLE_PERMISSIONS["editor"]
    assert accepted["workspace"]["members"]["totalCount"] == 2
    assert error_of(again) == {"code": "BAD_USER_INPUT", "reason": "INVITATION_USED", "field": "token"}


async def test_a_signed_in_user_joins_and_keeps_their_session(gateway: TeamGateway) -> None:
    owner = await gateway.register()
    first = await gateway.create_workspace(owner.token, "First")
    second = await gateway.create_workspace(owner.token, "Second")
    member = await gateway.join_new(owner.token, first, "viewer")
    _, token = await gateway.invite(owner.token, second, member.email, "editor")

    with_password = await gateway.graphql(ACCEPT, member.token, token=token, name="X", password=PASSWORD)
    accepted = (await gateway.data(ACCEPT, member.token, token=token))["acceptInvitation"]

    assert error_of(with_password) == {"code": "BAD_USER_INPUT", "field": "name"}
    assert accepted["accessToken"] is None
    assert accepted["refreshToken"] is None
    assert accepted["expiresAt"] is None
    assert accepted["user"]["id"] == member.user_id
    assert accepted["workspace"] == {"id": second, "name": "Second"}


async def test_revoked_and_unknown_tokens_are_refused_with_their_reason(gateway: TeamGateway) -> None:
    owner = await gateway.register()
    workspace_id = await gateway.create_workspace(owner.token)
    invitation_id, token = await gateway.invite(owner.token, workspace_id, unique_email("gone"), "viewer")
    await gateway.data(REVOKE, owner.token, id=invitation_id)

    revoked = await gateway.graphql(ACCEPT, token=token, name="Gone", password=PASSWORD)
    preview = await gateway.graphql(PREVIEW, token=token)
    unknown = await gateway.graphql(ACCEPT, token="x" * 43, name="Who", password=PASSWORD)

    assert error_of(revoked) == {"code": "BAD_USER_INPUT", "reason": "INVITATION_REVOKED", "field": "token"}
    assert error_of(preview)["reason"] == "INVITATION_REVOKED"
    assert error_of(unknown)["code"] == "NOT_FOUND"


async def test_members_leave_but_the_last_owner_cannot(gateway: TeamGateway) -> None:
    owner = await gateway.register()
    workspace_id = await gateway.create_workspace(owner.token)
    member = await gateway.join_new(owner.token, workspace_id, "editor")

    last_owner = await gateway.graphql(LEAVE, owner.token, id=workspace_id)
    left = await gateway.data(LEAVE, member.token, id=workspace_id)
    gone = await gateway.code(WORKSPACE, member.token, id=workspace_id)

    assert error_of(last_owner) == {"code": "CONFLICT", "reason": "LAST_OWNER"}
    assert left == {"leaveWorkspace": True}
    assert gone == "NOT_FOUND"


async def test_update_changes_only_the_fields_given(gateway: TeamGateway) -> None:
    owner = await gateway.register()
    workspace_id = await gateway.create_workspace(owner.token, "Kept")

    renamed = await gateway.data(UPDATE, owner.token, id=workspace_id, input={"name": "Renamed"})
    cleared = await gateway.data(UPDATE, owner.token, id=workspace_id, input={"icon": None})
    blank = await gateway.graphql(UPDATE, owner.token, id=workspace_id, input={"name": "  "})

    assert renamed["updateWorkspace"] == {"name": "Renamed", "icon": "🦎"}
    assert cleared["updateWorkspace"] == {"name": "Renamed", "icon": None}
    assert error_of(blank) == {"code": "BAD_USER_INPUT", "field": "name"}


async def test_a_deleted_workspace_is_hidden_at_once_and_restorable(gateway: TeamGateway) -> None:
    owner = await gateway.register()
    workspace_id = await gateway.create_workspace(owner.token, "Phoenix")

    deleted = (await gateway.data(DELETE, owner.token, id=workspace_id))["deleteWorkspace"]
    live_after_delete = await gateway.data(WORKSPACES, owner.token, deleted=False)
    bin_after_delete = await gateway.data(WORKSPACES, owner.token, deleted=True)
    hidden = await gateway.code(WORKSPACE, owner.token, id=workspace_id)
    restored = await gateway.data(RESTORE, owner.token, id=workspace_id)
    live_after_restore = await gateway.data(WORKSPACES, owner.token, deleted=False)

    deleted_at = datetime.fromisoformat(deleted["workspace"]["deletedAt"])
    assert datetime.fromisoformat(deleted["purgeAt"]) - deleted_at == timedelta(days=30)
    assert workspace_id not in {w["id"] for w in live_after_delete["workspaces"]}
    assert [w["id"] for w in bin_after_delete["workspaces"]] == [workspace_id]
    assert hidden == "NOT_FOUND"
    assert restored == {"restoreWorkspace": {"id": workspace_id, "deletedAt": None}}
    assert workspace_id in {w["id"] for w in live_after_restore["workspaces"]}


async def test_a_role_with_an_unknown_permission_is_bad_input(gateway: TeamGateway) -> None:
    owner = await gateway.register()
    workspace_id = await gateway.create_workspace(owner.token)

    body = await gateway.graphql(
        CREATE_ROLE,
        owner.token,
        input={"workspaceId": workspace_id, "name": "odd", "permissions": ["fly:away"]},
    )

    assert error_of(body)["code"] == "BAD_USER_INPUT"
    assert error_of(body)["field"].startswith("permissions")
