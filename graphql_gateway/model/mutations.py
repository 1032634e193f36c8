"""Model mutations: a workspace's model settings, local installs and removals, the tenant's provider
connections. Every rule (permissions, plans, key handling) is the model service's; these resolvers
translate and shape."""

from __future__ import annotations

import strawberry
from strawberry.types import Info
from strawberry.types.unset import UNSET

from geko.model.v1 import model_pb2
from graphql_gateway.connections import paging_arguments
from graphql_gateway.context import IsAuthenticated, context_of
from graphql_gateway.model.catalog import with_models
from graphql_gateway.model.types import (
    CreateModelInput,
    CreateProviderConnectionInput,
    InstallJob,
    Model,
    ModelPrice,
    ProviderConnection,
    SetModelPriceInput,
    SetWorkspaceModelsInput,
    UpdateProviderConnectionInput,
    UpdateWorkspaceModelInput,
    WorkspaceModel,
    kind_to_proto,
)
from services.runtime.errors import InternalError

# The model service's names of request fields, as the GraphQL inputs call them.
INPUT_FIELDS = {
    "workspace_id": "input.workspaceId",
    "enabled_model_ids": "input.enabledModels",
    "model_id": "input.modelId",
    "cost_override_micros": "input.costOverrideMicros",
    "max_tokens_override": "input.maxTokensOverride",
    "id": "input.id",
    "kind": "input.kind",
    "name": "input.name",
    "base_url": "input.baseUrl",
    "api_key": "input.apiKey",
    "connection_id": "input.connectionId",
    "display_name": "input.displayName",
    "type": "input.type",
    "context_window": "input.contextWindow",
    "max_output_tokens": "input.maxOutputTokens",
    "min_plan": "input.minPlan",
    "max_free_tokens_per_month": "input.maxFreeTokensPerMonth",
    "input_price_per_1k_tokens_micros": "input.inputPricePer1kMicros",
    "output_price_per_1k_tokens_micros": "input.outputPricePer1kMicros",
    "currency": "input.currency",
    "effective_time": "input.effectiveAt",
}

# Names of install and remove request fields, as their GraphQL arguments call them.
ARGUMENTS = {"model_id": "modelId", "workspace_id": "workspaceId"}


@strawberry.type
class ModelMutations:
    @strawberry.mutation(
        description="Enables exactly the given models in a workspace and disables the rest (needs "
        "model:configure); members lose a disabled model at once. Answers every model's settings.",
        permission_classes=[IsAuthenticated],
    )
    async def set_workspace_models(self, info: Info, input: SetWorkspaceModelsInput) -> list[WorkspaceModel]:
        ctx = context_of(info)
        request = model_pb2.SetWorkspaceModelsRequest(
            workspace_id=str(input.workspace_id), enabled_model_ids=[str(i) for i in input.enabled_models]
        )
        with paging_arguments(INPUT_FIELDS):
            response = await ctx.model.SetWorkspaceModels(request, metadata=ctx.metadata())
        return await with_models(ctx, list(response.models))

    @strawberry.mutation(
        description="Sets a workspace's cost and max-tokens overrides of one model (needs model:configure).",
        permission_classes=[IsAuthenticated],
    )
    async def update_workspace_model(self, info: Info, input: UpdateWorkspaceModelInput) -> WorkspaceModel:
        ctx = context_of(info)
        request = model_pb2.UpdateWorkspaceModelRequest(
            workspace_id=str(input.workspace_id), model_id=str(input.model_id)
        )
        if input.cost_override_micros is not None:
            request.cost_override_micros = input.cost_override_micros
        if input.max_tokens_override is not None:
            request.max_tokens_override = input.max_tokens_override
        with paging_arguments(INPUT_FIELDS):
            response = await ctx.model.UpdateWorkspaceModel(request, metadata=ctx.metadata())
        model = await ctx.model.GetModel(
            model_pb2.GetModelRequest(id=response.model.model_id), metadata=ctx.metadata()
        )
        return WorkspaceModel.from_proto(response.model, Model.from_proto(model.model))

    @strawberry.mutation(
        description="Adds a model the tenant serves through one of its provider connections (tenant admins).",
        permission_classes=[IsAuthenticated],
    )
    async def create_model(self, info: Info, input: CreateModelInput) -> Model:
        ctx = context_of(info)
        with paging_arguments(INPUT_FIELDS):
            response = await ctx.model.CreateModel(input.to_proto(), metadata=ctx.metadata())
        return Model.from_proto(response.model)

    @strawberry.mutation(
        description="Adds a price version of a model from its effective time on; recorded costs stay.",
        permission_classes=[IsAuthenticated],
    )
    async def set_model_price(self, info: Info, input: SetModelPriceInput) -> ModelPrice:
        ctx = context_of(info)
        with paging_arguments(INPUT_FIELDS):
            response = await ctx.model.SetModelPrice(input.to_proto(), metadata=ctx.metadata())
        return ModelPrice.from_proto(response.price)

    @strawberry.mutation(
        description=(
            "Starts pulling a local model into Ollama for the whole tenant (needs model:install in "
            "`workspaceId`) and answers at once with the job; the pull goes on server-side. Follow it "
            "with `modelInstallProgress(jobId)`. Installing a model being pulled joins that job."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def install_model(
        self, info: Info, model_id: strawberry.ID, workspace_id: strawberry.ID
    ) -> InstallJob:
        ctx = context_of(info)
        request = model_pb2.InstallModelRequest(model_id=str(model_id), workspace_id=str(workspace_id))
        call = ctx.model.InstallModel(request, metadata=ctx.metadata())
        try:
            with paging_arguments(ARGUMENTS):
                first = await anext(aiter(call), None)
        finally:
            # Only this answer waits for the stream; the job does not depend on it.
            call.cancel()
        if first is None:
            raise InternalError("the model service ended the install without a job")
        return InstallJob.from_progress(first.progress, str(model_id))

    @strawberry.mutation(
        description="Deletes a local model from Ollama for the whole tenant (needs model:remove in "
        "`workspaceId`); answers the model, no longer installed.",
        permission_classes=[IsAuthenticated],
    )
    async def remove_model(self, info: Info, model_id: strawberry.ID, workspace_id: strawberry.ID) -> Model:
        ctx = context_of(info)
        request = model_pb2.RemoveModelRequest(model_id=str(model_id), workspace_id=str(workspace_id))
        with paging_arguments(ARGUMENTS):
            response = await ctx.model.RemoveModel(request, metadata=ctx.metadata())
        return Model.from_proto(response.model)

    @strawberry.mutation(
        description="Adds a provider connection for the tenant (tenant admins); the key is stored encrypted.",
        permission_classes=[IsAuthenticated],
    )
    async def create_provider_connection(
        self, info: Info, input: CreateProviderConnectionInput
    ) -> ProviderConnection:
        ctx = context_of(info)
        request = model_pb2.CreateProviderConnectionRequest(
            kind=kind_to_proto(input.kind),  # type: ignore[arg-type]
            name=input.name,
            base_url=input.base_url,
            api_key=input.api_key or "",
        )
        with paging_arguments(INPUT_FIELDS):
            response = await ctx.model.CreateProviderConnection(request, metadata=ctx.metadata())
        return ProviderConnection.from_proto(response.connection)

    @strawberry.mutation(
        description="Renames a connection, moves its base URL, or replaces or removes its key "
        "(tenant admins).",
        permission_classes=[IsAuthenticated],
    )
    async def update_provider_connection(
        self, info: Info, input: UpdateProviderConnectionInput
    ) -> ProviderConnection:
        ctx = context_of(info)
        request = model_pb2.UpdateProviderConnectionRequest(id=str(input.id))
        if input.name is not UNSET and input.name is not None:
            request.name = input.name
        if input.base_url is not UNSET and input.base_url is not None:
            request.base_url = input.base_url
        if input.api_key is not UNSET:
            request.api_key = input.api_key or ""
        with paging_arguments(INPUT_FIELDS):
            response = await ctx.model.UpdateProviderConnection(request, metadata=ctx.metadata())
        return ProviderConnection.from_proto(response.connection)

    @strawberry.mutation(
        description="Deletes a connection (tenant admins); refused while custom models still use it.",
        permission_classes=[IsAuthenticated],
    )
    async def delete_provider_connection(self, info: Info, id: strawberry.ID) -> bool:
        ctx = context_of(info)
        request = model_pb2.DeleteProviderConnectionRequest(id=str(id))
        await ctx.model.DeleteProviderConnection(request, metadata=ctx.metadata())
        return True
