"""ResolveModel and GetEffectivePrice answer from the cached catalog (services/model/catalog_cache.py),
through real gRPC: every change this service commits — a price, a workspace override, a model, a connection's
route or key — is in the very next answer, on this replica and on another sharing the cache; a cached model
stays with its tenant; a write behind the service's back (`geko migrate` seeding) shows after the TTL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import update

from db.models.model import ModelCatalog
from geko.common.v1 import common_pb2
from geko.model.v1 import model_pb2
from services.model.catalog_cache import CatalogCache, CatalogEntry
from services.model.process_memo import TTL_SECONDS
from services.runtime.service_identity import service_metadata
from tests.integration.auth.harness import Platform, rpc_error
from tests.integration.model.harness import ModelTeam, model_team

KEY = "sk-tenant-first-0a1b2c"
ROTATED_KEY = "sk-tenant-second-3d4e5f"


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


async def tenant_model(team: ModelTeam) -> tuple[str, str]:
    """A connection with a key and a model on it: (connection id, model id)."""
    md = team.md(team.owner)
    connection = await team.models.CreateProviderConnection(
        model_pb2.CreateProviderConnectionRequest(
            kind=model_pb2.PROVIDER_KIND_OPENAI, name="vllm", base_url="http://vllm-a:8000/v1", api_key=KEY
        ),
        metadata=md,
    )
    model = await team.models.CreateModel(
        model_pb2.CreateModelRequest(
            connection_id=connection.connection.id,
            name="qwen",
            context_window=8192,
            max_output_tokens=1024,
            input_price_per_1k_tokens_micros=100,
            output_price_per_1k_tokens_micros=200,
        ),
        metadata=md,
    )
    return connection.connection.id, model.model.id


async def resolve(team: ModelTeam, model_id: str) -> model_pb2.ResolveModelResponse:
    answer: model_pb2.ResolveModelResponse = await team.models.ResolveModel(
        model_pb2.ResolveModelRequest(workspace_id=team.workspace_id, model_id=model_id),
        metadata=team.md(team.owner),
    )
    return answer


async def billed_price(team: ModelTeam, model_id: str, at: datetime) -> model_pb2.GetEffectivePriceResponse:
    """The price as billing asks for it at commit: as the platform, for the turn's workspace and time."""
    answer: model_pb2.GetEffectivePriceResponse = await team.models.GetEffectivePrice(
        model_pb2.GetEffectivePriceRequest(model_id=model_id, workspace_id=team.workspace_id, time=stamp(at)),
        metadata=service_metadata(team.platform.settings),
    )
    return answer


async def entry_of(cache: CatalogCache, model_id: str) -> CatalogEntry:
    entry = await cache.entry(model_id)
    assert entry is not None
    return entry


def input_micros_now(entry: CatalogEntry) -> int:
    price = entry.price_at(datetime.now(UTC))
    assert price is not None
    return price.input_micros_per_1k


async def test_a_new_price_is_charged_from_the_very_next_call(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    _, model_id = await tenant_model(team)
    before = datetime.now(UTC)
    warm = await billed_price(team, model_id, before)

    await team.models.SetModelPrice(
        model_pb2.SetModelPriceRequest(
            model_id=model_id, input_price_per_1k_tokens_micros=150, output_price_per_1k_tokens_micros=250
        ),
        metadata=team.md(team.owner),
    )
    now = await billed_price(team, model_id, datetime.now(UTC))
    then = await billed_price(team, model_id, before)

    assert (warm.input_price_per_1k_tokens_micros, warm.output_price_per_1k_tokens_micros) == (100, 200)
    assert (now.input_price_per_1k_tokens_micros, now.output_price_per_1k_tokens_micros) == (150, 250)
    assert then.input_price_per_1k_tokens_micros == 100  # a cost already recorded keeps its price


async def test_a_price_dated_ahead_takes_over_at_its_time(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    _, model_id = await tenant_model(team)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    await team.models.SetModelPrice(
        model_pb2.SetModelPriceRequest(
            model_id=model_id, input_price_per_1k_tokens_micros=300, effective_time=stamp(tomorrow)
        ),
        metadata=team.md(team.owner),
    )

    today = await billed_price(team, model_id, datetime.now(UTC))
    at_its_time = await billed_price(team, model_id, tomorrow)
    just_before = await billed_price(team, model_id, tomorrow - timedelta(microseconds=1))

    assert today.input_price_per_1k_tokens_micros == just_before.input_price_per_1k_tokens_micros == 100
    assert at_its_time.input_price_per_1k_tokens_micros == 300


async def test_a_workspace_override_is_charged_from_the_very_next_call(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    _, model_id = await tenant_model(team)
    at = datetime.now(UTC)
    warm = await billed_price(team, model_id, at)

    async def override(micros: int | None) -> model_pb2.GetEffectivePriceResponse:
        await team.models.UpdateWorkspaceModel(
            model_pb2.UpdateWorkspaceModelRequest(
                workspace_id=team.workspace_id, model_id=model_id, cost_override_micros=micros
            ),
            metadata=team.md(team.owner),
        )
        return await billed_price(team, model_id, at)

    overridden = await override(7)
    restored = await override(None)

    assert not warm.overridden
    assert overridden.overridden
    assert overridden.input_price_per_1k_tokens_micros == overridden.output_price_per_1k_tokens_micros == 7
    assert not restored.overridden
    assert restored.input_price_per_1k_tokens_micros == 100


async def test_a_model_change_is_resolved_from_the_very_next_call(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    _, model_id = await tenant_model(team)
    warm = await resolve(team, model_id)

    async def change(request: model_pb2.UpdateModelRequest) -> model_pb2.ResolveModelResponse:
        await team.models.UpdateModel(request, metadata=team.md(team.owner))
        return await resolve(team, model_id)

    capped = await change(model_pb2.UpdateModelRequest(id=model_id, max_output_tokens=512))
    priced_out = await change(model_pb2.UpdateModelRequest(id=model_id, min_plan=common_pb2.PLAN_PRO))

    assert warm.eligibility.usable
    assert warm.max_output_tokens == 1024
    assert capped.eligibility.usable
    assert capped.max_output_tokens == 512
    assert capped.eligibility.model.max_output_tokens == 512
    assert not priced_out.eligibility.usable
    assert priced_out.eligibility.reason == model_pb2.ELIGIBILITY_REASON_PLAN_REQUIRED
    assert not priced_out.HasField("route")


async def test_a_new_route_and_a_rotated_key_are_used_from_the_very_next_turn(
    model_platform: Platform,
) -> None:
    team = await model_team(model_platform)
    connection_id, model_id = await tenant_model(team)
    box = model_platform.deps.secret_box
    warm = await resolve(team, model_id)

    async def change(**fields: str) -> model_pb2.ProviderRoute:
        request = model_pb2.UpdateProviderConnectionRequest(id=connection_id, **fields)
        await team.models.UpdateProviderConnection(request, metadata=team.md(team.owner))
        return (await resolve(team, model_id)).route

    moved = await change(base_url="http://vllm-b:8000/v1")
    rotated = await change(api_key=ROTATED_KEY)
    keyless = await change(api_key="")

    assert warm.route.base_url == "http://vllm-a:8000/v1"
    assert box.decrypt(warm.route.sealed_api_key.decode()).decode() == KEY
    assert moved.base_url == "http://vllm-b:8000/v1"
    assert box.decrypt(rotated.sealed_api_key.decode()).decode() == ROTATED_KEY
    assert keyless.sealed_api_key == b""


async def test_a_platform_route_is_sealed_once_per_process(model_platform: Platform) -> None:
    team = await model_team(model_platform)

    first, second = [await resolve(team, "gpt-4o-mini") for _ in range(2)]

    assert first.route.sealed_api_key  # the platform key, sealed (test_eligibility opens it)
    assert first.route == second.route  # the same text every turn: chat keeps one adapter for it


async def test_a_cached_model_stays_with_its_tenant(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    _, model_id = await tenant_model(team)
    await resolve(team, model_id)  # now cached
    await team.models.GetEffectivePrice(
        model_pb2.GetEffectivePriceRequest(model_id=model_id), metadata=team.md(team.owner)
    )
    other = await model_team(model_platform, tenant_name="Other")

    resolved, _ = await rpc_error(resolve(other, model_id))
    priced, _ = await rpc_error(
        other.models.GetEffectivePrice(
            model_pb2.GetEffectivePriceRequest(model_id=model_id, workspace_id=other.workspace_id),
            metadata=other.md(other.owner),
        )
    )
    shared = await resolve(other, "gpt-4o-mini")  # platform models are everyone's

    assert resolved == priced == grpc.StatusCode.NOT_FOUND
    assert shared.eligibility.usable
    assert (await resolve(team, model_id)).eligibility.usable


async def test_another_replica_sees_a_change_made_through_this_one(model_platform: Platform) -> None:
    """A second cache on the same shared cache backend (Redis with PostgreSQL): another model service."""
    team = await model_team(model_platform)
    _, model_id = await tenant_model(team)
    deps = model_platform.deps
    replica = CatalogCache(deps.database, deps.backends.cache)
    warm = await entry_of(replica, model_id)

    await team.models.SetModelPrice(
        model_pb2.SetModelPriceRequest(model_id=model_id, input_price_per_1k_tokens_micros=120),
        metadata=team.md(team.owner),
    )
    seen = await entry_of(replica, model_id)

    assert input_micros_now(warm) == 100
    assert input_micros_now(seen) == 120


async def test_a_write_from_another_process_shows_once_the_ttl_is_over(model_platform: Platform) -> None:
    """`geko migrate` re-seeding the platform catalog cannot bump our generation: the TTL bounds it."""
    deps = model_platform.deps
    now = [1000.0]
    cache = CatalogCache(deps.database, deps.backends.cache, clock=lambda: now[0])
    warm = await entry_of(cache, "deepseek-r1")
    async with deps.database.transaction() as session:
        await session.execute(
            update(ModelCatalog).where(ModelCatalog.id == "deepseek-r1").values(display_name="DeepSeek R1+")
        )

    now[0] += TTL_SECONDS - 1
    within = await entry_of(cache, "deepseek-r1")
    now[0] += 1
    after = await entry_of(cache, "deepseek-r1")

    assert warm.row.display_name == within.row.display_name == "DeepSeek R1"
    assert after.row.display_name == "DeepSeek R1+"
