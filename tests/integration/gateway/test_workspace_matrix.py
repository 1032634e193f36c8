"""Every role by every workspace operation of issue 3, through GraphQL against the real platform.

Allowed or denied is computed, not listed: a role may run an operation when the role's permissions (the seed's
`DEFAULT_ROLE_PERMISSIONS`, plus a custom "moderator") hold the permission the operation needs
(`OPERATIONS`). Allowed means the operation's effect is there; denied means FORBIDDEN (HTTP 403 for the CSV
export) and nothing changed.

One tenant serves the whole module: its owner made one workspace per role with an actor holding that role.
Each case builds its own targets (invitations, members, roles, whole workspaces for delete/restore), so cases
neither see nor depend on each other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from db.seed import DEFAULT_ROLE_PERMISSIONS
from tests.integration.auth.harness import unique_email
from tests.integration.gateway.team import (
    CREATE_ROLE,
    INVITE,
    Member,
    TeamGateway,
    team_gateway,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

MODERATOR = "moderator"
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    **DEFAULT_ROLE_PERMISSIONS,
    MODERATOR: frozenset({"member:view", "member:invite", "invitation:revoke"}),
}
FORBIDDEN = "FORBIDDEN"
CSV_HEADER = "id,created_at,actor_user_id,action,resource_type,resource_id,workspace_id," + (
    "ip,user_agent,request_id,details"
)

WORKSPACE = "query($id: ID!) { workspace(id: $id) { id name icon createdAt } }"
MEMBERS = """query($id: ID!) { workspace(id: $id) { members(first: 100) {
  totalCount pageInfo { hasNextPage endCursor } edges { cursor node { role joinedAt user { id email name } } }
} } }"""
INVITATIONS = "query($id: ID!) { workspace(id: $id) { invitations { id email role status expiresAt } } }"
ROLES = "query($id: ID!) { workspace(id: $id) { roles { id name description permissions isSystem } } }"
MY_PERMISSIONS = """query($id: ID!) {
  myPermissions(workspaceId: $id) workspace(id: $id) { myPermissions }
}"""
MY_PERMISSIONS_ONLY = "query($id: ID!) { myPermissions(workspaceId: $id) }"
UPDATE_WORKSPACE = """mutation($id: ID!, $input: UpdateWorkspaceInput!) {
  updateWorkspace(id: $id, input: $input) { id name icon }
}"""
DELETE_WORKSPACE = "mutation($id: ID!) { deleteWorkspace(id: $id) { workspace { id deletedAt } purgeAt } }"
RESTORE_WORKSPACE = "mutation($id: ID!) { restoreWorkspace(id: $id) { id deletedAt } }"
REVOKE = "mutation($id: ID!) { revokeInvitation(id: $id) { id status revokedAt } }"
RESEND = "mutation($id: ID!) { resendInvitation(id: $id) { invitation { id status } link } }"
UPDATE_MEMBER_ROLE = """mutation($input: UpdateMemberRoleInput!) {
  updateMemberRole(input: $input) { role user { id } }
}"""
REMOVE_MEMBER = "mutation($ws: ID!, $user: ID!) { removeMember(workspaceId: $ws, userId: $user) }"
UPDATE_ROLE = (
    "mutation($input: UpdateRoleInput!) { updateRole(input: $input) { id description permissions } }"
)
DELETE_ROLE = "mutation($id: ID!) { deleteRole(id: $id) }"
AUDIT_PAGE = (
    "query($ws: ID!) { auditLogs(workspaceId: $ws, first: 5) { totalCount edges { node { action } } } }"
)


@dataclass
class Seat:
    """One role's place in the tenant: a workspace of the owner's where the actor holds `role`."""

    role: str
    workspace_id: str
    actor: Member


@dataclass
class Team:
    gateway: TeamGateway
    owner: Member
    seats: dict[str, Seat]

    async def workspace_for(self, seat: Seat) -> str:
        """A new workspace of the owner's where the seat's actor holds the seat's role."""
        workspace_id = await self.gateway.create_workspace(self.owner.token, "Scratch")
        if seat.role == MODERATOR:
            await self.gateway.create_role(
                self.owner.token, workspace_id, MODERATOR, sorted(ROLE_PERMISSIONS[MODERATOR])
            )
        await self.gateway.join(self.owner.token, workspace_id, seat.actor, seat.role)
        return workspace_id


Outcome = str | None  # None when allowed (and its effect checked), else the error code
Operation = Callable[[Team, Seat], Awaitable[Outcome]]


async def outcome(team: Team, query: str, token: str, **variables: object) -> tuple[Outcome, dict]:
    body = await team.gateway.graphql(query, token, **variables)
    if body.get("errors"):
        return body["errors"][0]["extensions"]["code"], body
    return None, body["data"]


async def get_workspace(team: Team, seat: Seat) -> Outcome:
    code, data = await outcome(team, WORKSPACE, seat.actor.token, id=seat.workspace_id)
    if code is None:
        assert data["workspace"]["id"] == seat.workspace_id
    return code


async def list_members(team: Team, seat: Seat) -> Outcome:
    code, data = await outcome(team, MEMBERS, seat.actor.token, id=seat.workspace_id)
    if code is None:
        members = data["workspace"]["members"]
        roles = {edge["node"]["user"]["id"]: edge["node"]["role"] for edge in members["edges"]}
        assert roles[team.owner.user_id] == "owner"
        assert roles[seat.actor.user_id] == seat.role
        assert members["totalCount"] >= 2
    return code


async def list_invitations(team: Team, seat: Seat) -> Outcome:
    email = unique_email("pending")
    await team.gateway.invite(team.owner.token, seat.workspace_id, email, MODERATOR)
    code, data = await outcome(team, INVITATIONS, seat.actor.token, id=seat.workspace_id)
    if code is None:
        pending = {invitation["email"]: invitation for invitation in data["workspace"]["invitations"]}
        assert pending[email]["status"] == "PENDING"
    return code


async def list_roles(team: Team, seat: Seat) -> Outcome:
    code, data = await outcome(team, ROLES, seat.actor.token, id=seat.workspace_id)
    if code is None:
        roles = {role["name"]: role for role in data["workspace"]["roles"]}
        assert {"owner", "admin", "editor", "viewer", MODERATOR} <= set(roles)
        assert set(roles["viewer"]["permissions"]) == DEFAULT_ROLE_PERMISSIONS["viewer"]
        assert roles["viewer"]["isSystem"]
        assert not roles[MODERATOR]["isSystem"]
    return code


async def my_permissions(team: Team, seat: Seat) -> Outcome:
    code, data = await outcome(team, MY_PERMISSIONS, seat.actor.token, id=seat.workspace_id)
    if code is None:
        assert set(data["myPermissions"]) == ROLE_PERMISSIONS[seat.role]
        assert data["workspace"]["myPermissions"] == data["myPermissions"]
    return code


async def update_workspace(team: Team, seat: Seat) -> Outcome:
    name = f"Renamed by {seat.role}"
    code, data = await outcome(
        team, UPDATE_WORKSPACE, seat.actor.token, id=seat.workspace_id, input={"name": name}
    )
    current = (await team.gateway.data(WORKSPACE, team.owner.token, id=seat.workspace_id))["workspace"]
    if code is None:
        assert data["updateWorkspace"]["name"] == name == current["name"]
        assert current["icon"] == "🦎"  # untouched: not in the input
    else:
        assert current["name"] != name
    return code


async def delete_workspace(team: Team, seat: Seat) -> Outcome:
    workspace_id = await team.workspace_for(seat)
    code, data = await outcome(team, DELETE_WORKSPACE, seat.actor.token, id=workspace_id)
    owner_view = await team.gateway.graphql(WORKSPACE, team.owner.token, id=workspace_id)
    if code is None:
        assert data["deleteWorkspace"]["workspace"]["deletedAt"] is not None
        assert owner_view["errors"][0]["extensions"]["code"] == "NOT_FOUND"  # hidden at once
    else:
        assert owner_view["data"]["workspace"]["id"] == workspace_id
    return code


async def restore_workspace(team: Team, seat: Seat) -> Outcome:
    workspace_id = await team.workspace_for(seat)
    await team.gateway.data(DELETE_WORKSPACE, team.owner.token, id=workspace_id)
    code, data = await outcome(team, RESTORE_WORKSPACE, seat.actor.token, id=workspace_id)
    owner_view = await team.gateway.graphql(WORKSPACE, team.owner.token, id=workspace_id)
    if code is None:
        assert data["restoreWorkspace"]["deletedAt"] is None
        assert owner_view["data"]["workspace"]["id"] == workspace_id
    else:
        assert owner_view["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    return code


async def pending_emails(team: Team, workspace_id: str) -> set[str]:
    data = await team.gateway.data(INVITATIONS, team.owner.token, id=workspace_id)
    return {invitation["email"] for invitation in data["workspace"]["invitations"]}


async def invite_member(team: Team, seat: Seat) -> Outcome:
    email = unique_email("invitee")
    code, data = await outcome(
        team,
        INVITE,
        seat.actor.token,
        input={"workspaceId": seat.workspace_id, "email": email, "role": MODERATOR},
    )
    if code is None:
        invited = data["inviteMember"]
        assert invited["invitation"]["email"] == email
        assert invited["invitation"]["role"] == MODERATOR
        assert invited["link"]
    assert (email in await pending_emails(team, seat.workspace_id)) == (code is None)
    return code


async def revoke_invitation(team: Team, seat: Seat) -> Outcome:
    email = unique_email("revokee")
    invitation_id, _ = await team.gateway.invite(team.owner.token, seat.workspace_id, email, MODERATOR)
    code, data = await outcome(team, REVOKE, seat.actor.token, id=invitation_id)
    if code is None:
        assert data["revokeInvitation"]["status"] == "REVOKED"
    assert (email in await pending_emails(team, seat.workspace_id)) == (code is not None)
    return code


async def resend_invitation(team: Team, seat: Seat) -> Outcome:
    invitation_id, token = await team.gateway.invite(
        team.owner.token, seat.workspace_id, unique_email("resend"), MODERATOR
    )
    code, data = await outcome(team, RESEND, seat.actor.token, id=invitation_id)
    if code is None:
        resent = data["resendInvitation"]
        assert resent["invitation"]["id"] == invitation_id
        assert token not in resent["link"]  # a fresh token; the old link stops working
    return code


async def member_roles(team: Team, workspace_id: str) -> dict[str, str]:
    data = await team.gateway.data(MEMBERS, team.owner.token, id=workspace_id)
    return {
        edge["node"]["user"]["id"]: edge["node"]["role"] for edge in data["workspace"]["members"]["edges"]
    }


async def update_member_role(team: Team, seat: Seat) -> Outcome:
    target = await team.gateway.join_new(team.owner.token, seat.workspace_id, "viewer")
    code, data = await outcome(
        team,
        UPDATE_MEMBER_ROLE,
        seat.actor.token,
        input={"workspaceId": seat.workspace_id, "userId": target.user_id, "role": MODERATOR},
    )
    if code is None:
        assert data["updateMemberRole"] == {"role": MODERATOR, "user": {"id": target.user_id}}
    expected = MODERATOR if code is None else "viewer"
    assert (await member_roles(team, seat.workspace_id))[target.user_id] == expected
    return code


async def remove_member(team: Team, seat: Seat) -> Outcome:
    target = await team.gateway.join_new(team.owner.token, seat.workspace_id, "viewer")
    code, data = await outcome(
        team, REMOVE_MEMBER, seat.actor.token, ws=seat.workspace_id, user=target.user_id
    )
    if code is None:
        assert data["removeMember"] is True
    assert (target.user_id in await member_roles(team, seat.workspace_id)) == (code is not None)
    return code


async def role_names(team: Team, workspace_id: str) -> dict[str, dict]:
    data = await team.gateway.data(ROLES, team.owner.token, id=workspace_id)
    return {role["name"]: role for role in data["workspace"]["roles"]}


async def create_role(team: Team, seat: Seat) -> Outcome:
    name = f"reader-{unique_email('r')[:20]}"
    code, data = await outcome(
        team,
        CREATE_ROLE,
        seat.actor.token,
        input={"workspaceId": seat.workspace_id, "name": name, "permissions": ["member:view"]},
    )
    if code is None:
        assert data["createRole"]["permissions"] == ["member:view"]
    assert (name in await role_names(team, seat.workspace_id)) == (code is None)
    return code


async def scratch_role(team: Team, seat: Seat) -> tuple[str, str]:
    name = f"scratch-{unique_email('s')[:20]}"
    return name, await team.gateway.create_role(team.owner.token, seat.workspace_id, name, ["member:view"])


async def update_role(team: Team, seat: Seat) -> Outcome:
    _, role_id = await scratch_role(team, seat)
    code, data = await outcome(
        team, UPDATE_ROLE, seat.actor.token, input={"id": role_id, "description": "changed"}
    )
    if code is None:
        assert data["updateRole"] == {"id": role_id, "description": "changed", "permissions": ["member:view"]}
    stored = (await team.gateway.data(ROLES, team.owner.token, id=seat.workspace_id))["workspace"]["roles"]
    description = next(role["description"] for role in stored if role["id"] == role_id)
    assert (description == "changed") == (code is None)
    return code


async def delete_role(team: Team, seat: Seat) -> Outcome:
    name, role_id = await scratch_role(team, seat)
    code, data = await outcome(team, DELETE_ROLE, seat.actor.token, id=role_id)
    if code is None:
        assert data["deleteRole"] is True
    assert (name in await role_names(team, seat.workspace_id)) == (code is not None)
    return code


async def audit_logs(team: Team, seat: Seat) -> Outcome:
    code, _ = await outcome(team, AUDIT_PAGE, seat.actor.token, ws=seat.workspace_id)
    if code is None:  # the workspace's creation reaches the log (through the outbox) and the actor sees it
        await team.gateway.wait_for_audit(
            seat.actor.token,
            seat.workspace_id,
            lambda events: "WORKSPACE_CREATED" in {event["action"] for event in events},
        )
    return code


async def audit_csv(team: Team, seat: Seat) -> Outcome:
    response = await team.gateway.http.get(
        "/export/audit.csv",
        params={"workspaceId": seat.workspace_id},
        headers={"Authorization": f"Bearer {seat.actor.token}"},
    )
    if response.status_code == 200:
        assert response.headers["content-type"].startswith("text/csv")
        assert response.text.splitlines()[0] == CSV_HEADER
        return None
    assert response.headers["content-type"].startswith("application/json")
    code: str = response.json()["errors"][0]["extensions"]["code"]
    assert response.status_code == {"FORBIDDEN": 403, "NOT_FOUND": 404}.get(code), response.text
    return code


# Operation → (the permission it needs, or None when membership is enough; the case).
OPERATIONS: dict[str, tuple[str | None, Operation]] = {
    "workspace": ("member:view", get_workspace),
    "members": ("member:view", list_members),
    "invitations": ("member:invite", list_invitations),
    "roles": ("member:view", list_roles),
    "myPermissions": (None, my_permissions),
    "updateWorkspace": ("workspace:config", update_workspace),
    "deleteWorkspace": ("workspace:delete", delete_workspace),
    "restoreWorkspace": ("workspace:delete", restore_workspace),
    "inviteMember": ("member:invite", invite_member),
    "revokeInvitation": ("invitation:revoke", revoke_invitation),
    "resendInvitation": ("member:invite", resend_invitation),
    "updateMemberRole": ("member:role:update", update_member_role),
    "removeMember": ("member:remove", remove_member),
    "createRole": ("role:create", create_role),
    "updateRole": ("role:update", update_role),
    "deleteRole": ("role:delete", delete_role),
    "auditLogs": ("audit:view", audit_logs),
    "auditCsvExport": ("audit:export", audit_csv),
}


def allowed(role: str, permission: str | None) -> bool:
    return permission is None or permission in ROLE_PERMISSIONS[role]


CASES = [
    pytest.param(role, operation, id=f"{role}-{operation}-{'allowed' if allowed(role, needs) else 'denied'}")
    for role in ROLE_PERMISSIONS
    for operation, (needs, _) in OPERATIONS.items()
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def team(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[Team]:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    data_dir: Path = tmp_path_factory.mktemp("matrix")
    async with team_gateway(database_url, data_dir, redis_url if use_redis else None) as gateway:
        owner = await gateway.register("Matrix")
        seats: dict[str, Seat] = {}
        for role in ROLE_PERMISSIONS:
            workspace_id = await gateway.create_workspace(owner.token, f"{role} room")
            await gateway.create_role(
                owner.token, workspace_id, MODERATOR, sorted(ROLE_PERMISSIONS[MODERATOR])
            )
            actor = await gateway.join_new(owner.token, workspace_id, role, name=f"{role.title()} Actor")
            seats[role] = Seat(role, workspace_id, actor)
        yield Team(gateway, owner, seats)


async def test_the_matrix_covers_every_role_and_operation() -> None:
    assert set(ROLE_PERMISSIONS) == {"owner", "admin", "editor", "viewer", MODERATOR}
    assert len(CASES) == 5 * 18
    # Owners and admins may run all of them (billing is not among them); every other role meets refusals.
    for role in ROLE_PERMISSIONS:
        verdicts = {allowed(role, needs) for needs, _ in OPERATIONS.values()}
        assert verdicts == ({True} if role in ("owner", "admin") else {True, False}), role


@pytest.mark.parametrize(("role", "operation"), CASES)
async def test_role_may_run_operation_exactly_when_it_holds_the_permission(
    team: Team, role: str, operation: str
) -> None:
    needs, run = OPERATIONS[operation]

    code = await run(team, team.seats[role])

    assert code == (None if allowed(role, needs) else FORBIDDEN)
