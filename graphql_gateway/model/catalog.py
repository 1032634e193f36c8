"""Whole lists the model service answers in pages: the catalog the caller's tenant sees, the tenant's
provider connections and a workspace's model settings with their models. Catalogs are short (tens of
models), so they are fetched whole, a page of MAX_PAGE_SIZE at a time, instead of as Relay connections."""

from __future__ import annotations

from geko.common.v1 import common_pb2
from geko.model.v1 import model_pb2
from graphql_gateway.context import GatewayContext
from graphql_gateway.model.types import Model, ProviderConnection, WorkspaceModel
from services.runtime.paging import MAX_PAGE_SIZE


def _page(token: str) -> common_pb2.PageRequest:
    return common_pb2.PageRequest(page_size=MAX_PAGE_SIZE, page_token=token)


async def all_models(ctx: GatewayContext, model_filter: model_pb2.ModelFilter | None = None) -> list[Model]:
    """Every model the caller's tenant sees (platform and its own) that passes `model_filter`."""
    models: list[Model] = []
    token = ""
    while True:
        request = model_pb2.ListModelsRequest(filter=model_filter, page=_page(token))
        response = await ctx.model.ListModels(request, metadata=ctx.metadata())
        models.extend(Model.from_proto(model) for model in response.models)
        token = response.page_info.next_page_token
        if not token:
            return models


async def all_connections(ctx: GatewayContext) -> list[ProviderConnection]:
    connections: list[ProviderConnection] = []
    token = ""
    while True:
        request = model_pb2.ListProviderConnectionsRequest(page=_page(token))
        response = await ctx.model.ListProviderConnections(request, metadata=ctx.metadata())
        connections.extend(ProviderConnection.from_proto(connection) for connection in response.connections)
        token = response.page_info.next_page_token
        if not token:
            return connections


async def with_models(ctx: GatewayContext, settings: list[model_pb2.WorkspaceModel]) -> list[WorkspaceModel]:
    """Workspace settings joined with their models: one ListModels for all of them, whatever their number.
    A setting whose model the catalog no longer lists is left out."""
    by_id = {str(model.id): model for model in await all_models(ctx)}
    return [
        WorkspaceModel.from_proto(setting, by_id[setting.model_id])
        for setting in settings
        if setting.model_id in by_id
    ]


async def workspace_models(ctx: GatewayContext, workspace_id: str) -> list[WorkspaceModel]:
    """A workspace's settings for every model its tenant sees. Asked first, so the model service's
    membership check answers before the catalog is fetched."""
    request = model_pb2.GetWorkspaceModelsRequest(workspace_id=workspace_id)
    response = await ctx.model.GetWorkspaceModels(request, metadata=ctx.metadata())
    return await with_models(ctx, list(response.models))
