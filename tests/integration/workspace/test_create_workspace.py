"""The part of WorkspaceService that Register needs: CreateWorkspace and ListWorkspaces, through real gRPC."""

from __future__ import annotations

import grpc
from sqlalchemy import select

from db.models.workspace import WorkspaceMember, WorkspaceRole
from geko.common.v1 import common_pb2
from geko.workspace.v1 import workspace_pb2
from tests.integration.auth.harness import Platform, db_session, rpc_error


async def test_register_makes_a_default_workspace_the_owner_sees(platform: Platform) -> None:
    registered = await platform.register(tenant_name="Acme Labs")
    session = registered.session

    listed = await platform.workspace.ListWorkspaces(
        workspace_pb2.ListWorkspacesRequest(), metadata=platform.metadata(session.access_token)
    )

    assert [workspace.id for workspace in listed.workspaces] == [registered.default_workspace_id]
    workspace = listed.workspaces[0]
    assert workspace.name == "Acme Labs"
    assert workspace.tenant_id == session.user.tenant_id
    assert workspace.created_by == session.user.id
    assert not workspace.HasField("delete_time")


async def test_creator_becomes_the_active_owner(platform: Platform) -> None:
    session = (await platform.register()).session

    created = await platform.workspace.CreateWorkspace(
        workspace_pb2.CreateWorkspaceRequest(name="  Research ", icon="🔬"),
        metadata=platform.metadata(session.access_token),
    )

    assert created.workspace.name == "Research"
    assert created.workspace.icon == "🔬"
    async with db_session(platform) as db:
        member, role = (
            await db.execute(
                select(WorkspaceMember, WorkspaceRole)
                .join(WorkspaceRole, WorkspaceRole.id == WorkspaceMember.role_id)
                .where(WorkspaceMember.workspace_id == created.workspace.id)
            )
        ).one()
    assert member.user_id == session.user.id
    assert member.status == "active"
    assert role.name == "owner"
    assert role.is_system


async def test_name_is_required_and_bounded(platform: Platform) -> None:
    metadata = platform.metadata((await platform.register()).session.access_token)
    for name in ("", "   ", "x" * 101):
        code, error = await rpc_error(
            platform.workspace.CreateWorkspace(
                workspace_pb2.CreateWorkspaceRequest(name=name), metadata=metadata
            )
        )
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert error.field == "name"


async def test_list_is_paged_and_scoped_to_the_caller(platform: Platform) -> None:
    mine = await platform.register()
    theirs = await platform.register(tenant_name="Other Co")
    metadata = platform.metadata(mine.session.access_token)
    second = await platform.workspace.CreateWorkspace(
        workspace_pb2.CreateWorkspaceRequest(name="Second"), metadata=metadata
    )
    third = await platform.workspace.CreateWorkspace(
        workspace_pb2.CreateWorkspaceRequest(name="Third"), metadata=metadata
    )

    first_page = await platform.workspace.ListWorkspaces(
        workspace_pb2.ListWorkspacesRequest(page=common_pb2.PageRequest(page_size=2)), metadata=metadata
    )
    last_page = await platform.workspace.ListWorkspaces(
        workspace_pb2.ListWorkspacesRequest(
            page=common_pb2.PageRequest(page_size=2, page_token=first_page.page_info.next_page_token)
        ),
        metadata=metadata,
    )
    their_list = await platform.workspace.ListWorkspaces(
        workspace_pb2.ListWorkspacesRequest(), metadata=platform.metadata(theirs.session.access_token)
    )

    assert [w.id for w in first_page.workspaces] == [mine.default_workspace_id, second.workspace.id]
    assert [w.id for w in last_page.workspaces] == [third.workspace.id]
    assert first_page.page_info.total_size == 3
    assert last_page.page_info.next_page_token == ""
    assert [w.id for w in their_list.workspaces] == [theirs.default_workspace_id]


async def test_anonymous_callers_are_unauthenticated(platform: Platform) -> None:
    code, _ = await rpc_error(
        platform.workspace.CreateWorkspace(
            workspace_pb2.CreateWorkspaceRequest(name="x"), metadata=platform.metadata()
        )
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED
