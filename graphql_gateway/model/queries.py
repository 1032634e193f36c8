"""Model queries: the catalog, one model, what a workspace's members may use, install jobs and the tenant's
provider connections. The model service decides who sees what; another tenant's ids are NOT_FOUND there."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from geko.model.v1 import model_pb2
from graphql_gateway.connections import paging_arguments
from graphql_gateway.context import IsAuthenticated, context_of
from graphql_gateway.model.catalog import all_connections, all_models
from graphql_gateway.model.types import EligibleModel, InstallJob, Model, ModelFilter, ProviderConnection

# The model service's names of request fields, as the GraphQL arguments call them.
ARGUMENTS = {"workspace_id": "workspaceId"}


@strawberry.type
class ModelQueries:
    @strawberry.field(
        description="The platform's models and the tenant's own, in the catalog's order.",
        permission_classes=[IsAuthenticated],
    )
    async def models(self, info: Info, filter: ModelFilter | None = None) -> list[Model]:
        return await all_models(context_of(info), filter.to_proto() if filter else None)

    @strawberry.field(description="One model the caller's tenant sees.", permission_classes=[IsAuthenticated])
    async def model(self, info: Info, id: strawberry.ID) -> Model:
        ctx = context_of(info)
        response = await ctx.model.GetModel(model_pb2.GetModelRequest(id=str(id)), metadata=ctx.metadata())
        return Model.from_proto(response.model)

    @strawberry.field(
        description=(
            "Every model the workspace could see, each saying whether the caller can use it there and, if "
            "not, why: the plan, the workspace's settings, the caller's model permissions and, for local "
            "models, whether they are installed."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def eligible_models(self, info: Info, workspace_id: strawberry.ID) -> list[EligibleModel]:
        ctx = context_of(info)
        request = model_pb2.ListEligibleModelsRequest(workspace_id=str(workspace_id))
        with paging_arguments(ARGUMENTS):
            response = await ctx.model.ListEligibleModels(request, metadata=ctx.metadata())
        return [EligibleModel.from_proto(eligible) for eligible in response.models]

    @strawberry.field(
        description="An install job's persisted state (true after a restart).",
        permission_classes=[IsAuthenticated],
    )
    async def install_job(self, info: Info, id: strawberry.ID) -> InstallJob:
        ctx = context_of(info)
        request = model_pb2.GetInstallJobRequest(job_id=str(id))
        with paging_arguments({"job_id": "id"}):
            response = await ctx.model.GetInstallJob(request, metadata=ctx.metadata())
        job = response.job
        return InstallJob.from_progress(job.progress, job.model_id, job.id)

    @strawberry.field(
        description="The tenant's provider connections (bring your own key); keys are never shown.",
        permission_classes=[IsAuthenticated],
    )
    async def provider_connections(self, info: Info) -> list[ProviderConnection]:
        return await all_connections(context_of(info))
