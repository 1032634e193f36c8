"""Workspaces through real gRPC: get, batch get, update, soft delete, restore, and who may do each."""

from __future__ import annotations

from datetime import timedelta

import grpc
from sqlalchemy import update

from db.models.workspace import Workspace
from geko.workspace.v1 import workspace_pb2
from services.runtime.clock import utcnow
from tests.integration.auth.harness import Platform, db_session, rpc_error
from tests.integration.workspace.team import audit_actions, audit_events, new_team


async def test_members_get_the_workspace_others_do_not_learn_it_exists(platform: Platform) -> None:
    team = await new_team(platform)
    viewer = await team.join("viewer")
    outsider = await team.person()
    stranger = (await new_team(platform, "Other Co")).owner
    request = workspace_pb2.GetWorkspaceRequest(id=team.workspace_id)

    got = await team.ws.GetWorkspace(request, metadata=team.md(viewer))

    assert got.workspace.id == team.workspace_id
    spelled_otherwise = f" {team.workspace_id.upper()} "
    again = await team.ws.GetWorkspace(
        workspace_pb2.GetWorkspaceRequest(id=spelled_otherwise), metadata=team.md(viewer)
    )
    assert again.workspace.id == team.workspace_id
    members = await team.ws.ListMembers(
        workspace_pb2.ListMembersRequest(workspace_id=spelled_otherwise), metadata=team.md(viewer)
    )
    assert len(members.members) == 2
    assert got.workspace.created_by == team.owner.user_id
    for person in (outsider, stranger):
        code, _ = await rpc_error(team.ws.GetWorkspace(request, metadata=team.md(person)))
        assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await rpc_error(
        team.ws.GetWorkspace(workspace_pb2.GetWorkspaceRequest(id="not-an-id"), metadata=team.md(viewer))
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, error = await rpc_error(
        team.ws.GetWorkspace(workspace_pb2.GetWorkspaceRequest(id=""), metadata=team.md(viewer))
    )
    assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, "workspace_id")


async def test_update_changes_only_the_given_fields_with_workspace_config(platform: Platform) -> None:
    team = await new_team(platform)
    admin = await team.join("admin")
    editor = await team.join("editor")
    await team.ws.UpdateWorkspace(
        workspace_pb2.UpdateWorkspaceRequest(id=team.workspace_id, icon="🚀"), metadata=team.md(team.owner)
    )

    renamed = await team.ws.UpdateWorkspace(
        workspace_pb2.UpdateWorkspaceRequest(id=team.workspace_id, name="  Rocket Lab "),
        metadata=team.md(admin),
    )

    assert (renamed.workspace.name, renamed.workspace.icon) == ("Rocket Lab", "🚀")
    code, error = await rpc_error(
        team.ws.UpdateWorkspace(
            workspace_pb2.UpdateWorkspaceRequest(id=team.workspace_id, name="Mine now"),
            metadata=team.md(editor),
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "workspace:config" in error.message
    for field, request in (
        ("name", workspace_pb2.UpdateWorkspaceRequest(id=team.workspace_id, name=" ")),
        ("name", workspace_pb2.UpdateWorkspaceRequest(id=team.workspace_id, name="x" * 101)),
        ("icon", workspace_pb2.UpdateWorkspaceRequest(id=team.workspace_id, icon="x" * 65)),
    ):
        code, error = await rpc_error(team.ws.UpdateWorkspace(request, metadata=team.md(admin)))
        assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, field)
    got = await team.ws.GetWorkspace(
        workspace_pb2.GetWorkspaceRequest(id=team.workspace_id), metadata=team.md(editor)
    )
    assert got.workspace.name == "Rocket Lab"
    updates = [
        e["details"]
        for e in await audit_events(platform, team.owner.tenant_id)
        if e["action"] == "WORKSPACE_UPDATED"
    ]
    assert updates == [{"icon": "🚀"}, {"name": "Rocket Lab"}]


async def test_soft_delete_hides_the_workspace_everywhere_until_restored(platform: Platform) -> None:
    team = await new_team(platform)
    editor = await team.join("editor")
    ws_id = team.workspace_id

    deleted = await team.ws.DeleteWorkspace(
        workspace_pb2.DeleteWorkspaceRequest(id=ws_id), metadata=team.md(team.owner)
    )

    delete_time = deleted.workspace.delete_time.ToDatetime()
    assert deleted.purge_time.ToDatetime() - delete_time == timedelta(days=30)
    for call in (
        team.ws.GetWorkspace(workspace_pb2.GetWorkspaceRequest(id=ws_id), metadata=team.md(team.owner)),
        team.ws.ListMembers(
            workspace_pb2.ListMembersRequest(workspace_id=ws_id), metadata=team.md(team.owner)
        ),
        team.ws.ListRoles(workspace_pb2.ListRolesRequest(workspace_id=ws_id), metadata=team.md(team.owner)),
        team.ws.DeleteWorkspace(workspace_pb2.DeleteWorkspaceRequest(id=ws_id), metadata=team.md(team.owner)),
    ):
        code, _ = await rpc_error(call)
        assert code == grpc.StatusCode.NOT_FOUND
    assert not await team.check(team.owner, "chat:create")
    live = await team.ws.ListWorkspaces(workspace_pb2.ListWorkspacesRequest(), metadata=team.md(team.owner))
    assert ws_id not in [w.id for w in live.workspaces]
    restorable = await team.ws.ListWorkspaces(
        workspace_pb2.ListWorkspacesRequest(show_deleted=True), metadata=team.md(team.owner)
    )
    assert [w.id for w in restorable.workspaces] == [ws_id]
    assert restorable.page_info.total_size == 1
    editor_view = await team.ws.ListWorkspaces(
        workspace_pb2.ListWorkspacesRequest(show_deleted=True), metadata=team.md(editor)
    )
    assert list(editor_view.workspaces) == []
    code, error = await rpc_error(
        team.ws.RestoreWorkspace(workspace_pb2.RestoreWorkspaceRequest(id=ws_id), metadata=team.md(editor))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "workspace:delete" in error.message

    restored = await team.ws.RestoreWorkspace(
        workspace_pb2.RestoreWorkspaceRequest(id=ws_id), metadata=team.md(team.owner)
    )

    assert not restored.workspace.HasField("delete_time")
    assert await team.check(team.owner, "chat:create")
    assert await team.check(editor, "chat:create")
    code, error = await rpc_error(
        team.ws.RestoreWorkspace(
            workspace_pb2.RestoreWorkspaceRequest(id=ws_id), metadata=team.md(team.owner)
        )
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    actions = await audit_actions(platform, team.owner.tenant_id)
    assert actions[-2:] == ["WORKSPACE_DELETED", "WORKSPACE_RESTORED"]


async def test_a_workspace_deleted_over_30_days_ago_cannot_be_restored(platform: Platform) -> None:
    team = await new_team(platform)
    await team.ws.DeleteWorkspace(
        workspace_pb2.DeleteWorkspaceRequest(id=team.workspace_id), metadata=team.md(team.owner)
    )
    async with db_session(platform) as db:
        await db.execute(
            update(Workspace)
            .where(Workspace.id == team.workspace_id)
            .values(deleted_at=utcnow() - timedelta(days=30, minutes=1))
        )
        await db.commit()

    code, _ = await rpc_error(
        team.ws.RestoreWorkspace(
            workspace_pb2.RestoreWorkspaceRequest(id=team.workspace_id), metadata=team.md(team.owner)
        )
    )

    assert code == grpc.StatusCode.NOT_FOUND
    restorable = await team.ws.ListWorkspaces(
        workspace_pb2.ListWorkspacesRequest(show_deleted=True), metadata=team.md(team.owner)
    )
    assert list(restorable.workspaces) == []


async def test_only_workspace_delete_may_delete(platform: Platform) -> None:
    team = await new_team(platform)
    editor = await team.join("editor")

    code, error = await rpc_error(
        team.ws.DeleteWorkspace(
            workspace_pb2.DeleteWorkspaceRequest(id=team.workspace_id), metadata=team.md(editor)
        )
    )

    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "workspace:delete" in error.message
    got = await team.ws.GetWorkspace(
        workspace_pb2.GetWorkspaceRequest(id=team.workspace_id), metadata=team.md(editor)
    )
    assert not got.workspace.HasField("delete_time")


async def test_batch_get_leaves_out_what_the_caller_cannot_see(platform: Platform) -> None:
    team = await new_team(platform)
    metadata = team.md(team.owner)
    second = await team.ws.CreateWorkspace(
        workspace_pb2.CreateWorkspaceRequest(name="Second"), metadata=metadata
    )
    gone = await team.ws.CreateWorkspace(workspace_pb2.CreateWorkspaceRequest(name="Gone"), metadata=metadata)
    await team.ws.DeleteWorkspace(
        workspace_pb2.DeleteWorkspaceRequest(id=gone.workspace.id), metadata=metadata
    )
    theirs = await new_team(platform, "Other Co")
    ids = [team.workspace_id, second.workspace.id, gone.workspace.id, theirs.workspace_id, "junk"]

    batch = await team.ws.BatchGetWorkspaces(
        workspace_pb2.BatchGetWorkspacesRequest(ids=ids), metadata=metadata
    )

    assert sorted(w.id for w in batch.workspaces) == sorted([team.workspace_id, second.workspace.id])
    code, error = await rpc_error(
        team.ws.BatchGetWorkspaces(
            workspace_pb2.BatchGetWorkspacesRequest(ids=["x"] * 201), metadata=metadata
        )
    )
    assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, "ids")
