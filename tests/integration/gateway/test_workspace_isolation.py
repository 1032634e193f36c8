"""Tenant B's owner tries every operation of issue 3 with tenant A's ids, through GraphQL: each answers
NOT_FOUND (an existence never revealed), and tenant A's workspaces, members, roles, invitations and audit log
are exactly as before.

Where the answer is not NOT_FOUND, the issue says so:
- an invitee whose email already has an account in tenant B cannot create a second one in tenant A from
  A's link: CONFLICT (the issue's rule). Signed in as B, A's links are NOT_FOUND.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from tests.integration.auth.harness import unique_email
from tests.integration.gateway.team import (
    ACCEPT,
    CREATE_ROLE,
    INVITE,
    PASSWORD,
    Member,
    TeamGateway,
    team_gateway,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

WORKSPACE = "query($id: ID!) { workspace(id: $id) { id name icon deletedAt } }"
WORKSPACE_LISTS = """query($id: ID!) { workspace(id: $id) {
  members(first: 100) { totalCount edges { node { role user { id email } } } }
  invitations { id email role status expiresAt }
  roles { id name description permissions }
} }"""
WORKSPACES = "query($deleted: Boolean!) { workspaces(deleted: $deleted) { id name icon deletedAt } }"
MY_PERMISSIONS = "query($id: ID!) { myPermissions(workspaceId: $id) }"
UPDATE_WORKSPACE = (
    """mutation($id: ID!) { updateWorkspace(id: $id, input: {name: "Taken", icon: null}) { id } }"""
)
DELETE_WORKSPACE = "mutation($id: ID!) { deleteWorkspace(id: $id) { purgeAt } }"
RESTORE_WORKSPACE = "mutation($id: ID!) { restoreWorkspace(id: $id) { id } }"
REVOKE = "mutation($id: ID!) { revokeInvitation(id: $id) { id } }"
RESEND = "mutation($id: ID!) { resendInvitation(id: $id) { link } }"
UPDATE_MEMBER_ROLE = (
    """mutation($input: UpdateMemberRoleInput!) { updateMemberRole(input: $input) { role } }"""
)
REMOVE_MEMBER = "mutation($ws: ID!, $user: ID!) { removeMember(workspaceId: $ws, userId: $user) }"
LEAVE = "mutation($id: ID!) { leaveWorkspace(id: $id) }"
UPDATE_ROLE = """mutation($input: UpdateRoleInput!) { updateRole(input: $input) { id } }"""
DELETE_ROLE = "mutation($id: ID!) { deleteRole(id: $id) }"
USER = "query($id: ID!) { user(id: $id) { id } }"
AUDIT = "query($ws: ID!) { auditLogs(workspaceId: $ws) { totalCount } }"


@dataclass
class TenantA:
    owner: Member
    workspace_id: str
    deleted_workspace_id: str
    member: Member
    role_id: str
    invitation_id: str
    token_for_b: str  # an invitation of A's sent to B's email


@dataclass
class Scene:
    gateway: TeamGateway
    a: TenantA
    b: Member
    b_workspace_id: str

    async def snapshot(self) -> dict[str, Any]:
        """What tenant A's owner sees of tenant A: workspaces (live and deleted) and the workspace's lists."""
        gateway, owner = self.gateway, self.a.owner.token
        return {
            "workspaces": await gateway.data(WORKSPACES, owner, deleted=False),
            "deleted": await gateway.data(WORKSPACES, owner, deleted=True),
            "workspace": await gateway.data(WORKSPACE_LISTS, owner, id=self.a.workspace_id),
        }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scene(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[Scene]:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    data_dir: Path = tmp_path_factory.mktemp("isolation")
    async with team_gateway(database_url, data_dir, redis_url if use_redis else None) as gateway:
        b = await gateway.register("Tenant B")
        b_workspace_id = await gateway.create_workspace(b.token, "B's room")

        owner = await gateway.register("Tenant A")
        workspace_id = await gateway.create_workspace(owner.token, "A's room")
        deleted_id = await gateway.create_workspace(owner.token, "A's bin")
        await gateway.data(DELETE_WORKSPACE, owner.token, id=deleted_id)
        role_id = await gateway.create_role(
            owner.token, workspace_id, "auditor", ["member:view", "audit:view"]
        )
        member = await gateway.join_new(owner.token, workspace_id, "auditor")
        invitation_id, _ = await gateway.invite(owner.token, workspace_id, unique_email("pending"), "viewer")
        _, token_for_b = await gateway.invite(owner.token, workspace_id, b.email, "viewer")
        a = TenantA(owner, workspace_id, deleted_id, member, role_id, invitation_id, token_for_b)
        yield Scene(gateway, a, b, b_workspace_id)


async def code_of(scene: Scene, query: str, **variables: Any) -> str:
    return await scene.gateway.code(query, scene.b.token, **variables)


# Each attempt: B's request with A's ids, and the answer it must get.
Attempt = Callable[[Scene], Awaitable[str]]
ATTEMPTS: dict[str, Attempt] = {
    "workspace": lambda s: code_of(s, WORKSPACE, id=s.a.workspace_id),
    "members/invitations/roles": lambda s: code_of(s, WORKSPACE_LISTS, id=s.a.workspace_id),
    "updateWorkspace": lambda s: code_of(s, UPDATE_WORKSPACE, id=s.a.workspace_id),
    "deleteWorkspace": lambda s: code_of(s, DELETE_WORKSPACE, id=s.a.workspace_id),
    "restoreWorkspace": lambda s: code_of(s, RESTORE_WORKSPACE, id=s.a.deleted_workspace_id),
    "inviteMember": lambda s: code_of(
        s, INVITE, input={"workspaceId": s.a.workspace_id, "email": unique_email("x"), "role": "viewer"}
    ),
    "revokeInvitation": lambda s: code_of(s, REVOKE, id=s.a.invitation_id),
    "resendInvitation": lambda s: code_of(s, RESEND, id=s.a.invitation_id),
    "updateMemberRole": lambda s: code_of(
        s,
        UPDATE_MEMBER_ROLE,
        input={"workspaceId": s.a.workspace_id, "userId": s.a.member.user_id, "role": "admin"},
    ),
    "updateMemberRole of A's user in B's workspace": lambda s: code_of(
        s,
        UPDATE_MEMBER_ROLE,
        input={"workspaceId": s.b_workspace_id, "userId": s.a.member.user_id, "role": "admin"},
    ),
    "removeMember": lambda s: code_of(s, REMOVE_MEMBER, ws=s.a.workspace_id, user=s.a.member.user_id),
    "removeMember of A's user in B's workspace": lambda s: code_of(
        s, REMOVE_MEMBER, ws=s.b_workspace_id, user=s.a.member.user_id
    ),
    "leaveWorkspace": lambda s: code_of(s, LEAVE, id=s.a.workspace_id),
    "createRole": lambda s: code_of(
        s, CREATE_ROLE, input={"workspaceId": s.a.workspace_id, "name": "spy", "permissions": []}
    ),
    "updateRole": lambda s: code_of(s, UPDATE_ROLE, input={"id": s.a.role_id, "description": "mine now"}),
    "deleteRole": lambda s: code_of(s, DELETE_ROLE, id=s.a.role_id),
    "auditLogs": lambda s: code_of(s, AUDIT, ws=s.a.workspace_id),
    "acceptInvitation (signed in, sent to B's email)": lambda s: code_of(s, ACCEPT, token=s.a.token_for_b),
    "myPermissions": lambda s: code_of(s, MY_PERMISSIONS, id=s.a.workspace_id),
}


async def csv_export_code(scene: Scene) -> tuple[int, str]:
    response = await scene.gateway.http.get(
        "/export/audit.csv",
        params={"workspaceId": scene.a.workspace_id},
        headers={"Authorization": f"Bearer {scene.b.token}"},
    )
    return response.status_code, response.json()["errors"][0]["extensions"]["code"]


async def test_every_operation_with_another_tenants_ids_is_not_found_and_changes_nothing(
    scene: Scene,
) -> None:
    gateway, a = scene.gateway, scene.a
    # Everything A's setup recorded has reached the log (the last setup step invited B's email).
    before_audit = await gateway.wait_for_audit(
        a.owner.token,
        a.workspace_id,
        lambda events: [e["action"] for e in events].count("MEMBER_INVITED") == 3,
    )
    before = await scene.snapshot()

    codes = {name: await attempt(scene) for name, attempt in ATTEMPTS.items()}
    csv_status = await csv_export_code(scene)
    b_user_view = await gateway.data(USER, scene.b.token, id=a.member.user_id)
    b_workspaces = await gateway.data(WORKSPACES, scene.b.token, deleted=False)
    new_account = await gateway.code(ACCEPT, token=a.token_for_b, name="B Again", password=PASSWORD)

    assert codes == dict.fromkeys(ATTEMPTS, "NOT_FOUND")
    assert csv_status == (404, "NOT_FOUND")
    assert b_user_view == {"user": None}
    assert a.workspace_id not in {w["id"] for w in b_workspaces["workspaces"]}
    assert new_account == "CONFLICT"
    assert await scene.snapshot() == before
    # Nothing was recorded for A either: a change A makes now is the very next entry of A's log.
    marker_id = await gateway.create_role(a.owner.token, a.workspace_id, "marker", [])
    after_audit = await gateway.wait_for_audit(
        a.owner.token, a.workspace_id, lambda events: events[-1]["resourceId"] == marker_id
    )
    assert after_audit[:-1] == before_audit
    assert after_audit[-1]["action"] == "ROLE_CREATED"


async def test_the_setup_is_visible_to_tenant_a_so_the_refusals_are_about_the_tenant(scene: Scene) -> None:
    """The same ids work for A's owner: B's NOT_FOUNDs come from the tenant boundary, not from bad ids."""
    gateway, a = scene.gateway, scene.a

    lists = (await gateway.data(WORKSPACE_LISTS, a.owner.token, id=a.workspace_id))["workspace"]
    deleted = await gateway.data(WORKSPACES, a.owner.token, deleted=True)

    assert a.member.user_id in {edge["node"]["user"]["id"] for edge in lists["members"]["edges"]}
    assert a.invitation_id in {invitation["id"] for invitation in lists["invitations"]}
    assert scene.b.email in {invitation["email"] for invitation in lists["invitations"]}
    assert a.role_id in {role["id"] for role in lists["roles"]}
    assert [w["id"] for w in deleted["workspaces"]] == [a.deleted_workspace_id]
