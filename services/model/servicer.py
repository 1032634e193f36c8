"""ModelService over gRPC: proto in, domain call, proto out. The rules live in catalog.py, prices.py,
connections.py, eligibility.py, workspace_models.py and installs.py; RPCs not built yet
answer UNIMPLEMENTED."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from db.models.model import ModelPrice, ProviderConnection
from geko.common.v1 import common_pb2
from geko.model.v1 import model_pb2, model_pb2_grpc
from services.model.catalog import CatalogService, ModelChanges, ModelView, NewModel
from services.model.catalog_cache import CatalogCache
from services.model.connections import ConnectionChanges, ConnectionService
from services.model.eligibility import Eligibility, EligibilityService, Reason
from services.model.installs import InstallService, job_message, progress_message
from services.model.prices import NewPrice, PriceService
from services.model.repository import CatalogQuery
from services.model.workspace_models import Setting, WorkspaceModelService
from services.runtime.access import WorkspaceAccess, canonical_workspace_id
from services.runtime.context import require_principal
from services.runtime.errors import BadInput
from services.runtime.messages import timestamp
from services.runtime.paging import page_size
from services.runtime.plans import PLAN_NAMES, PLAN_OF_NAME
from services.runtime.server import ServiceDeps, ServiceRegistration
from services.runtime.types import ServicerContext

SERVICE_NAME = model_pb2.DESCRIPTOR.services_by_name["ModelService"].full_name

_TYPE = {
    "chat": model_pb2.MODEL_TYPE_CHAT,
    "embedding": model_pb2.MODEL_TYPE_EMBEDDING,
    "image": model_pb2.MODEL_TYPE_IMAGE,
}
_TYPE_NAME = {value: name for name, value in _TYPE.items()}
_KIND = {
    "openai": model_pb2.PROVIDER_KIND_OPENAI,
    "anthropic": model_pb2.PROVIDER_KIND_ANTHROPIC,
    "ollama": model_pb2.PROVIDER_KIND_OLLAMA,
}
_KIND_NAME = {value: name for name, value in _KIND.items()}
_REASON = {
    None: model_pb2.ELIGIBILITY_REASON_UNSPECIFIED,
    Reason.PLAN_REQUIRED: model_pb2.ELIGIBILITY_REASON_PLAN_REQUIRED,
    Reason.DISABLED_BY_ADMIN: model_pb2.ELIGIBILITY_REASON_DISABLED_BY_ADMIN,
    Reason.NOT_INSTALLED: model_pb2.ELIGIBILITY_REASON_NOT_INSTALLED,
    Reason.PERMISSION_REQUIRED: model_pb2.ELIGIBILITY_REASON_PERMISSION_REQUIRED,
    Reason.PROVIDER_UNAVAILABLE: model_pb2.ELIGIBILITY_REASON_PROVIDER_UNAVAILABLE,
}


def model_message(view: ModelView) -> model_pb2.Model:
    row, price = view.row, view.price
    return model_pb2.Model(
        id=row.id,
        provider=row.provider,
        name=row.name,
        display_name=row.display_name,
        type=_TYPE.get(row.type, model_pb2.MODEL_TYPE_UNSPECIFIED),
        is_local=row.is_local,
        is_free=row.is_free,
        min_plan=PLAN_OF_NAME.get(row.min_plan, common_pb2.PLAN_UNSPECIFIED),
        max_free_tokens_per_month=row.max_free_tokens_per_month or 0,
        context_window=row.context_window,
        max_output_tokens=row.max_output_tokens,
        input_price_per_1k_tokens_micros=price.input_micros_per_1k if price else 0,
        output_price_per_1k_tokens_micros=price.output_micros_per_1k if price else 0,
        currency=price.currency if price else "",
        tenant_id=row.tenant_id or "",
        connection_id=row.connection_id or "",
        installed=view.installed,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def price_message(price: ModelPrice) -> model_pb2.ModelPrice:
    return model_pb2.ModelPrice(
        model_id=price.model_id,
        input_price_per_1k_tokens_micros=price.input_micros_per_1k,
        output_price_per_1k_tokens_micros=price.output_micros_per_1k,
        currency=price.currency,
        effective_time=timestamp(price.effective_from),
        create_time=timestamp(price.created_at),
    )


def eligible_message(eligibility: Eligibility) -> model_pb2.EligibleModel:
    return model_pb2.EligibleModel(
        model=model_message(eligibility.view),
        usable=eligibility.usable,
        reason=_REASON[eligibility.reason],
        required_plan=PLAN_OF_NAME[eligibility.view.row.min_plan]
        if eligibility.reason is Reason.PLAN_REQUIRED
        else common_pb2.PLAN_UNSPECIFIED,
    )


def workspace_model_message(workspace_id: str, setting: Setting) -> model_pb2.WorkspaceModel:
    return model_pb2.WorkspaceModel(
        workspace_id=workspace_id,
        model_id=setting.model_id,
        enabled=setting.enabled,
        cost_override_micros=setting.cost_override_micros,
        max_tokens_override=setting.max_tokens_override,
    )


def connection_message(row: ProviderConnection) -> model_pb2.ProviderConnection:
    """The connection without its key: only whether one is set."""
    return model_pb2.ProviderConnection(
        id=row.id,
        tenant_id=row.tenant_id,
        kind=_KIND.get(row.kind, model_pb2.PROVIDER_KIND_UNSPECIFIED),
        name=row.name,
        base_url=row.base_url,
        has_api_key=row.api_key_encrypted is not None,
        create_time=timestamp(row.created_at),
        update_time=timestamp(row.updated_at),
    )


def _encode_key(value: str) -> str:
    """A page token for lists ordered by a string key (catalog ids are readable strings, not UUIDs)."""
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _decode_key(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode() if token else ""
    except (ValueError, binascii.Error):
        raise BadInput(
            "page_token is not valid; pass the next_page_token of a previous page", field="page.page_token"
        ) from None


def _offset(token: str) -> int:
    decoded = _decode_key(token)
    if decoded and not decoded.isdigit():
        raise BadInput("page_token is not valid", field="page.page_token")
    return int(decoded or 0)


def _time(stamp: Timestamp, present: bool) -> datetime | None:
    """A request's optional time; None when unset."""
    return stamp.ToDatetime(tzinfo=UTC) if present else None


class ModelServicer(model_pb2_grpc.ModelServiceServicer):
    def __init__(self, deps: ServiceDeps) -> None:
        self._deps = deps
        self._access = WorkspaceAccess(deps.channels, deps.backends.cache)
        cached_catalog = CatalogCache(deps.database, deps.backends.cache)
        self._catalog = CatalogService(deps.database, cached_catalog)
        self._prices = PriceService(deps.database, cached_catalog)
        self._connections = ConnectionService(deps.database, deps.secret_box, deps.settings, cached_catalog)
        self._workspace_models = WorkspaceModelService(deps.database, deps.backends.cache, self._access)
        self._eligibility = EligibilityService(
            deps.database, self._access, self._workspace_models, self._connections, cached_catalog
        )
        self.installs = InstallService.create(deps, self._access)

    # ---- catalog ----

    async def ListModels(
        self, request: model_pb2.ListModelsRequest, context: ServicerContext
    ) -> model_pb2.ListModelsResponse:
        f = request.filter
        query = CatalogQuery(
            provider=f.provider.strip(),
            type=_TYPE_NAME.get(f.type, ""),
            is_local=f.is_local if f.HasField("is_local") else None,
            is_free=f.is_free if f.HasField("is_free") else None,
            query=f.query.strip(),
        )
        size = page_size(request.page.page_size)
        views = await self._catalog.list(query, after_id=_decode_key(request.page.page_token), limit=size + 1)
        more = len(views) > size
        views = views[:size]
        return model_pb2.ListModelsResponse(
            models=[model_message(view) for view in views],
            page_info=common_pb2.PageInfo(next_page_token=_encode_key(views[-1].row.id) if more else ""),
        )

    async def GetModel(
        self, request: model_pb2.GetModelRequest, context: ServicerContext
    ) -> model_pb2.GetModelResponse:
        return model_pb2.GetModelResponse(model=model_message(await self._catalog.get(request.id)))

    async def CreateModel(
        self, request: model_pb2.CreateModelRequest, context: ServicerContext
    ) -> model_pb2.CreateModelResponse:
        view = await self._catalog.create(
            NewModel(
                connection_id=request.connection_id,
                name=request.name,
                display_name=request.display_name,
                type=_TYPE_NAME.get(request.type, "chat"),
                context_window=request.context_window,
                max_output_tokens=request.max_output_tokens,
                min_plan=PLAN_NAMES.get(request.min_plan, "free"),
                is_free=request.is_free,
                max_free_tokens_per_month=request.max_free_tokens_per_month,
                input_micros_per_1k=request.input_price_per_1k_tokens_micros,
                output_micros_per_1k=request.output_price_per_1k_tokens_micros,
                currency=request.currency,
            )
        )
        return model_pb2.CreateModelResponse(model=model_message(view))

    async def UpdateModel(
        self, request: model_pb2.UpdateModelRequest, context: ServicerContext
    ) -> model_pb2.UpdateModelResponse:
        if request.HasField("min_plan") and request.min_plan not in PLAN_NAMES:
            raise BadInput("min_plan must be free, pro or paygo", field="min_plan")
        changes = ModelChanges(
            display_name=request.display_name if request.HasField("display_name") else None,
            context_window=request.context_window if request.HasField("context_window") else None,
            max_output_tokens=request.max_output_tokens if request.HasField("max_output_tokens") else None,
            min_plan=PLAN_NAMES[request.min_plan] if request.HasField("min_plan") else None,
            is_free=request.is_free if request.HasField("is_free") else None,
            max_free_tokens_per_month=request.max_free_tokens_per_month
            if request.HasField("max_free_tokens_per_month")
            else None,
        )
        return model_pb2.UpdateModelResponse(
            model=model_message(await self._catalog.update(request.id, changes))
        )

    # ---- prices ----

    async def SetModelPrice(
        self, request: model_pb2.SetModelPriceRequest, context: ServicerContext
    ) -> model_pb2.SetModelPriceResponse:
        price = await self._prices.set(
            NewPrice(
                model_id=request.model_id,
                input_micros_per_1k=request.input_price_per_1k_tokens_micros,
                output_micros_per_1k=request.output_price_per_1k_tokens_micros,
                currency=request.currency,
                effective_from=_time(request.effective_time, request.HasField("effective_time")),
                force=request.force,
            )
        )
        return model_pb2.SetModelPriceResponse(price=price_message(price))

    async def ListModelPrices(
        self, request: model_pb2.ListModelPricesRequest, context: ServicerContext
    ) -> model_pb2.ListModelPricesResponse:
        size = page_size(request.page.page_size)
        offset = _offset(request.page.page_token)
        prices, total = await self._prices.history(request.model_id, offset=offset, limit=size)
        more = offset + len(prices) < total
        return model_pb2.ListModelPricesResponse(
            prices=[price_message(price) for price in prices],
            page_info=common_pb2.PageInfo(
                next_page_token=_encode_key(str(offset + len(prices))) if more else "", total_size=total
            ),
        )

    async def GetEffectivePrice(
        self, request: model_pb2.GetEffectivePriceRequest, context: ServicerContext
    ) -> model_pb2.GetEffectivePriceResponse:
        override = None
        if request.workspace_id:
            workspace_id = canonical_workspace_id(request.workspace_id)
            if not require_principal().is_service:
                await self._access.member(workspace_id, "")
            settings = await self._workspace_models.settings(workspace_id)
            override = settings.of(request.model_id.strip()).cost_override_micros
        price = await self._prices.effective(
            request.model_id, _time(request.time, request.HasField("time")), override
        )
        return model_pb2.GetEffectivePriceResponse(
            input_price_per_1k_tokens_micros=price.input_micros_per_1k,
            output_price_per_1k_tokens_micros=price.output_micros_per_1k,
            currency=price.currency,
            overridden=price.overridden,
        )

    # ---- eligibility ----

    async def ListEligibleModels(
        self, request: model_pb2.ListEligibleModelsRequest, context: ServicerContext
    ) -> model_pb2.ListEligibleModelsResponse:
        found = await self._eligibility.list(request.workspace_id, request.user_id)
        return model_pb2.ListEligibleModelsResponse(models=[eligible_message(e) for e in found])

    async def ResolveModel(
        self, request: model_pb2.ResolveModelRequest, context: ServicerContext
    ) -> model_pb2.ResolveModelResponse:
        resolved = await self._eligibility.resolve(request.workspace_id, request.user_id, request.model_id)
        route = resolved.route
        return model_pb2.ResolveModelResponse(
            eligibility=eligible_message(resolved.eligibility),
            route=model_pb2.ProviderRoute(
                kind=_KIND[route.kind], base_url=route.base_url, sealed_api_key=route.sealed_api_key
            )
            if route is not None
            else None,
            max_output_tokens=resolved.max_output_tokens,
        )

    # ---- workspace settings ----

    async def GetWorkspaceModels(
        self, request: model_pb2.GetWorkspaceModelsRequest, context: ServicerContext
    ) -> model_pb2.GetWorkspaceModelsResponse:
        settings = await self._workspace_models.get(request.workspace_id)
        workspace_id = canonical_workspace_id(request.workspace_id)
        return model_pb2.GetWorkspaceModelsResponse(
            models=[workspace_model_message(workspace_id, setting) for setting in settings]
        )

    async def SetWorkspaceModels(
        self, request: model_pb2.SetWorkspaceModelsRequest, context: ServicerContext
    ) -> model_pb2.SetWorkspaceModelsResponse:
        settings = await self._workspace_models.set_enabled(
            request.workspace_id, list(request.enabled_model_ids)
        )
        workspace_id = canonical_workspace_id(request.workspace_id)
        return model_pb2.SetWorkspaceModelsResponse(
            models=[workspace_model_message(workspace_id, setting) for setting in settings]
        )

    async def UpdateWorkspaceModel(
        self, request: model_pb2.UpdateWorkspaceModelRequest, context: ServicerContext
    ) -> model_pb2.UpdateWorkspaceModelResponse:
        setting = await self._workspace_models.update(
            request.workspace_id,
            request.model_id,
            cost_override_micros=request.cost_override_micros
            if request.HasField("cost_override_micros")
            else None,
            max_tokens_override=request.max_tokens_override
            if request.HasField("max_tokens_override")
            else None,
        )
        workspace_id = canonical_workspace_id(request.workspace_id)
        return model_pb2.UpdateWorkspaceModelResponse(model=workspace_model_message(workspace_id, setting))

    # ---- provider connections ----

    async def CreateProviderConnection(
        self, request: model_pb2.CreateProviderConnectionRequest, context: ServicerContext
    ) -> model_pb2.CreateProviderConnectionResponse:
        row = await self._connections.create(
            kind=_KIND_NAME.get(request.kind, ""),
            name=request.name,
            base_url=request.base_url,
            api_key=request.api_key,
        )
        return model_pb2.CreateProviderConnectionResponse(connection=connection_message(row))

    async def ListProviderConnections(
        self, request: model_pb2.ListProviderConnectionsRequest, context: ServicerContext
    ) -> model_pb2.ListProviderConnectionsResponse:
        page = await self._connections.list(size=request.page.page_size, token=request.page.page_token)
        return model_pb2.ListProviderConnectionsResponse(
            connections=[connection_message(row) for row in page.items],
            page_info=common_pb2.PageInfo(next_page_token=page.next_page_token, total_size=page.total_size),
        )

    async def UpdateProviderConnection(
        self, request: model_pb2.UpdateProviderConnectionRequest, context: ServicerContext
    ) -> model_pb2.UpdateProviderConnectionResponse:
        row = await self._connections.update(
            request.id,
            ConnectionChanges(
                name=request.name if request.HasField("name") else None,
                base_url=request.base_url if request.HasField("base_url") else None,
                api_key=request.api_key if request.HasField("api_key") else None,
            ),
        )
        return model_pb2.UpdateProviderConnectionResponse(connection=connection_message(row))

    async def DeleteProviderConnection(
        self, request: model_pb2.DeleteProviderConnectionRequest, context: ServicerContext
    ) -> model_pb2.DeleteProviderConnectionResponse:
        await self._connections.delete(request.id)
        return model_pb2.DeleteProviderConnectionResponse()

    # ---- local installs (installs.py) ----

    async def InstallModel(
        self, request: model_pb2.InstallModelRequest, context: ServicerContext
    ) -> AsyncIterator[model_pb2.InstallModelResponse]:
        job_id = await self.installs.install(request.model_id, request.workspace_id)
        async for progress in self.installs.watch(job_id):
            yield model_pb2.InstallModelResponse(progress=progress_message(progress))

    async def GetInstallJob(
        self, request: model_pb2.GetInstallJobRequest, context: ServicerContext
    ) -> model_pb2.GetInstallJobResponse:
        return model_pb2.GetInstallJobResponse(job=job_message(await self.installs.get(request.job_id)))

    async def WatchInstallJob(
        self, request: model_pb2.WatchInstallJobRequest, context: ServicerContext
    ) -> AsyncIterator[model_pb2.WatchInstallJobResponse]:
        async for progress in self.installs.watch(request.job_id):
            yield model_pb2.WatchInstallJobResponse(progress=progress_message(progress))

    async def RemoveModel(
        self, request: model_pb2.RemoveModelRequest, context: ServicerContext
    ) -> model_pb2.RemoveModelResponse:
        removed = await self.installs.remove(request.model_id, request.workspace_id)
        return model_pb2.RemoveModelResponse(model=model_message(await self._catalog.get(removed.id)))


def create(deps: ServiceDeps) -> ServiceRegistration:
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=ModelServicer(deps),
        add_to_server=model_pb2_grpc.add_ModelServiceServicer_to_server,
    )
