"""Workspace mutations: workspaces, members, invitations and roles. Every rule (permissions, last owner,
token states) is the workspace service's; these resolvers translate and shape."""

from __future__ import annotations

import strawberry
from strawberry.types import Info
from strawberry.types.unset import UNSET

from geko.auth.v1 import auth_pb2
from geko.workspace.v1 import workspace_pb2
from graphql_gateway.auth.types import User
from graphql_gateway.common import to_datetime
from graphql_gateway.context import GatewayContext, IsAuthenticated, context_of
from graphql_gateway.workspace.types import (
    AcceptInvitationPayload,
    CreateRoleInput,
    CreateWorkspaceInput,
    DeleteWorkspacePayload,
    Invitation,
    InvitationPayload,
    InviteMemberInput,
    Member,
    Role,
    UpdateMemberRoleInput,
    UpdateRoleInput,
    UpdateWorkspaceInput,
    Workspace,
)
from services.runtime.errors import BadInput, InternalError


@strawberry.type
class WorkspaceMutations:
    @strawberry.mutation(
        description="Creates a workspace; the caller becomes its owner.", permission_classes=[IsAuthenticated]
    )
    async def create_workspace(self, info: Info, input: CreateWorkspaceInput) -> Workspace:
        ctx = context_of(info)
        request = workspace_pb2.CreateWorkspaceRequest(name=input.name, icon=input.icon or "")
        response = await ctx.workspace.CreateWorkspace(request, metadata=ctx.metadata())
        return Workspace.from_proto(response.workspace)

    @strawberry.mutation(
        description="Renames a workspace or changes its icon (needs workspace:config).",
        permission_classes=[IsAuthenticated],
    )
    async def update_workspace(self, info: Info, id: strawberry.ID, input: UpdateWorkspaceInput) -> Workspace:
        ctx = context_of(info)
        request = workspace_pb2.UpdateWorkspaceRequest(id=str(id))
        if input.name is not UNSET and input.name is not None:
            request.name = input.name
        if input.icon is not UNSET:
            request.icon = input.icon or ""
        response = await ctx.workspace.UpdateWorkspace(request, metadata=ctx.metadata())
        return Workspace.from_proto(response.workspace)

    @strawberry.mutation(
        description="Soft-deletes a workspace: hidden at once, restorable for 30 days "
        "(needs workspace:delete).",
        permission_classes=[IsAuthenticated],
    )
    async def delete_workspace(self, info: Info, id: strawberry.ID) -> DeleteWorkspacePayload:
        ctx = context_of(info)
        request = workspace_pb2.DeleteWorkspaceRequest(id=str(id))
        response = await ctx.workspace.DeleteWorkspace(request, metadata=ctx.metadata())
        return DeleteWorkspacePayload(
            workspace=Workspace.from_proto(response.workspace), purge_at=to_datetime(response.purge_time)
        )

    @strawberry.mutation(
        description="Brings back a soft-deleted workspace (needs workspace:delete).",
        permission_classes=[IsAuthenticated],
    )
    async def restore_workspace(self, info: Info, id: strawberry.ID) -> Workspace:
        ctx = context_of(info)
        request = workspace_pb2.RestoreWorkspaceRequest(id=str(id))
        response = await ctx.workspace.RestoreWorkspace(request, metadata=ctx.metadata())
        return Workspace.from_proto(response.workspace)

    @strawberry.mutation(
        description="Invites an email with a role (needs member:invite); answers the link to accept.",
        permission_classes=[IsAuthenticated],
    )
    async def invite_member(self, info: Info, input: InviteMemberInput) -> InvitationPayload:
        ctx = context_of(info)
        request = workspace_pb2.InviteMemberRequest(
            workspace_id=str(input.workspace_id), email=input.email, role=input.role
        )
        response = await ctx.workspace.InviteMember(request, metadata=ctx.metadata())
        return InvitationPayload(
            invitation=Invitation.from_proto(response.invitation),
            link=response.link,
            email_sent=response.email_sent,
        )

    @strawberry.mutation(
        description=(
            "Joins a workspace with an invitation token. Signed in: as the caller (whose email must be the "
            "invitation's). Not signed in: with `name` and `password`, creates the invitee's account in the "
            "inviting tenant and signs it in."
        )
    )
    async def accept_invitation(
        self, info: Info, token: str, name: str | None = None, password: str | None = None
    ) -> AcceptInvitationPayload:
        ctx = context_of(info)
        if ctx.signed_in:
            if name is not None or password is not None:
                raise BadInput("you are signed in: accept without name and password", field="name")
            return await _accept_signed_in(ctx, token)
        return await _accept_with_new_account(ctx, token, name or "", password or "")

    @strawberry.mutation(
        description="Revokes a pending invitation (needs invitation:revoke).",
        permission_classes=[IsAuthenticated],
    )
    async def revoke_invitation(self, info: Info, id: strawberry.ID) -> Invitation:
        ctx = context_of(info)
        request = workspace_pb2.RevokeInvitationRequest(id=str(id))
        response = await ctx.workspace.RevokeInvitation(request, metadata=ctx.metadata())
        return Invitation.from_proto(response.invitation)

    @strawberry.mutation(
        description="A new link and expiry for a pending invitation; the old link stops working "
        "(needs member:invite).",
        permission_classes=[IsAuthenticated],
    )
    async def resend_invitation(self, info: Info, id: strawberry.ID) -> InvitationPayload:
        ctx = context_of(info)
        request = workspace_pb2.ResendInvitationRequest(id=str(id))
        response = await ctx.workspace.ResendInvitation(request, metadata=ctx.metadata())
        return InvitationPayload(
            invitation=Invitation.from_proto(response.invitation),
            link=response.link,
            email_sent=response.email_sent,
        )

    @strawberry.mutation(
        description="Gives a member another role (needs member:role:update; a workspace keeps an owner).",
        permission_classes=[IsAuthenticated],
    )
    async def update_member_role(self, info: Info, input: UpdateMemberRoleInput) -> Member:
        ctx = context_of(info)
        request = workspace_pb2.UpdateMemberRoleRequest(
            workspace_id=str(input.workspace_id), user_id=str(input.user_id), role=input.role
        )
        response = await ctx.workspace.UpdateMemberRole(request, metadata=ctx.metadata())
        return Member.from_proto(response.member)

    @strawberry.mutation(
        description="Removes a member (needs member:remove; never the last owner).",
        permission_classes=[IsAuthenticated],
    )
    async def remove_member(self, info: Info, workspace_id: strawberry.ID, user_id: strawberry.ID) -> bool:
        ctx = context_of(info)
        request = workspace_pb2.RemoveMemberRequest(workspace_id=str(workspace_id), user_id=str(user_id))
        await ctx.workspace.RemoveMember(request, metadata=ctx.metadata())
        return True

    @strawberry.mutation(
        description="The caller leaves a workspace (never its last owner).",
        permission_classes=[IsAuthenticated],
    )
    async def leave_workspace(self, info: Info, id: strawberry.ID) -> bool:
        ctx = context_of(info)
        request = workspace_pb2.LeaveWorkspaceRequest(workspace_id=str(id))
        await ctx.workspace.LeaveWorkspace(request, metadata=ctx.metadata())
        return True

    @strawberry.mutation(
        description="Creates a custom role (needs role:create, and every permission it gives).",
        permission_classes=[IsAuthenticated],
    )
    async def create_role(self, info: Info, input: CreateRoleInput) -> Role:
        ctx = context_of(info)
        request = workspace_pb2.CreateRoleRequest(
            workspace_id=str(input.workspace_id),
            name=input.name,
            description=input.description,
            permissions=input.permissions,
        )
        response = await ctx.workspace.CreateRole(request, metadata=ctx.metadata())
        return Role.from_proto(response.role)

    @strawberry.mutation(
        description="Changes a custom role (needs role:update, and every permission it gives).",
        permission_classes=[IsAuthenticated],
    )
    async def update_role(self, info: Info, input: UpdateRoleInput) -> Role:
        ctx = context_of(info)
        request = workspace_pb2.UpdateRoleRequest(id=str(input.id))
        if input.name is not UNSET and input.name is not None:
            request.name = input.name
        if input.description is not UNSET and input.description is not None:
            request.description = input.description
        if input.permissions is not UNSET and input.permissions is not None:
            request.permissions.CopyFrom(workspace_pb2.PermissionSet(permissions=input.permissions))
        response = await ctx.workspace.UpdateRole(request, metadata=ctx.metadata())
        return Role.from_proto(response.role)

    @strawberry.mutation(
        description="Deletes a custom role nobody holds (needs role:delete).",
        permission_classes=[IsAuthenticated],
    )
    async def delete_role(self, info: Info, id: strawberry.ID) -> bool:
        ctx = context_of(info)
        await ctx.workspace.DeleteRole(workspace_pb2.DeleteRoleRequest(id=str(id)), metadata=ctx.metadata())
        return True


async def _accept_signed_in(ctx: GatewayContext, token: str) -> AcceptInvitationPayload:
    """The caller joins with their own account and keeps their session (no new tokens)."""
    await ctx.principal()
    request = workspace_pb2.AcceptInvitationRequest(token=token)
    response = await ctx.workspace.AcceptInvitation(request, metadata=ctx.metadata())
    me = await ctx.auth.GetMe(auth_pb2.GetMeRequest(), metadata=ctx.metadata())
    return AcceptInvitationPayload(
        access_token=None,
        refresh_token=None,
        expires_at=None,
        user=User.from_proto(me.user),
        workspace=Workspace.from_proto(response.workspace),
    )


async def _accept_with_new_account(
    ctx: GatewayContext, token: str, name: str, password: str
) -> AcceptInvitationPayload:
    """Auth creates the invitee's account in the inviting tenant and joins it; the rest of the answer (the
    workspace and anything selected under it) is resolved as the new user."""
    request = auth_pb2.AcceptInvitationRequest(token=token, name=name, password=password)
    response = await ctx.auth.AcceptInvitation(request, metadata=ctx.metadata())
    session = response.session
    ctx.act_as(session.access_token)
    await ctx.principal()
    # A batch lookup needs membership only: the invited role may lack member:view, which GetWorkspace needs.
    request_workspace = workspace_pb2.BatchGetWorkspacesRequest(ids=[response.workspace_id])
    found = await ctx.workspace.BatchGetWorkspaces(request_workspace, metadata=ctx.metadata())
    if not found.workspaces:
        raise InternalError("the joined workspace is not visible to its new member")
    return AcceptInvitationPayload(
        access_token=session.access_token,
        refresh_token=session.refresh_token,
        expires_at=to_datetime(session.access_token_expire_time),
        user=User.from_proto(session.user),
        workspace=Workspace.from_proto(found.workspaces[0]),
    )
