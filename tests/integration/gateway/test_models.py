"""The model catalog, eligibility and workspace model settings through GraphQL, against the whole platform
and a fake Ollama: the seed's example (a free workspace gets gpt-4o-mini, claude-haiku and the installed
local models; pro gets all; a disabled model is gone for members at once), the catalog's fields with money
as `Micros`, and refusals (permissions, other tenants, bad input) with the codes of DESIGN.md §5."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from tests.integration.gateway.models_platform import (
    CLOUD_MODELS,
    SET_WORKSPACE_MODELS,
    WORKSPACE_MODELS,
    ModelPlatform,
    model_platform,
)
from tests.integration.gateway.team import Member

pytestmark = pytest.mark.asyncio(loop_scope="module")

MODELS = """query($filter: ModelFilter) {
  models(filter: $filter) {
    id name displayName provider type isLocal isFree minPlan maxFreeTokensPerMonth contextWindow
    maxOutputTokens inputPricePer1kMicros outputPricePer1kMicros currency isCustom installed
  }
}"""
MODEL = "query($id: ID!) { model(id: $id) { id name minPlan inputPricePer1kMicros currency } }"
UPDATE_WORKSPACE_MODEL = """mutation($input: UpdateWorkspaceModelInput!) {
  updateWorkspaceModel(input: $input) { model { id } enabled costOverrideMicros maxTokensOverride }
}"""


@dataclass
class Team:
    """A free tenant: its owner, a workspace, an editor in it, and llama2 installed (mistral is not)."""

    platform: ModelPlatform
    owner: Member
    editor: Member
    workspace_id: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def team(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[Team]:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    data_dir = tmp_path_factory.mktemp("models")
    async with model_platform(database_url, data_dir, redis_url if use_redis else None) as platform:
        gateway = platform.gateway
        owner = await gateway.register("Free Co")
        workspace_id = await gateway.create_workspace(owner.token, "Lab")
        editor = await gateway.join_new(owner.token, workspace_id, "editor", name="Eddie Editor")
        job = await platform.install(owner.token, workspace_id, "llama2")
        assert (await platform.wait_for_job(owner.token, job["id"]))["status"] == "READY"
        yield Team(platform, owner, editor, workspace_id)


async def test_the_seed_example_free_then_pro_then_a_model_disabled(team: Team) -> None:
    platform, ws = team.platform, team.workspace_id

    # Free: the free cloud models and the installed local one; the rest say why not.
    eligible = await platform.eligible(team.editor.token, ws)
    assert {m for m, e in eligible.items() if e["usable"]} == {"gpt-4o-mini", "claude-haiku", "llama2"}
    assert set(eligible) >= CLOUD_MODELS | {"llama2", "mistral"}
    assert eligible["gpt-4"]["reason"] == "PLAN_REQUIRED"
    assert eligible["gpt-4"]["requiredPlan"] == "PRO"
    assert eligible["mistral"]["reason"] == "NOT_INSTALLED"
    assert eligible["llama2"]["reason"] is None
    assert eligible["llama2"]["model"] == {
        "id": "llama2",
        "name": "llama2",
        "provider": "ollama",
        "isLocal": True,
        "minPlan": "FREE",
    }

    # Pro (geko admin set-plan): every model, except the local one that is not installed.
    await platform.set_plan(team.owner, "pro")
    try:
        eligible = await platform.eligible(team.editor.token, ws)
        assert {m for m, e in eligible.items() if e["usable"]} == CLOUD_MODELS | {"llama2"}
        assert eligible["mistral"]["reason"] == "NOT_INSTALLED"

        # The owner disables gpt-4o-mini: the editor's very next answer has it unusable.
        enabled = sorted((CLOUD_MODELS | {"llama2", "mistral"}) - {"gpt-4o-mini"})
        settings = (
            await platform.gateway.data(
                SET_WORKSPACE_MODELS, team.owner.token, input={"workspaceId": ws, "enabledModels": enabled}
            )
        )["setWorkspaceModels"]
        assert {s["model"]["id"]: s["enabled"] for s in settings}["gpt-4o-mini"] is False
        eligible = await platform.eligible(team.editor.token, ws)
        assert eligible["gpt-4o-mini"]["usable"] is False
        assert eligible["gpt-4o-mini"]["reason"] == "DISABLED_BY_ADMIN"
        usable = {m for m, e in eligible.items() if e["usable"]}
        assert usable == (CLOUD_MODELS - {"gpt-4o-mini"}) | {"llama2"}

        shown = (await platform.gateway.data(WORKSPACE_MODELS, team.editor.token, id=ws))["workspace"]
        by_id = {s["model"]["id"]: s for s in shown["models"]}
        assert by_id["gpt-4o-mini"]["enabled"] is False
        assert by_id["claude-haiku"]["enabled"] is True
    finally:
        await platform.gateway.data(
            SET_WORKSPACE_MODELS,
            team.owner.token,
            input={"workspaceId": ws, "enabledModels": sorted(CLOUD_MODELS | {"llama2", "mistral"})},
        )
        await platform.set_plan(team.owner, "free")


async def test_the_catalog_shows_plans_and_prices_in_micros(team: Team) -> None:
    gateway = team.platform.gateway

    local = (await gateway.data(MODELS, team.editor.token, filter={"isLocal": True}))["models"]
    assert {m["id"]: m["installed"] for m in local} == {"llama2": True, "mistral": False}
    assert all(m["isFree"] and m["provider"] == "ollama" for m in local)

    gpt4 = (await gateway.data(MODEL, team.editor.token, id="gpt-4"))["model"]
    # 30,000 micro-USD per 1k tokens, as a JSON integer (a float would come back as 30000.0).
    assert gpt4 == {
        "id": "gpt-4",
        "name": "gpt-4",
        "minPlan": "PRO",
        "inputPricePer1kMicros": 30_000,
        "currency": "USD",
    }
    assert isinstance(gpt4["inputPricePer1kMicros"], int)

    assert await gateway.code(MODEL, team.editor.token, id="no-such-model") == "NOT_FOUND"


async def test_overrides_round_trip_as_exact_integers(team: Team) -> None:
    gateway, ws = team.platform.gateway, team.workspace_id
    # Beyond 2^53: a JavaScript number would round it, so it travels as a string of digits.
    big = 2**53 + 1

    updated = (
        await gateway.data(
            UPDATE_WORKSPACE_MODEL,
            team.owner.token,
            input={"workspaceId": ws, "modelId": "gpt-4o-mini", "costOverrideMicros": str(big)},
        )
    )["updateWorkspaceModel"]
    assert updated["costOverrideMicros"] == str(big)

    updated = (
        await gateway.data(
            UPDATE_WORKSPACE_MODEL,
            team.owner.token,
            input={
                "workspaceId": ws,
                "modelId": "gpt-4o-mini",
                "costOverrideMicros": 1_500,
                "maxTokensOverride": 512,
            },
        )
    )["updateWorkspaceModel"]
    assert (updated["costOverrideMicros"], updated["maxTokensOverride"]) == (1_500, 512)
    shown = (await gateway.data(WORKSPACE_MODELS, team.owner.token, id=ws))["workspace"]["models"]
    assert {s["model"]["id"]: s["costOverrideMicros"] for s in shown}["gpt-4o-mini"] == 1_500

    # Floats are not money.
    body = await gateway.graphql(
        UPDATE_WORKSPACE_MODEL,
        team.owner.token,
        input={"workspaceId": ws, "modelId": "gpt-4o-mini", "costOverrideMicros": 1.5},
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    # Removing the overrides (both fields left out).
    updated = (
        await gateway.data(
            UPDATE_WORKSPACE_MODEL, team.owner.token, input={"workspaceId": ws, "modelId": "gpt-4o-mini"}
        )
    )["updateWorkspaceModel"]
    assert (updated["costOverrideMicros"], updated["maxTokensOverride"]) == (None, None)


async def test_an_editor_may_not_change_the_settings_and_nothing_changes(team: Team) -> None:
    gateway, ws = team.platform.gateway, team.workspace_id

    code = await gateway.code(
        SET_WORKSPACE_MODELS, team.editor.token, input={"workspaceId": ws, "enabledModels": []}
    )

    assert code == "FORBIDDEN"
    assert "gpt-4o-mini" in await team.platform.usable(team.editor.token, ws)


async def test_another_tenant_sees_nothing_of_the_workspace(team: Team) -> None:
    gateway, ws = team.platform.gateway, team.workspace_id
    stranger = await gateway.register("Other Co")

    assert await gateway.code(WORKSPACE_MODELS, stranger.token, id=ws) == "NOT_FOUND"
    assert (
        await gateway.code(
            "query($ws: ID!) { eligibleModels(workspaceId: $ws) { usable } }", stranger.token, ws=ws
        )
        == "NOT_FOUND"
    )
    code = await gateway.code(
        SET_WORKSPACE_MODELS, stranger.token, input={"workspaceId": ws, "enabledModels": []}
    )
    assert code == "NOT_FOUND"
    assert "gpt-4o-mini" in await team.platform.usable(team.editor.token, ws)


async def test_an_unknown_model_in_the_settings_is_bad_input_naming_the_field(team: Team) -> None:
    body = await team.platform.gateway.graphql(
        SET_WORKSPACE_MODELS,
        team.owner.token,
        input={"workspaceId": team.workspace_id, "enabledModels": ["gpt-4o-mini", "no-such-model"]},
    )

    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "input.enabledModels"}
    assert "gpt-4o-mini" in await team.platform.usable(team.editor.token, team.workspace_id)


CREATE_CONNECTION = """mutation($input: CreateProviderConnectionInput!) {
  createProviderConnection(input: $input) { id }
}"""
CREATE_MODEL = """mutation($input: CreateModelInput!) {
  createModel(input: $input) {
    id name displayName provider isCustom connectionId inputPricePer1kMicros minPlan
  }
}"""
SET_PRICE = """mutation($input: SetModelPriceInput!) {
  setModelPrice(input: $input) { inputPricePer1kMicros outputPricePer1kMicros currency effectiveAt }
}"""
PRICES = """query($id: ID!) {
  model(id: $id) { prices(first: 10) { totalCount edges { node { inputPricePer1kMicros effectiveAt } } } }
}"""


async def test_a_tenant_adds_its_own_model_and_prices_it_with_the_guard(team: Team) -> None:
    gateway = team.platform.gateway
    admin = await gateway.register("Custom Co")
    connection = (
        await gateway.data(
            CREATE_CONNECTION,
            admin.token,
            input={"name": "lab vllm", "kind": "OPENAI", "baseUrl": "http://127.0.0.1:9/v1", "apiKey": "k-1"},
        )
    )["createProviderConnection"]
    fields = {
        "connectionId": connection["id"],
        "name": "qwen-lab",
        "displayName": "Qwen Lab",
        "contextWindow": 32_768,
        "maxOutputTokens": 2_048,
        "minPlan": "PRO",
        "inputPricePer1kMicros": 100,
        "outputPricePer1kMicros": 200,
    }

    model = (await gateway.data(CREATE_MODEL, admin.token, input=fields))["createModel"]

    assert model["isCustom"] is True
    assert model["connectionId"] == connection["id"]
    assert (model["name"], model["minPlan"], model["inputPricePer1kMicros"]) == ("qwen-lab", "PRO", 100)
    listed = (await gateway.data(MODELS, admin.token, filter={"query": "qwen lab"}))["models"]
    assert [m["id"] for m in listed] == [model["id"]]
    # Another tenant's admin sees neither the model nor the connection.
    assert await gateway.code(MODEL, team.owner.token, id=model["id"]) == "NOT_FOUND"
    assert await gateway.code(CREATE_MODEL, team.owner.token, input=fields) == "NOT_FOUND"

    # 1000x the price: refused unless forced.
    jump = {"modelId": model["id"], "inputPricePer1kMicros": 100_000, "outputPricePer1kMicros": 200}
    assert await gateway.code(SET_PRICE, admin.token, input=jump) == "BAD_USER_INPUT"
    forced = (await gateway.data(SET_PRICE, admin.token, input={**jump, "force": True}))["setModelPrice"]
    assert (forced["inputPricePer1kMicros"], forced["currency"]) == (100_000, "USD")

    prices = (await gateway.data(PRICES, admin.token, id=model["id"]))["model"]["prices"]
    assert prices["totalCount"] == 2
    assert [edge["node"]["inputPricePer1kMicros"] for edge in prices["edges"]] == [100_000, 100]
