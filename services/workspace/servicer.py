"""WorkspaceService over gRPC. Implemented so far: CreateWorkspace and ListWorkspaces; every other RPC is left
to the generated base class, which answers UNIMPLEMENTED (issue 3 fills them in)."""

from __future__ import annotations

from db.models.workspace import Workspace
from geko.common.v1 import common_pb2
from geko.workspace.v1 import workspace_pb2, workspace_pb2_grpc
from services.runtime.messages import timestamp
from services.runtime.server import ServiceDeps, ServiceRegistration
from services.runtime.types import ServicerContext
from services.workspace.service import WorkspaceService

SERVICE_NAME = workspace_pb2.DESCRIPTOR.services_by_name["WorkspaceService"].full_name


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


class WorkspaceServicer(workspace_pb2_grpc.WorkspaceServiceServicer):
    def __init__(self, workspaces: WorkspaceService) -> None:
        self._workspaces = workspaces

    async def CreateWorkspace(
        self, request: workspace_pb2.CreateWorkspaceRequest, context: ServicerContext
    ) -> workspace_pb2.CreateWorkspaceResponse:
        workspace = await self._workspaces.create(name=request.name, icon=request.icon)
        return workspace_pb2.CreateWorkspaceResponse(workspace=workspace_message(workspace))

    async def ListWorkspaces(
        self, request: workspace_pb2.ListWorkspacesRequest, context: ServicerContext
    ) -> workspace_pb2.ListWorkspacesResponse:
        page = await self._workspaces.list_mine(size=request.page.page_size, token=request.page.page_token)
        return workspace_pb2.ListWorkspacesResponse(
            workspaces=[workspace_message(workspace) for workspace in page.workspaces],
            page_info=common_pb2.PageInfo(next_page_token=page.next_page_token, total_size=page.total_size),
        )


def create(deps: ServiceDeps) -> ServiceRegistration:
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=WorkspaceServicer(WorkspaceService(deps.database)),
        add_to_server=workspace_pb2_grpc.add_WorkspaceServiceServicer_to_server,
    )
