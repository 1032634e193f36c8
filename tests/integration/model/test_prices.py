"""Prices versioned by effective date through real gRPC: a change dated tomorrow leaves today's price in force
and the past untouched; the 100x guard and its override; who may set platform and tenant prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from geko.model.v1 import model_pb2
from services.runtime.service_identity import service_metadata
from tests.integration.auth.harness import Platform, rpc_error
from tests.integration.model.harness import ModelTeam, model_team

SEEDED_GPT4_MICROS = 30_000


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


def service_md(platform: Platform) -> tuple[tuple[str, str], ...]:
    return service_metadata(platform.settings)


async def effective(team: ModelTeam, model_id: str, at: datetime) -> int:
    answer = await team.models.GetEffectivePrice(
        model_pb2.GetEffectivePriceRequest(model_id=model_id, time=stamp(at)), metadata=team.md(team.owner)
    )
    return int(answer.input_price_per_1k_tokens_micros)


async def test_a_price_dated_tomorrow_leaves_today_and_the_past_unchanged(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    now = datetime.now(UTC)
    tomorrow = now + timedelta(days=1)

    await team.models.SetModelPrice(
        model_pb2.SetModelPriceRequest(
            model_id="gpt-4",
            input_price_per_1k_tokens_micros=40_000,
            output_price_per_1k_tokens_micros=60_000,
            effective_time=stamp(tomorrow),
        ),
        metadata=service_md(model_platform),
    )

    assert await effective(team, "gpt-4", now) == SEEDED_GPT4_MICROS
    assert await effective(team, "gpt-4", datetime(2024, 6, 1, tzinfo=UTC)) == SEEDED_GPT4_MICROS
    assert await effective(team, "gpt-4", tomorrow + timedelta(seconds=1)) == 40_000
    listed = await team.models.GetModel(model_pb2.GetModelRequest(id="gpt-4"), metadata=team.md(team.owner))
    assert listed.model.input_price_per_1k_tokens_micros == SEEDED_GPT4_MICROS
    history = await team.models.ListModelPrices(
        model_pb2.ListModelPricesRequest(model_id="gpt-4"), metadata=team.md(team.owner)
    )
    assert [p.input_price_per_1k_tokens_micros for p in history.prices] == [40_000, SEEDED_GPT4_MICROS]
    assert [p.output_price_per_1k_tokens_micros for p in history.prices] == [60_000, SEEDED_GPT4_MICROS]


async def test_the_100x_guard_refuses_unless_forced(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    jump = model_pb2.SetModelPriceRequest(
        model_id="deepseek-r1",
        input_price_per_1k_tokens_micros=2_000,
        output_price_per_1k_tokens_micros=2_000 * 100 + 1,
        effective_time=stamp(tomorrow),
    )

    status, error = await rpc_error(team.models.SetModelPrice(jump, metadata=service_md(model_platform)))
    jump.force = True
    forced = await team.models.SetModelPrice(jump, metadata=service_md(model_platform))

    assert status == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "PRICE_JUMP"
    assert error.field == "output_price_per_1k_tokens_micros"
    assert forced.price.output_price_per_1k_tokens_micros == 200_001


async def test_negative_and_past_prices_are_refused_naming_the_field(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    md = service_md(model_platform)

    _, negative = await rpc_error(
        team.models.SetModelPrice(
            model_pb2.SetModelPriceRequest(model_id="gpt-4", input_price_per_1k_tokens_micros=-1, force=True),
            metadata=md,
        )
    )
    _, past = await rpc_error(
        team.models.SetModelPrice(
            model_pb2.SetModelPriceRequest(
                model_id="gpt-4",
                input_price_per_1k_tokens_micros=1,
                effective_time=stamp(datetime.now(UTC) - timedelta(days=1)),
            ),
            metadata=md,
        )
    )

    assert negative.field == "input_price_per_1k_tokens_micros"
    assert past.field == "effective_time"


async def test_users_cannot_price_platform_models(model_platform: Platform) -> None:
    team = await model_team(model_platform)

    status, _ = await rpc_error(
        team.models.SetModelPrice(
            model_pb2.SetModelPriceRequest(model_id="gpt-4", input_price_per_1k_tokens_micros=1),
            metadata=team.md(team.owner),
        )
    )

    assert status == grpc.StatusCode.PERMISSION_DENIED
    assert await effective(team, "gpt-4", datetime.now(UTC)) == SEEDED_GPT4_MICROS


async def test_a_workspace_cost_override_replaces_the_catalog_price(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    await team.models.UpdateWorkspaceModel(
        model_pb2.UpdateWorkspaceModelRequest(
            workspace_id=team.workspace_id, model_id="gpt-4", cost_override_micros=7
        ),
        metadata=team.md(team.owner),
    )

    answer = await team.models.GetEffectivePrice(
        model_pb2.GetEffectivePriceRequest(model_id="gpt-4", workspace_id=team.workspace_id),
        metadata=team.md(team.owner),
    )

    assert answer.overridden
    assert answer.input_price_per_1k_tokens_micros == answer.output_price_per_1k_tokens_micros == 7
