"""The catalog through real gRPC: filters, paging, and tenant models that only their tenant sees."""

from __future__ import annotations

import grpc

from geko.common.v1 import common_pb2
from geko.model.v1 import model_pb2
from tests.integration.auth.harness import Platform, audit_events, rpc_error
from tests.integration.model.harness import model_team


async def test_filters_and_current_prices(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    md = team.md(team.owner)

    local = await team.models.ListModels(
        model_pb2.ListModelsRequest(filter=model_pb2.ModelFilter(is_local=True)), metadata=md
    )
    paid = await team.models.ListModels(
        model_pb2.ListModelsRequest(filter=model_pb2.ModelFilter(is_free=False, provider="anthropic")),
        metadata=md,
    )
    searched = await team.models.ListModels(
        model_pb2.ListModelsRequest(filter=model_pb2.ModelFilter(query="MINI")), metadata=md
    )

    assert {m.id for m in local.models} == {"llama2", "mistral"}
    assert [m.id for m in paid.models] == ["claude-3-5-sonnet"]
    assert paid.models[0].input_price_per_1k_tokens_micros == 15_000
    assert paid.models[0].min_plan == common_pb2.PLAN_PRO
    assert [m.id for m in searched.models] == ["gpt-4o-mini"]


async def test_pages_walk_the_whole_catalog_once(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    seen: list[str] = []
    token = ""
    while True:
        page = await team.models.ListModels(
            model_pb2.ListModelsRequest(page=common_pb2.PageRequest(page_size=3, page_token=token)),
            metadata=team.md(team.owner),
        )
        seen += [m.id for m in page.models]
        token = page.page_info.next_page_token
        if not token:
            break

    assert len(seen) == 7
    assert seen == sorted(set(seen))


async def test_tenant_admins_update_their_models_but_not_platform_ones(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    md = team.md(team.owner)
    connection = await team.models.CreateProviderConnection(
        model_pb2.CreateProviderConnectionRequest(
            kind=model_pb2.PROVIDER_KIND_OLLAMA, name="gpu", base_url="http://gpu:11434"
        ),
        metadata=md,
    )
    created = await team.models.CreateModel(
        model_pb2.CreateModelRequest(
            connection_id=connection.connection.id, name="qwen", context_window=8192, max_output_tokens=1024
        ),
        metadata=md,
    )

    updated = await team.models.UpdateModel(
        model_pb2.UpdateModelRequest(id=created.model.id, display_name="Qwen", min_plan=common_pb2.PLAN_PRO),
        metadata=md,
    )
    status, _ = await rpc_error(
        team.models.UpdateModel(model_pb2.UpdateModelRequest(id="gpt-4", display_name="Mine"), metadata=md)
    )
    _, bad = await rpc_error(
        team.models.UpdateModel(
            model_pb2.UpdateModelRequest(id=created.model.id, max_output_tokens=0), metadata=md
        )
    )

    assert created.model.provider == "gpu"
    assert created.model.tenant_id == team.owner.tenant_id
    assert updated.model.display_name == "Qwen"
    assert updated.model.min_plan == common_pb2.PLAN_PRO
    assert status == grpc.StatusCode.PERMISSION_DENIED
    assert bad.field == "max_output_tokens"
    actions = [
        e["action"]
        for e in await audit_events(model_platform, tenant_id=team.owner.tenant_id, service="model")
    ]
    assert actions == ["PROVIDER_CONNECTION_CREATED", "MODEL_CREATED", "MODEL_UPDATED"]
