"""GraphQL types of workspaces, members, invitations and roles, each built from its `geko.workspace.v1`
message. A workspace's lists are fields with their own resolvers, so a query pays only for what it selects;
the workspace service decides who may see each of them (FORBIDDEN otherwise)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry
from strawberry.types import Info

from geko.common.v1 import common_pb2
from geko.workspace.v1 import workspace_pb2
from graphql_gateway.auth.types import User
from graphql_gateway.billing.types import Quota, Usage, workspace_quota, workspace_usage
from graphql_gateway.common import to_datetime, to_optional_datetime
from graphql_gateway.connections import Connection, paging_arguments, window
from graphql_gateway.context import IsAuthenticated, context_of
from graphql_gateway.model.catalog import workspace_models
from graphql_gateway.model.types import WorkspaceModel

# Lists without a connection (pending invitations, the caller's workspaces) are fetched whole, a page of
# this many at a time.
LIST_PAGE_SIZE = 200


def whole_list_page(token: str) -> common_pb2.PageRequest:
    return common_pb2.PageRequest(page_size=LIST_PAGE_SIZE, page_token=token)


@strawberry.enum(description="Whether a membership is in use.")
class MemberStatus(Enum):
    ACTIVE = "ACTIVE"
    SUSPENDED = strawberry.enum_value("SUSPENDED", description="The user's account is disabled.")


@strawberry.enum
class InvitationStatus(Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


@strawberry.type(description="A member of a workspace: a user of the tenant and the role they hold there.")
class Member:
    user_id: strawberry.Private[str]
    role: str = strawberry.field(description="Name of one of the workspace's roles.")
    joined_at: datetime
    status: MemberStatus

    @strawberry.field(description="Null only when the account no longer exists.")
    async def user(self, info: Info) -> User | None:
        return await context_of(info).users.load(self.user_id)

    @classmethod
    def from_proto(cls, member: workspace_pb2.Member) -> Member:
        status = workspace_pb2.MemberStatus.Name(member.status).removeprefix("MEMBER_STATUS_")
        return cls(
            user_id=member.user_id,
            role=member.role,
            joined_at=to_datetime(member.join_time),
            status=MemberStatus[status],
        )


@strawberry.type(description="An invitation to join a workspace; its token is only ever in the link.")
class Invitation:
    id: strawberry.ID
    workspace_id: strawberry.ID
    email: str
    role: str = strawberry.field(description="The role the invitee gets on accepting.")
    status: InvitationStatus
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None
    inviter_id: strawberry.Private[str]

    @strawberry.field(description="Who invited (or last resent the invitation).")
    async def invited_by(self, info: Info) -> User | None:
        return await context_of(info).users.load(self.inviter_id) if self.inviter_id else None

    @classmethod
    def from_proto(cls, invitation: workspace_pb2.Invitation) -> Invitation:
        status = workspace_pb2.InvitationStatus.Name(invitation.status).removeprefix("INVITATION_STATUS_")
        return cls(
            id=strawberry.ID(invitation.id),
            workspace_id=strawberry.ID(invitation.workspace_id),
            email=invitation.email,
            role=invitation.role,
            status=InvitationStatus[status],
            created_at=to_datetime(invitation.create_time),
            expires_at=to_datetime(invitation.expire_time),
            accepted_at=to_optional_datetime(invitation.accept_time),
            revoked_at=to_optional_datetime(invitation.revoke_time),
            inviter_id=invitation.inviter_user_id,
        )


@strawberry.type(description="A named set of permissions members hold in a workspace.")
class Role:
    id: strawberry.ID
    name: str
    description: str
    permissions: list[str] = strawberry.field(description="`resource:action[:scope]` names.")
    is_system: bool = strawberry.field(
        description="One of owner, admin, editor, viewer: read-only and undeletable."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, role: workspace_pb2.Role) -> Role:
        return cls(
            id=strawberry.ID(role.id),
            name=role.name,
            description=role.description,
            permissions=list(role.permissions),
            is_system=role.is_system,
            created_at=to_datetime(role.create_time),
            updated_at=to_datetime(role.update_time),
        )


@strawberry.type(description="A team space in a tenant, with its members, invitations and roles.")
class Workspace:
    id: strawberry.ID
    name: str
    icon: str | None = strawberry.field(description="An emoji or short icon name; null when none is set.")
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = strawberry.field(
        description="Set while soft-deleted (restorable for 30 days by those who hold workspace:delete)."
    )

    @strawberry.field(
        description="Members, oldest first (needs member:view).", permission_classes=[IsAuthenticated]
    )
    async def members(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Member]:
        ctx = context_of(info)
        seen = window(first, after)
        request = workspace_pb2.ListMembersRequest(workspace_id=self.id, page=seen.page_request())
        with paging_arguments():
            response = await ctx.workspace.ListMembers(request, metadata=ctx.metadata())
        members = [Member.from_proto(member) for member in response.members]
        return Connection.from_page(members, response.page_info, seen)

    @strawberry.field(
        description="Pending invitations, newest first (needs member:invite).",
        permission_classes=[IsAuthenticated],
    )
    async def invitations(self, info: Info) -> list[Invitation]:
        ctx = context_of(info)
        invitations: list[Invitation] = []
        token = ""
        while True:
            request = workspace_pb2.ListInvitationsRequest(workspace_id=self.id, page=whole_list_page(token))
            response = await ctx.workspace.ListInvitations(request, metadata=ctx.metadata())
            invitations.extend(Invitation.from_proto(invitation) for invitation in response.invitations)
            token = response.page_info.next_page_token
            if not token:
                return invitations

    @strawberry.field(
        description="The four default roles and the workspace's custom ones (needs member:view).",
        permission_classes=[IsAuthenticated],
    )
    async def roles(self, info: Info) -> list[Role]:
        ctx = context_of(info)
        request = workspace_pb2.ListRolesRequest(workspace_id=self.id)
        response = await ctx.workspace.ListRoles(request, metadata=ctx.metadata())
        return [Role.from_proto(role) for role in response.roles]

    @strawberry.field(
        description="Every permission the caller holds here.", permission_classes=[IsAuthenticated]
    )
    async def my_permissions(self, info: Info) -> list[str]:
        return await my_permissions(info, self.id)

    @strawberry.field(
        description="Every model of the tenant's catalog with its settings here: enabled or not, overrides.",
        permission_classes=[IsAuthenticated],
    )
    async def models(self, info: Info) -> list[WorkspaceModel]:
        return await workspace_models(context_of(info), self.id)

    @strawberry.field(
        description=(
            "Tokens and requests used this month against the plan's limits (any member); a null limit "
            "means unlimited."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def quota(self, info: Info) -> Quota:
        return await workspace_quota(context_of(info), self.id)

    @strawberry.field(
        description=(
            'Usage in one UTC month, "YYYY-MM" (the current one when omitted), per model, member and day '
            "(needs usage:view:workspace)."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def usage(self, info: Info, month: str | None = None) -> Usage:
        return await workspace_usage(context_of(info), self.id, month)

    @classmethod
    def from_proto(cls, workspace: workspace_pb2.Workspace) -> Workspace:
        return cls(
            id=strawberry.ID(workspace.id),
            name=workspace.name,
            icon=workspace.icon or None,
            created_at=to_datetime(workspace.create_time),
            updated_at=to_datetime(workspace.update_time),
            deleted_at=to_optional_datetime(workspace.delete_time),
        )


async def my_permissions(info: Info, workspace_id: str) -> list[str]:
    """The caller's permissions in a workspace, sorted (empty for a non-member, as the service answers)."""
    ctx = context_of(info)
    request = workspace_pb2.ListPermissionsRequest(workspace_id=workspace_id)
    response = await ctx.workspace.ListPermissions(request, metadata=ctx.metadata())
    return sorted(response.permissions)


@strawberry.type
class DeleteWorkspacePayload:
    workspace: Workspace = strawberry.field(description="The workspace, with deletedAt set.")
    purge_at: datetime = strawberry.field(description="Restorable until then; purged afterwards.")


@strawberry.type
class InvitationPayload:
    invitation: Invitation
    link: str = strawberry.field(description="The link to accept; it ends with the token, shown only here.")
    email_sent: bool = strawberry.field(description="Whether an email went out (SMTP is configured).")


@strawberry.type(description="What `invitationByToken` shows an invitee before they accept.")
class InvitationPreview:
    email: str
    role: str
    workspace_name: str
    expires_at: datetime


@strawberry.type(
    description=(
        "A joined workspace. A new account (name and password given) is signed in: the session fields "
        "are set; a signed-in caller keeps their session, and they are null."
    )
)
class AcceptInvitationPayload:
    access_token: str | None
    refresh_token: str | None
    expires_at: datetime | None
    user: User
    workspace: Workspace


@strawberry.input
class CreateWorkspaceInput:
    name: str
    icon: str | None = None


@strawberry.input(description="Only the fields given change; `icon: null` removes the icon.")
class UpdateWorkspaceInput:
    name: str | None = strawberry.UNSET
    icon: str | None = strawberry.UNSET


@strawberry.input
class InviteMemberInput:
    workspace_id: strawberry.ID
    email: str
    role: str = strawberry.field(description="Name of a role of the workspace, e.g. editor.")


@strawberry.input
class UpdateMemberRoleInput:
    workspace_id: strawberry.ID
    user_id: strawberry.ID
    role: str


@strawberry.input
class CreateRoleInput:
    workspace_id: strawberry.ID
    name: str
    description: str = ""
    permissions: list[str] = strawberry.field(default_factory=list)


@strawberry.input(description="Only the fields given change; `permissions` replaces the whole set.")
class UpdateRoleInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    permissions: list[str] | None = strawberry.UNSET
