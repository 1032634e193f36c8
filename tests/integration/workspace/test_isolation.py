"""Tenant isolation: every RPC of the workspace service, called by another tenant's owner with this tenant's
ids, answers NOT_FOUND and changes nothing (no row, no audit event)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from sqlalchemy import select

from db.models.workspace import Invitation, RolePermission, Workspace, WorkspaceMember, WorkspaceRole
from geko.workspace.v1 import workspace_pb2 as pb
from tests.integration.auth.harness import Platform, db_session, rpc_error
from tests.integration.workspace.team import new_team, outbox_size, token_of


async def _snapshot(platform: Platform) -> list[tuple[Any, ...]]:
    """Every row of the workspace service's tables, as plain values."""
    rows: list[tuple[Any, ...]] = []
    async with db_session(platform) as db:
        for model in (Workspace, WorkspaceMember, WorkspaceRole, RolePermission, Invitation):
            for row in await db.scalars(select(model).order_by(model.id)):
                rows.append(tuple(getattr(row, c.key) for c in model.__mapper__.column_attrs))
    return rows


async def test_every_rpc_with_another_tenants_ids_is_not_found_and_changes_nothing(
    platform: Platform,
) -> None:
    team = await new_team(platform)
    editor = await team.join("editor")
    owner = team.md(team.owner)
    ws = team.workspace_id
    role = (
        await team.ws.CreateRole(pb.CreateRoleRequest(workspace_id=ws, name="Support"), metadata=owner)
    ).role
    invited = await team.invite("cy@example.com", "viewer")
    gone = (await team.ws.CreateWorkspace(pb.CreateWorkspaceRequest(name="Gone"), metadata=owner)).workspace
    await team.ws.DeleteWorkspace(pb.DeleteWorkspaceRequest(id=gone.id), metadata=owner)
    theirs = await new_team(platform, "Other Co")
    stub, md = theirs.ws, theirs.md(theirs.owner)
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "GetWorkspace": lambda: stub.GetWorkspace(pb.GetWorkspaceRequest(id=ws), metadata=md),
        "UpdateWorkspace": lambda: stub.UpdateWorkspace(
            pb.UpdateWorkspaceRequest(id=ws, name="x"), metadata=md
        ),
        "DeleteWorkspace": lambda: stub.DeleteWorkspace(pb.DeleteWorkspaceRequest(id=ws), metadata=md),
        "RestoreWorkspace": lambda: stub.RestoreWorkspace(
            pb.RestoreWorkspaceRequest(id=gone.id), metadata=md
        ),
        "ListMembers": lambda: stub.ListMembers(pb.ListMembersRequest(workspace_id=ws), metadata=md),
        "UpdateMemberRole": lambda: stub.UpdateMemberRole(
            pb.UpdateMemberRoleRequest(workspace_id=ws, user_id=editor.user_id, role="viewer"), metadata=md
        ),
        "UpdateMemberRole(own workspace)": lambda: stub.UpdateMemberRole(
            pb.UpdateMemberRoleRequest(
                workspace_id=theirs.workspace_id, user_id=editor.user_id, role="viewer"
            ),
            metadata=md,
        ),
        "RemoveMember": lambda: stub.RemoveMember(
            pb.RemoveMemberRequest(workspace_id=ws, user_id=editor.user_id), metadata=md
        ),
        "LeaveWorkspace": lambda: stub.LeaveWorkspace(pb.LeaveWorkspaceRequest(workspace_id=ws), metadata=md),
        "InviteMember": lambda: stub.InviteMember(
            pb.InviteMemberRequest(workspace_id=ws, email="dd@example.com", role="viewer"), metadata=md
        ),
        "AcceptInvitation": lambda: stub.AcceptInvitation(
            pb.AcceptInvitationRequest(token=token_of(invited.link)), metadata=md
        ),
        "RevokeInvitation": lambda: stub.RevokeInvitation(
            pb.RevokeInvitationRequest(id=invited.invitation.id), metadata=md
        ),
        "ResendInvitation": lambda: stub.ResendInvitation(
            pb.ResendInvitationRequest(id=invited.invitation.id), metadata=md
        ),
        "ListInvitations": lambda: stub.ListInvitations(
            pb.ListInvitationsRequest(workspace_id=ws), metadata=md
        ),
        "ListRoles": lambda: stub.ListRoles(pb.ListRolesRequest(workspace_id=ws), metadata=md),
        "CreateRole": lambda: stub.CreateRole(
            pb.CreateRoleRequest(workspace_id=ws, name="Mine"), metadata=md
        ),
        "UpdateRole": lambda: stub.UpdateRole(pb.UpdateRoleRequest(id=role.id, name="Mine"), metadata=md),
        "DeleteRole": lambda: stub.DeleteRole(pb.DeleteRoleRequest(id=role.id), metadata=md),
        "CheckPermission": lambda: stub.CheckPermission(
            pb.CheckPermissionRequest(workspace_id=ws, user_id=team.owner.user_id, permission="member:view"),
            metadata=md,
        ),
        "ListPermissions": lambda: stub.ListPermissions(
            pb.ListPermissionsRequest(workspace_id=ws, user_id=team.owner.user_id), metadata=md
        ),
    }
    rows, events = await _snapshot(platform), await outbox_size(platform)

    answers = {name: (await rpc_error(call()))[0] for name, call in calls.items()}

    assert answers == dict.fromkeys(calls, grpc.StatusCode.NOT_FOUND)
    batch = await stub.BatchGetWorkspaces(pb.BatchGetWorkspacesRequest(ids=[ws, gone.id]), metadata=md)
    assert list(batch.workspaces) == []
    assert await _snapshot(platform) == rows
    assert await outbox_size(platform) == events
