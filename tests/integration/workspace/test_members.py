"""Members through real gRPC: paged list, role changes, removal, leaving; the last-owner rule and the
escalation guards."""

from __future__ import annotations

import asyncio

import grpc

from geko.common.v1 import common_pb2
from geko.workspace.v1 import workspace_pb2
from tests.integration.auth.harness import Platform, rpc_error
from tests.integration.workspace.team import Team, audit_events, new_team, outbox_size


def _role_change(team: Team, user_id: str, role: str) -> workspace_pb2.UpdateMemberRoleRequest:
    return workspace_pb2.UpdateMemberRoleRequest(workspace_id=team.workspace_id, user_id=user_id, role=role)


def _removal(team: Team, user_id: str) -> workspace_pb2.RemoveMemberRequest:
    return workspace_pb2.RemoveMemberRequest(workspace_id=team.workspace_id, user_id=user_id)


async def test_members_are_listed_in_pages_in_joining_order(platform: Platform) -> None:
    team = await new_team(platform)
    editor = await team.join("editor")
    viewer = await team.join("viewer")
    metadata = team.md(viewer)

    first = await team.ws.ListMembers(
        workspace_pb2.ListMembersRequest(
            workspace_id=team.workspace_id, page=common_pb2.PageRequest(page_size=2)
        ),
        metadata=metadata,
    )
    rest = await team.ws.ListMembers(
        workspace_pb2.ListMembersRequest(
            workspace_id=team.workspace_id,
            page=common_pb2.PageRequest(page_size=2, page_token=first.page_info.next_page_token),
        ),
        metadata=metadata,
    )

    members = [*first.members, *rest.members]
    assert [(m.user_id, m.role) for m in members] == [
        (team.owner.user_id, "owner"),
        (editor.user_id, "editor"),
        (viewer.user_id, "viewer"),
    ]
    assert first.page_info.total_size == 3
    assert rest.page_info.next_page_token == ""
    assert all(m.status == workspace_pb2.MEMBER_STATUS_ACTIVE for m in members)
    assert all(m.HasField("join_time") and m.workspace_id == team.workspace_id for m in members)
    code, _ = await rpc_error(
        team.ws.ListMembers(
            workspace_pb2.ListMembersRequest(workspace_id=team.workspace_id),
            metadata=team.md(await team.person()),
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_role_change_needs_member_role_update_and_a_known_role(platform: Platform) -> None:
    team = await new_team(platform)
    admin = await team.join("admin")
    editor = await team.join("editor")
    viewer = await team.join("viewer")

    changed = await team.ws.UpdateMemberRole(
        _role_change(team, editor.user_id, "viewer"), metadata=team.md(admin)
    )

    assert (changed.member.user_id, changed.member.role) == (editor.user_id, "viewer")
    assert not await team.check(editor, "chat:create")
    event = (await audit_events(platform, team.owner.tenant_id))[-1]
    assert (event["action"], event["resource_type"], event["resource_id"]) == (
        "MEMBER_ROLE_CHANGED",
        "member",
        editor.user_id,
    )
    assert event["actor_user_id"] == admin.user_id
    assert event["details"] == {"user_id": editor.user_id, "from": "editor", "to": "viewer"}

    code, error = await rpc_error(
        team.ws.UpdateMemberRole(_role_change(team, editor.user_id, "boss"), metadata=team.md(admin))
    )
    assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, "role")
    code, error = await rpc_error(
        team.ws.UpdateMemberRole(_role_change(team, editor.user_id, ""), metadata=team.md(admin))
    )
    assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, "role")
    code, error = await rpc_error(
        team.ws.UpdateMemberRole(_role_change(team, editor.user_id, "admin"), metadata=team.md(viewer))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "member:role:update" in error.message
    outsider = await team.person()
    for user_id in (outsider.user_id, "not-an-id"):
        code, _ = await rpc_error(
            team.ws.UpdateMemberRole(_role_change(team, user_id, "viewer"), metadata=team.md(admin))
        )
        assert code == grpc.StatusCode.NOT_FOUND
    assert await team.role_of(editor.user_id) == "viewer"


async def test_only_owners_give_or_take_the_owner_role(platform: Platform) -> None:
    team = await new_team(platform)
    admin = await team.join("admin")
    editor = await team.join("editor")
    before = await outbox_size(platform)

    for request in (
        _role_change(team, editor.user_id, "owner"),
        _role_change(team, admin.user_id, "owner"),
        _role_change(team, team.owner.user_id, "admin"),
    ):
        code, _ = await rpc_error(team.ws.UpdateMemberRole(request, metadata=team.md(admin)))
        assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await rpc_error(
        team.ws.RemoveMember(_removal(team, team.owner.user_id), metadata=team.md(admin))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED

    assert await outbox_size(platform) == before
    assert await team.role_of(editor.user_id) == "editor"
    assert await team.role_of(team.owner.user_id) == "owner"
    promoted = await team.ws.UpdateMemberRole(
        _role_change(team, admin.user_id, "owner"), metadata=team.md(team.owner)
    )
    assert promoted.member.role == "owner"


async def test_nobody_gives_a_role_with_permissions_they_lack(platform: Platform) -> None:
    team = await new_team(platform)
    admin = await team.join("admin")
    editor = await team.join("editor")
    await team.ws.CreateRole(
        workspace_pb2.CreateRoleRequest(
            workspace_id=team.workspace_id, name="Treasurer", permissions=["billing:view", "member:view"]
        ),
        metadata=team.md(team.owner),
    )

    code, error = await rpc_error(
        team.ws.UpdateMemberRole(_role_change(team, editor.user_id, "Treasurer"), metadata=team.md(admin))
    )

    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "billing:view" in error.message
    same_level = await team.ws.UpdateMemberRole(
        _role_change(team, editor.user_id, "admin"), metadata=team.md(admin)
    )
    assert same_level.member.role == "admin"
    by_owner = await team.ws.UpdateMemberRole(
        _role_change(team, editor.user_id, "Treasurer"), metadata=team.md(team.owner)
    )
    assert by_owner.member.role == "Treasurer"


async def test_the_last_owner_cannot_be_demoted_removed_or_leave(platform: Platform) -> None:
    team = await new_team(platform)
    owner = team.owner
    before = await outbox_size(platform)

    for call in (
        team.ws.UpdateMemberRole(_role_change(team, owner.user_id, "admin"), metadata=team.md(owner)),
        team.ws.RemoveMember(_removal(team, owner.user_id), metadata=team.md(owner)),
        team.ws.LeaveWorkspace(
            workspace_pb2.LeaveWorkspaceRequest(workspace_id=team.workspace_id), metadata=team.md(owner)
        ),
    ):
        code, error = await rpc_error(call)
        assert (code, error.reason) == (grpc.StatusCode.ALREADY_EXISTS, "LAST_OWNER")

    assert await team.role_of(owner.user_id) == "owner"
    assert await outbox_size(platform) == before
    second = await team.join("owner")
    await team.ws.UpdateMemberRole(_role_change(team, owner.user_id, "admin"), metadata=team.md(owner))
    assert await team.role_of(owner.user_id) == "admin"
    code, error = await rpc_error(
        team.ws.LeaveWorkspace(
            workspace_pb2.LeaveWorkspaceRequest(workspace_id=team.workspace_id), metadata=team.md(second)
        )
    )
    assert error.reason == "LAST_OWNER"


async def test_removed_members_lose_access_at_once(platform: Platform) -> None:
    team = await new_team(platform)
    admin = await team.join("admin")
    editor = await team.join("editor")
    assert await team.check(editor, "chat:create")

    code, error = await rpc_error(
        team.ws.RemoveMember(_removal(team, admin.user_id), metadata=team.md(editor))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "member:remove" in error.message
    await team.ws.RemoveMember(_removal(team, editor.user_id), metadata=team.md(admin))

    assert not await team.check(editor, "chat:create")
    assert await team.role_of(editor.user_id) is None
    code, _ = await rpc_error(
        team.ws.GetWorkspace(
            workspace_pb2.GetWorkspaceRequest(id=team.workspace_id), metadata=team.md(editor)
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = await rpc_error(team.ws.RemoveMember(_removal(team, editor.user_id), metadata=team.md(admin)))
    assert code == grpc.StatusCode.NOT_FOUND
    event = (await audit_events(platform, team.owner.tenant_id))[-1]
    assert (event["action"], event["details"]) == (
        "MEMBER_REMOVED",
        {"user_id": editor.user_id, "role": "editor"},
    )


async def test_any_member_may_leave(platform: Platform) -> None:
    team = await new_team(platform)
    viewer = await team.join("viewer")
    request = workspace_pb2.LeaveWorkspaceRequest(workspace_id=team.workspace_id)

    await team.ws.LeaveWorkspace(request, metadata=team.md(viewer))

    assert await team.role_of(viewer.user_id) is None
    assert not await team.check(viewer, "member:view")
    event = (await audit_events(platform, team.owner.tenant_id))[-1]
    assert (event["action"], event["actor_user_id"]) == ("MEMBER_LEFT", viewer.user_id)
    code, _ = await rpc_error(team.ws.LeaveWorkspace(request, metadata=team.md(viewer)))
    assert code == grpc.StatusCode.NOT_FOUND


async def test_two_owners_demoting_each_other_at_once_leave_one_owner(platform: Platform) -> None:
    team = await new_team(platform)
    second = await team.join("owner")
    pairs = ((team.owner, second), (second, team.owner))

    results = await asyncio.gather(
        *(
            team.ws.UpdateMemberRole(_role_change(team, b.user_id, "admin"), metadata=team.md(a))
            for a, b in pairs
        ),
        return_exceptions=True,
    )

    assert sum(not isinstance(result, BaseException) for result in results) == 1
    roles = [await team.role_of(person.user_id) for person in (team.owner, second)]
    assert sorted(roles) == ["admin", "owner"]
