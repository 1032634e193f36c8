"""Roles through real gRPC: the system roles, custom roles (create, update, delete) and their guards."""

from __future__ import annotations

import grpc

from db.seed import DEFAULT_ROLE_PERMISSIONS
from geko.workspace.v1 import workspace_pb2
from tests.integration.auth.harness import Platform, rpc_error
from tests.integration.workspace.team import Person, Team, audit_events, new_team, outbox_size


async def _create(
    team: Team, name: str, permissions: list[str], by: Person | None = None
) -> workspace_pb2.Role:
    created = await team.ws.CreateRole(
        workspace_pb2.CreateRoleRequest(
            workspace_id=team.workspace_id, name=name, permissions=permissions, description="d"
        ),
        metadata=team.md(by or team.owner),
    )
    role: workspace_pb2.Role = created.role
    return role


async def test_roles_are_the_system_four_then_custom_ones_by_name(platform: Platform) -> None:
    team = await new_team(platform)
    viewer = await team.join("viewer")
    await _create(team, "Support", ["member:view"])
    await _create(team, "analysts", ["usage:view:workspace"])
    other = await new_team(platform, "Other Co")
    await _create(other, "Hidden", ["member:view"])

    listed = await team.ws.ListRoles(
        workspace_pb2.ListRolesRequest(workspace_id=team.workspace_id), metadata=team.md(viewer)
    )

    assert [r.name for r in listed.roles] == ["owner", "admin", "editor", "viewer", "analysts", "Support"]
    system = {r.name: r for r in listed.roles if r.is_system}
    assert {name: set(r.permissions) for name, r in system.items()} == DEFAULT_ROLE_PERMISSIONS
    assert all(r.workspace_id == "" for r in system.values())
    assert all(r.workspace_id == team.workspace_id for r in listed.roles if not r.is_system)


async def test_create_role_checks_name_permissions_and_the_creator(platform: Platform) -> None:
    team = await new_team(platform)
    admin = await team.join("admin")
    editor = await team.join("editor")

    role = await _create(team, " Support ", ["member:view", "chat:view:workspace"], by=admin)

    assert (role.name, role.is_system) == ("Support", False)
    assert list(role.permissions) == ["chat:view:workspace", "member:view"]
    event = (await audit_events(platform, team.owner.tenant_id))[-1]
    assert (event["action"], event["resource_type"], event["resource_id"]) == (
        "ROLE_CREATED",
        "role",
        role.id,
    )
    before = await outbox_size(platform)
    for name, permissions, field in (
        ("", [], "name"),
        ("Admin", [], "name"),
        ("x" * 65, [], "name"),
        ("Ok", ["chat:fly", "member:view", "nope"], "permissions"),
    ):
        code, error = await rpc_error(_create(team, name, permissions))
        assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, field)
    _, error = await rpc_error(_create(team, "Ok", ["chat:fly", "nope"]))
    assert "chat:fly, nope" in error.message
    code, error = await rpc_error(_create(team, "Support", []))
    assert (code, error.field) == (grpc.StatusCode.ALREADY_EXISTS, "name")
    code, error = await rpc_error(_create(team, "Payer", ["workspace:billing"], by=admin))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "workspace:billing" in error.message
    code, error = await rpc_error(_create(team, "Mine", [], by=editor))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "role:create" in error.message
    assert await outbox_size(platform) == before


async def test_updating_a_role_changes_its_members_rights_at_once(platform: Platform) -> None:
    team = await new_team(platform)
    admin = await team.join("admin")
    role = await _create(team, "Support", ["member:view"])
    helper = await team.join("Support")
    assert not await team.check(helper, "chat:create")

    updated = await team.ws.UpdateRole(
        workspace_pb2.UpdateRoleRequest(
            id=role.id,
            name="Helpdesk",
            permissions=workspace_pb2.PermissionSet(permissions=["member:view", "chat:create"]),
        ),
        metadata=team.md(admin),
    )

    assert (updated.role.name, updated.role.description) == ("Helpdesk", "d")
    assert list(updated.role.permissions) == ["chat:create", "member:view"]
    assert await team.check(helper, "chat:create")
    assert await team.role_of(helper.user_id) == "Helpdesk"
    event = (await audit_events(platform, team.owner.tenant_id))[-1]
    assert event["action"] == "ROLE_UPDATED"
    assert event["details"]["permissions"] == {"added": ["chat:create"], "removed": []}

    described = await team.ws.UpdateRole(
        workspace_pb2.UpdateRoleRequest(id=role.id, description="Answers questions"), metadata=team.md(admin)
    )
    assert list(described.role.permissions) == ["chat:create", "member:view"]
    emptied = await team.ws.UpdateRole(
        workspace_pb2.UpdateRoleRequest(id=role.id, permissions=workspace_pb2.PermissionSet()),
        metadata=team.md(admin),
    )
    assert list(emptied.role.permissions) == []
    assert not await team.check(helper, "member:view")


async def test_role_updates_are_guarded(platform: Platform) -> None:
    team = await new_team(platform)
    admin = await team.join("admin")
    editor = await team.join("editor")
    role = await _create(team, "Support", ["member:view"])
    await _create(team, "Taken", [])
    roles = await team.ws.ListRoles(
        workspace_pb2.ListRolesRequest(workspace_id=team.workspace_id), metadata=team.md(admin)
    )
    viewer_role = next(r for r in roles.roles if r.name == "viewer")
    before = await outbox_size(platform)

    code, _ = await rpc_error(
        team.ws.UpdateRole(
            workspace_pb2.UpdateRoleRequest(id=viewer_role.id, description="mine"),
            metadata=team.md(team.owner),
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, error = await rpc_error(
        team.ws.UpdateRole(
            workspace_pb2.UpdateRoleRequest(
                id=role.id, permissions=workspace_pb2.PermissionSet(permissions=["billing:view"])
            ),
            metadata=team.md(admin),
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "billing:view" in error.message
    code, error = await rpc_error(
        team.ws.UpdateRole(workspace_pb2.UpdateRoleRequest(id=role.id, name="Taken"), metadata=team.md(admin))
    )
    assert (code, error.field) == (grpc.StatusCode.ALREADY_EXISTS, "name")
    code, error = await rpc_error(
        team.ws.UpdateRole(workspace_pb2.UpdateRoleRequest(id=role.id, name="x"), metadata=team.md(editor))
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "role:update" in error.message
    assert await outbox_size(platform) == before


async def test_a_role_is_deleted_only_once_nobody_holds_it(platform: Platform) -> None:
    team = await new_team(platform)
    role = await _create(team, "Support", ["member:view"])
    helper = await team.join("Support")
    invited = await team.invite("cy@example.com", "Support")
    request = workspace_pb2.DeleteRoleRequest(id=role.id)
    owner = team.md(team.owner)

    code, error = await rpc_error(team.ws.DeleteRole(request, metadata=owner))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert "member" in error.message
    await team.ws.UpdateMemberRole(
        workspace_pb2.UpdateMemberRoleRequest(
            workspace_id=team.workspace_id, user_id=helper.user_id, role="viewer"
        ),
        metadata=owner,
    )
    code, error = await rpc_error(team.ws.DeleteRole(request, metadata=owner))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert "invitation" in error.message
    await team.ws.RevokeInvitation(
        workspace_pb2.RevokeInvitationRequest(id=invited.invitation.id), metadata=owner
    )

    await team.ws.DeleteRole(request, metadata=owner)

    roles = await team.ws.ListRoles(
        workspace_pb2.ListRolesRequest(workspace_id=team.workspace_id), metadata=owner
    )
    assert "Support" not in [r.name for r in roles.roles]
    assert (await audit_events(platform, team.owner.tenant_id))[-1]["action"] == "ROLE_DELETED"
    code, _ = await rpc_error(team.ws.DeleteRole(request, metadata=owner))
    assert code == grpc.StatusCode.NOT_FOUND
    owner_role = next(r for r in roles.roles if r.name == "owner")
    code, _ = await rpc_error(
        team.ws.DeleteRole(workspace_pb2.DeleteRoleRequest(id=owner_role.id), metadata=owner)
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED
