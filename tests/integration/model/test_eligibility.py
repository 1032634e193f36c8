"""Eligibility through real gRPC: the seed's example (free vs pro), a model disabled by an admin disappearing
for members at once (cached settings invalidated on commit), and a viewer without model:use:* permissions."""

from __future__ import annotations

import grpc

from geko.common.v1 import common_pb2
from geko.model.v1 import model_pb2
from tests.integration.auth.harness import Platform, audit_events, rpc_error
from tests.integration.model.harness import model_team

ALL_SEEDED = {"gpt-4o-mini", "gpt-4", "claude-haiku", "claude-3-5-sonnet", "llama2", "mistral", "deepseek-r1"}


async def test_free_workspace_gets_the_free_cloud_models_and_installed_local_ones(
    model_platform: Platform,
) -> None:
    team = await model_team(model_platform)
    await team.mark_installed("mistral")

    eligible = await team.eligible()

    assert set(eligible) == ALL_SEEDED
    assert {m for m, e in eligible.items() if e.usable} == {"gpt-4o-mini", "claude-haiku", "mistral"}
    assert eligible["gpt-4"].reason == model_pb2.ELIGIBILITY_REASON_PLAN_REQUIRED
    assert eligible["gpt-4"].required_plan == common_pb2.PLAN_PRO
    assert eligible["llama2"].reason == model_pb2.ELIGIBILITY_REASON_NOT_INSTALLED
    assert eligible["mistral"].model.installed
    assert not eligible["llama2"].model.installed


async def test_pro_and_paygo_workspaces_get_every_model(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    await team.mark_installed("llama2")
    await team.mark_installed("mistral")

    await team.set_plan("pro")
    pro = await team.usable()
    await team.set_plan("paygo")
    paygo = await team.usable()

    assert pro == paygo == ALL_SEEDED


async def test_a_disabled_model_disappears_for_members_at_once(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    editor = await team.join("editor")
    assert "claude-haiku" in await team.usable(editor)  # the answer is now cached

    await team.models.SetWorkspaceModels(
        model_pb2.SetWorkspaceModelsRequest(
            workspace_id=team.workspace_id, enabled_model_ids=["gpt-4o-mini"]
        ),
        metadata=team.md(team.owner),
    )
    eligible = await team.eligible(editor)

    assert {m for m, e in eligible.items() if e.usable} == {"gpt-4o-mini"}
    assert eligible["claude-haiku"].reason == model_pb2.ELIGIBILITY_REASON_DISABLED_BY_ADMIN
    settings = await team.models.GetWorkspaceModels(
        model_pb2.GetWorkspaceModelsRequest(workspace_id=team.workspace_id), metadata=team.md(editor)
    )
    assert {m.model_id for m in settings.models if m.enabled} == {"gpt-4o-mini"}
    events = await audit_events(model_platform, tenant_id=team.owner.tenant_id, service="model")
    assert sorted(e["resource_id"] for e in events if e["action"] == "MODEL_DISABLED") == sorted(
        ALL_SEEDED - {"gpt-4o-mini"}
    )
    assert {e["workspace_id"] for e in events} == {team.workspace_id}


async def test_a_viewer_without_model_permissions_gets_permission_required(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    viewer = await team.join("viewer")

    eligible = await team.eligible(viewer)

    assert not any(entry.usable for entry in eligible.values())
    assert eligible["gpt-4o-mini"].reason == model_pb2.ELIGIBILITY_REASON_PERMISSION_REQUIRED


async def test_viewers_cannot_change_settings_and_strangers_see_no_workspace(
    model_platform: Platform,
) -> None:
    team = await model_team(model_platform)
    viewer = await team.join("viewer")
    other = await model_team(model_platform, tenant_name="Other")
    request = model_pb2.SetWorkspaceModelsRequest(workspace_id=team.workspace_id, enabled_model_ids=[])

    denied, _ = await rpc_error(team.models.SetWorkspaceModels(request, metadata=team.md(viewer)))
    hidden, _ = await rpc_error(team.models.SetWorkspaceModels(request, metadata=other.md(other.owner)))
    unseen, _ = await rpc_error(
        team.models.ListEligibleModels(
            model_pb2.ListEligibleModelsRequest(workspace_id=team.workspace_id),
            metadata=other.md(other.owner),
        )
    )

    assert denied == grpc.StatusCode.PERMISSION_DENIED
    assert hidden == unseen == grpc.StatusCode.NOT_FOUND
    assert await team.usable() >= {"gpt-4o-mini", "claude-haiku"}  # nothing changed


async def test_resolve_gives_the_route_with_a_sealed_key_and_the_capped_output(
    model_platform: Platform,
) -> None:
    team = await model_team(model_platform)
    await team.models.UpdateWorkspaceModel(
        model_pb2.UpdateWorkspaceModelRequest(
            workspace_id=team.workspace_id, model_id="gpt-4o-mini", max_tokens_override=1000
        ),
        metadata=team.md(team.owner),
    )

    resolved = await team.models.ResolveModel(
        model_pb2.ResolveModelRequest(workspace_id=team.workspace_id, model_id="gpt-4o-mini"),
        metadata=team.md(team.owner),
    )
    refused = await team.models.ResolveModel(
        model_pb2.ResolveModelRequest(workspace_id=team.workspace_id, model_id="gpt-4"),
        metadata=team.md(team.owner),
    )

    assert resolved.eligibility.usable
    assert resolved.max_output_tokens == 1000
    assert resolved.route.kind == model_pb2.PROVIDER_KIND_OPENAI
    assert resolved.route.base_url == "https://api.openai.com/v1"
    opened = model_platform.deps.secret_box.decrypt(resolved.route.sealed_api_key.decode())
    assert opened.decode() == model_platform.settings.openai_api_key.get_secret_value()  # type: ignore[union-attr]
    assert b"sk-platform" not in resolved.SerializeToString()
    assert not refused.eligibility.usable
    assert not refused.HasField("route")
