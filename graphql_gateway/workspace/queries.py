"""Workspace queries: the caller's workspaces, one workspace, the caller's permissions, an invitation's
preview. The workspace service decides what the caller may see; another tenant's ids are NOT_FOUND there."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from geko.workspace.v1 import workspace_pb2
from graphql_gateway.common import to_datetime
from graphql_gateway.context import IsAuthenticated, context_of
from graphql_gateway.workspace.types import (
    InvitationPreview,
    Workspace,
    my_permissions,
    whole_list_page,
)


@strawberry.type
class WorkspaceQueries:
    @strawberry.field(
        description=(
            "Workspaces the caller is a member of, oldest first; with `deleted: true`, instead the ones "
            "deleted in the last 30 days that the caller may restore (workspace:delete)."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def workspaces(self, info: Info, deleted: bool = False) -> list[Workspace]:
        ctx = context_of(info)
        workspaces: list[Workspace] = []
        token = ""
        while True:
            request = workspace_pb2.ListWorkspacesRequest(page=whole_list_page(token), show_deleted=deleted)
            response = await ctx.workspace.ListWorkspaces(request, metadata=ctx.metadata())
            workspaces.extend(Workspace.from_proto(workspace) for workspace in response.workspaces)
            token = response.page_info.next_page_token
            if not token:
                return workspaces

    @strawberry.field(
        description="One workspace of the caller's (needs member:view); NOT_FOUND for any other id.",
        permission_classes=[IsAuthenticated],
    )
    async def workspace(self, info: Info, id: strawberry.ID) -> Workspace | None:
        ctx = context_of(info)
        request = workspace_pb2.GetWorkspaceRequest(id=str(id))
        response = await ctx.workspace.GetWorkspace(request, metadata=ctx.metadata())
        return Workspace.from_proto(response.workspace)

    @strawberry.field(
        description="Every permission the caller holds in a workspace; empty when not a member.",
        permission_classes=[IsAuthenticated],
    )
    async def my_permissions(self, info: Info, workspace_id: strawberry.ID) -> list[str]:
        return await my_permissions(info, str(workspace_id))

    @strawberry.field(
        description=(
            "What an invitation link offers, for the page that accepts it; no sign-in needed (the token is "
            "the key). Expired, revoked or used tokens are BAD_USER_INPUT with a reason."
        )
    )
    async def invitation_by_token(self, info: Info, token: str) -> InvitationPreview:
        ctx = context_of(info)
        request = workspace_pb2.ResolveInvitationRequest(token=token)
        response = await ctx.workspace.ResolveInvitation(request, metadata=ctx.metadata())
        invitation = response.invitation
        return InvitationPreview(
            email=invitation.email,
            role=invitation.role,
            workspace_name=response.workspace_name,
            expires_at=to_datetime(invitation.expire_time),
        )
