"""WorkspaceService over gRPC: proto in, domain call, proto out. The rules live in workspaces.py, members.py,
invitations.py, roles.py and permissions.py."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from db.models.workspace import Invitation, Workspace
from db.seed import PERMISSIONS
from geko.common.v1 import common_pb2
from geko.workspace.v1 import workspace_pb2, workspace_pb2_grpc
from services.runtime.clock import utcnow
from services.runtime.context import require_principal
from services.runtime.errors import BadInput
from services.runtime.mailer import create_mailer
from services.runtime.messages import timestamp
from services.runtime.paging import Page
from services.runtime.permission_cache import Access
from services.runtime.server import ServiceDeps, ServiceRegistration
from services.runtime.types import ServicerContext
from services.workspace.accounts import Accounts
from services.workspace.invitations import InvitationService
from services.workspace.members import MemberService
from services.workspace.permissions import Permissions, require_known_permission
from services.workspace.repository import (
    InvitationRow,
    InvitationState,
    MemberRow,
    RoleRow,
    invitation_state,
)
from services.workspace.roles import RoleService
from services.workspace.workspaces import WorkspaceService, purge_time

SERVICE_NAME = workspace_pb2.DESCRIPTOR.services_by_name["WorkspaceService"].full_name

_MEMBER_STATUS = {
    "active": workspace_pb2.MEMBER_STATUS_ACTIVE,
    "suspended": workspace_pb2.MEMBER_STATUS_SUSPENDED,
}
_INVITATION_STATUS = {
    InvitationState.PENDING: workspace_pb2.INVITATION_STATUS_PENDING,
    InvitationState.ACCEPTED: workspace_pb2.INVITATION_STATUS_ACCEPTED,
    InvitationState.REVOKED: workspace_pb2.INVITATION_STATUS_REVOKED,
    InvitationState.EXPIRED: workspace_pb2.INVITATION_STATUS_EXPIRED,
}
_STATE_OF_STATUS: dict[int, InvitationState] = {status: state for state, status in _INVITATION_STATUS.items()}


def workspace_message(workspace: Workspace) -> workspace_pb2.Workspace:
    return workspace_pb2.Workspace(
        id=workspace.id,
        tenant_id=workspace.tenant_id,
        name=workspace.name,
        icon=workspace.icon or "",
        created_by=workspace.created_by or "",
        create_time=timestamp(workspace.created_at),
        update_time=timestamp(workspace.updated_at),
        delete_time=timestamp(workspace.deleted_at),
    )


def member_message(row: MemberRow) -> workspace_pb2.Member:
    member = row.member
    return workspace_pb2.Member(
        workspace_id=member.workspace_id,
        user_id=member.user_id,
        role=row.role.name,
        join_time=timestamp(member.accepted_at or member.created_at),
        status=_MEMBER_STATUS.get(member.status, workspace_pb2.MEMBER_STATUS_UNSPECIFIED),
    )


def invitation_message(row: InvitationRow) -> workspace_pb2.Invitation:
    invitation: Invitation = row.invitation
    return workspace_pb2.Invitation(
        id=invitation.id,
        workspace_id=invitation.workspace_id,
        email=invitation.email,
        role=row.role.name,
        status=_INVITATION_STATUS[invitation_state(invitation, utcnow())],
        inviter_user_id=invitation.invited_by or "",
        create_time=timestamp(invitation.created_at),
        expire_time=timestamp(invitation.expires_at),
        accept_time=timestamp(invitation.accepted_at),
        revoke_time=timestamp(invitation.revoked_at),
    )


def role_message(row: RoleRow) -> workspace_pb2.Role:
    role = row.role
    return workspace_pb2.Role(
        id=role.id,
        workspace_id=role.workspace_id or "",
        name=role.name,
        description=role.description,
        permissions=sorted(row.permissions),
        is_system=role.is_system,
        create_time=timestamp(role.created_at),
        update_time=timestamp(role.updated_at),
    )


def page_info(page: Page[Any]) -> common_pb2.PageInfo:
    return common_pb2.PageInfo(next_page_token=page.next_page_token, total_size=page.total_size)


def _states(statuses: Iterable[int]) -> set[InvitationState]:
    states = set()
    for status in statuses:
        if status not in _STATE_OF_STATUS:
            raise BadInput("statuses holds an unknown status", field="statuses")
        states.add(_STATE_OF_STATUS[status])
    return states


class WorkspaceServicer(workspace_pb2_grpc.WorkspaceServiceServicer):
    def __init__(
        self,
        workspaces: WorkspaceService,
        members: MemberService,
        invitations: InvitationService,
        roles: RoleService,
        permissions: Permissions,
    ) -> None:
        self._workspaces = workspaces
        self._members = members
        self._invitations = invitations
        self._roles = roles
        self._permissions = permissions

    # ---- workspaces ----

    async def CreateWorkspace(
        self, request: workspace_pb2.CreateWorkspaceRequest, context: ServicerContext
    ) -> workspace_pb2.CreateWorkspaceResponse:
        workspace = await self._workspaces.create(name=request.name, icon=request.icon)
        return workspace_pb2.CreateWorkspaceResponse(workspace=workspace_message(workspace))

    async def ListWorkspaces(
        self, request: workspace_pb2.ListWorkspacesRequest, context: ServicerContext
    ) -> workspace_pb2.ListWorkspacesResponse:
        page = await self._workspaces.list_mine(
            size=request.page.page_size, token=request.page.page_token, show_deleted=request.show_deleted
        )
        return workspace_pb2.ListWorkspacesResponse(
            workspaces=[workspace_message(workspace) for workspace in page.items], page_info=page_info(page)
        )

    async def GetWorkspace(
        self, request: workspace_pb2.GetWorkspaceRequest, context: ServicerContext
    ) -> workspace_pb2.GetWorkspaceResponse:
        workspace = await self._workspaces.get(request.id)
        return workspace_pb2.GetWorkspaceResponse(workspace=workspace_message(workspace))

    async def BatchGetWorkspaces(
        self, request: workspace_pb2.BatchGetWorkspacesRequest, context: ServicerContext
    ) -> workspace_pb2.BatchGetWorkspacesResponse:
        workspaces = await self._workspaces.batch_get(list(request.ids))
        return workspace_pb2.BatchGetWorkspacesResponse(workspaces=[workspace_message(w) for w in workspaces])

    async def UpdateWorkspace(
        self, request: workspace_pb2.UpdateWorkspaceRequest, context: ServicerContext
    ) -> workspace_pb2.UpdateWorkspaceResponse:
        workspace = await self._workspaces.update(
            request.id,
            name=request.name if request.HasField("name") else None,
            icon=request.icon if request.HasField("icon") else None,
        )
        return workspace_pb2.UpdateWorkspaceResponse(workspace=workspace_message(workspace))

    async def DeleteWorkspace(
        self, request: workspace_pb2.DeleteWorkspaceRequest, context: ServicerContext
    ) -> workspace_pb2.DeleteWorkspaceResponse:
        workspace = await self._workspaces.delete(request.id)
        return workspace_pb2.DeleteWorkspaceResponse(
            workspace=workspace_message(workspace), purge_time=timestamp(purge_time(workspace))
        )

    async def RestoreWorkspace(
        self, request: workspace_pb2.RestoreWorkspaceRequest, context: ServicerContext
    ) -> workspace_pb2.RestoreWorkspaceResponse:
        workspace = await self._workspaces.restore(request.id)
        return workspace_pb2.RestoreWorkspaceResponse(workspace=workspace_message(workspace))

    # ---- members ----

    async def ListMembers(
        self, request: workspace_pb2.ListMembersRequest, context: ServicerContext
    ) -> workspace_pb2.ListMembersResponse:
        page = await self._members.list(
            request.workspace_id, size=request.page.page_size, token=request.page.page_token
        )
        return workspace_pb2.ListMembersResponse(
            members=[member_message(row) for row in page.items], page_info=page_info(page)
        )

    async def UpdateMemberRole(
        self, request: workspace_pb2.UpdateMemberRoleRequest, context: ServicerContext
    ) -> workspace_pb2.UpdateMemberRoleResponse:
        row = await self._members.update_role(request.workspace_id, request.user_id, request.role)
        return workspace_pb2.UpdateMemberRoleResponse(member=member_message(row))

    async def RemoveMember(
        self, request: workspace_pb2.RemoveMemberRequest, context: ServicerContext
    ) -> workspace_pb2.RemoveMemberResponse:
        await self._members.remove(request.workspace_id, request.user_id)
        return workspace_pb2.RemoveMemberResponse()

    async def LeaveWorkspace(
        self, request: workspace_pb2.LeaveWorkspaceRequest, context: ServicerContext
    ) -> workspace_pb2.LeaveWorkspaceResponse:
        await self._members.leave(request.workspace_id)
        return workspace_pb2.LeaveWorkspaceResponse()

    # ---- invitations ----

    async def InviteMember(
        self, request: workspace_pb2.InviteMemberRequest, context: ServicerContext
    ) -> workspace_pb2.InviteMemberResponse:
        issued = await self._invitations.invite(
            request.workspace_id, email=request.email, role_name=request.role
        )
        return workspace_pb2.InviteMemberResponse(
            invitation=invitation_message(issued.row), link=issued.link, email_sent=issued.email_sent
        )

    async def ResolveInvitation(
        self, request: workspace_pb2.ResolveInvitationRequest, context: ServicerContext
    ) -> workspace_pb2.ResolveInvitationResponse:
        resolved = await self._invitations.resolve(request.token)
        return workspace_pb2.ResolveInvitationResponse(
            invitation=invitation_message(resolved.row),
            tenant_id=resolved.workspace.tenant_id,
            workspace_name=resolved.workspace.name,
        )

    async def AcceptInvitation(
        self, request: workspace_pb2.AcceptInvitationRequest, context: ServicerContext
    ) -> workspace_pb2.AcceptInvitationResponse:
        accepted = await self._invitations.accept(request.token)
        return workspace_pb2.AcceptInvitationResponse(
            workspace=workspace_message(accepted.workspace), member=member_message(accepted.member)
        )

    async def RevokeInvitation(
        self, request: workspace_pb2.RevokeInvitationRequest, context: ServicerContext
    ) -> workspace_pb2.RevokeInvitationResponse:
        row = await self._invitations.revoke(request.id)
        return workspace_pb2.RevokeInvitationResponse(invitation=invitation_message(row))

    async def ResendInvitation(
        self, request: workspace_pb2.ResendInvitationRequest, context: ServicerContext
    ) -> workspace_pb2.ResendInvitationResponse:
        issued = await self._invitations.resend(request.id)
        return workspace_pb2.ResendInvitationResponse(
            invitation=invitation_message(issued.row), link=issued.link, email_sent=issued.email_sent
        )

    async def ListInvitations(
        self, request: workspace_pb2.ListInvitationsRequest, context: ServicerContext
    ) -> workspace_pb2.ListInvitationsResponse:
        page = await self._invitations.list(
            request.workspace_id,
            states=_states(request.statuses),
            size=request.page.page_size,
            token=request.page.page_token,
        )
        return workspace_pb2.ListInvitationsResponse(
            invitations=[invitation_message(row) for row in page.items], page_info=page_info(page)
        )

    # ---- roles ----

    async def ListRoles(
        self, request: workspace_pb2.ListRolesRequest, context: ServicerContext
    ) -> workspace_pb2.ListRolesResponse:
        rows = await self._roles.list(request.workspace_id)
        return workspace_pb2.ListRolesResponse(roles=[role_message(row) for row in rows])

    async def CreateRole(
        self, request: workspace_pb2.CreateRoleRequest, context: ServicerContext
    ) -> workspace_pb2.CreateRoleResponse:
        row = await self._roles.create(
            request.workspace_id,
            name=request.name,
            description=request.description,
            permissions=list(request.permissions),
        )
        return workspace_pb2.CreateRoleResponse(role=role_message(row))

    async def UpdateRole(
        self, request: workspace_pb2.UpdateRoleRequest, context: ServicerContext
    ) -> workspace_pb2.UpdateRoleResponse:
        row = await self._roles.update(
            request.id,
            name=request.name if request.HasField("name") else None,
            description=request.description if request.HasField("description") else None,
            permissions=list(request.permissions.permissions) if request.HasField("permissions") else None,
        )
        return workspace_pb2.UpdateRoleResponse(role=role_message(row))

    async def DeleteRole(
        self, request: workspace_pb2.DeleteRoleRequest, context: ServicerContext
    ) -> workspace_pb2.DeleteRoleResponse:
        await self._roles.delete(request.id)
        return workspace_pb2.DeleteRoleResponse()

    # ---- permissions ----

    async def CheckPermission(
        self, request: workspace_pb2.CheckPermissionRequest, context: ServicerContext
    ) -> workspace_pb2.CheckPermissionResponse:
        permission = require_known_permission(request.permission)
        access = await self._access(request.workspace_id, request.user_id)
        return workspace_pb2.CheckPermissionResponse(
            allowed=permission in access.permissions, role=access.role
        )

    async def ListPermissions(
        self, request: workspace_pb2.ListPermissionsRequest, context: ServicerContext
    ) -> workspace_pb2.ListPermissionsResponse:
        access = await self._permissions.own_listing(
            require_principal(), request.workspace_id, request.user_id
        )
        return workspace_pb2.ListPermissionsResponse(permissions=sorted(access.permissions), role=access.role)

    async def ListAllPermissions(
        self, request: workspace_pb2.ListAllPermissionsRequest, context: ServicerContext
    ) -> workspace_pb2.ListAllPermissionsResponse:
        require_principal()
        return workspace_pb2.ListAllPermissionsResponse(
            permissions=[
                workspace_pb2.Permission(name=name, description=text) for name, text in PERMISSIONS.items()
            ]
        )

    async def _access(self, workspace_id: str, user_id: str) -> Access:
        return await self._permissions.of_user(require_principal(), workspace_id, user_id)


def create(deps: ServiceDeps) -> ServiceRegistration:
    permissions = Permissions(deps.database, deps.backends.cache)
    invitations = InvitationService(
        deps.database, permissions, Accounts(deps.channels), create_mailer(deps.settings), deps.settings
    )
    servicer = WorkspaceServicer(
        workspaces=WorkspaceService(deps.database, permissions),
        members=MemberService(deps.database, permissions),
        invitations=invitations,
        roles=RoleService(deps.database, permissions),
        permissions=permissions,
    )
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=servicer,
        add_to_server=workspace_pb2_grpc.add_WorkspaceServiceServicer_to_server,
    )
