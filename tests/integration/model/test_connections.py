"""Provider connections (bring your own key) and tenant models through real gRPC: the key is encrypted at
rest, never in an answer, an audit entry or a log line; another tenant's are NOT_FOUND."""

from __future__ import annotations

import grpc
import pytest
from sqlalchemy import select

from db.models.model import ProviderConnection
from geko.common.v1 import common_pb2
from geko.model.v1 import model_pb2
from services.runtime.errors import GekoError
from tests.integration.auth.harness import Platform, audit_events, db_session, rpc_error
from tests.integration.model.harness import ModelTeam, model_team

API_KEY = "sk-tenant-secret-5f1c9a7e2b"


async def add_connection(team: ModelTeam, name: str = "vllm") -> model_pb2.ProviderConnection:
    answer = await team.models.CreateProviderConnection(
        model_pb2.CreateProviderConnectionRequest(
            kind=model_pb2.PROVIDER_KIND_OPENAI,
            name=name,
            base_url="http://vllm.internal:8000/v1",
            api_key=API_KEY,
        ),
        metadata=team.md(team.owner),
    )
    return answer.connection


async def add_model(team: ModelTeam, connection_id: str) -> model_pb2.Model:
    answer = await team.models.CreateModel(
        model_pb2.CreateModelRequest(
            connection_id=connection_id,
            name="qwen2.5-7b",
            display_name="Qwen 2.5 7B",
            context_window=32_768,
            max_output_tokens=4_096,
            input_price_per_1k_tokens_micros=100,
            output_price_per_1k_tokens_micros=200,
        ),
        metadata=team.md(team.owner),
    )
    return answer.model


async def test_the_key_is_encrypted_at_rest_and_never_answered_audited_or_logged(
    model_platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    team = await model_team(model_platform)

    connection = await add_connection(team)
    listed = await team.models.ListProviderConnections(
        model_pb2.ListProviderConnectionsRequest(), metadata=team.md(team.owner)
    )
    model = await add_model(team, connection.id)
    await rpc_error(  # a refused request holding the key is logged too, without it
        team.models.CreateProviderConnection(
            model_pb2.CreateProviderConnectionRequest(
                kind=model_pb2.PROVIDER_KIND_OPENAI, name="bad", base_url="nope", api_key=API_KEY
            ),
            metadata=team.md(team.owner),
        )
    )
    resolved = await team.models.ResolveModel(
        model_pb2.ResolveModelRequest(workspace_id=team.workspace_id, model_id=model.id),
        metadata=team.md(team.owner),
    )

    assert connection.has_api_key
    assert [c.name for c in listed.connections] == ["vllm"]
    for answer in (connection, listed, model, resolved):
        assert API_KEY.encode() not in answer.SerializeToString()
    async with db_session(model_platform) as db:
        stored = (
            await db.scalars(select(ProviderConnection).where(ProviderConnection.id == connection.id))
        ).one()
    assert stored.api_key_encrypted
    assert API_KEY not in stored.api_key_encrypted
    assert model_platform.deps.secret_box.decrypt(stored.api_key_encrypted).decode() == API_KEY
    assert resolved.route.base_url == "http://vllm.internal:8000/v1"
    assert model_platform.deps.secret_box.decrypt(resolved.route.sealed_api_key.decode()).decode() == API_KEY
    events = await audit_events(model_platform, tenant_id=team.owner.tenant_id, service="model")
    assert [e["action"] for e in events] == ["PROVIDER_CONNECTION_CREATED", "MODEL_CREATED"]
    assert API_KEY not in repr(events)
    logged = capsys.readouterr().out
    assert "CreateProviderConnection" in logged  # the access log was captured…
    assert API_KEY not in logged  # …and holds no key


async def test_another_tenants_connection_and_model_are_not_found(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    connection = await add_connection(team)
    model = await add_model(team, connection.id)
    other = await model_team(model_platform, tenant_name="Other")
    md = other.md(other.owner)

    calls = [
        other.models.UpdateProviderConnection(
            model_pb2.UpdateProviderConnectionRequest(id=connection.id, name="mine"), metadata=md
        ),
        other.models.DeleteProviderConnection(
            model_pb2.DeleteProviderConnectionRequest(id=connection.id), metadata=md
        ),
        other.models.GetModel(model_pb2.GetModelRequest(id=model.id), metadata=md),
        other.models.CreateModel(
            model_pb2.CreateModelRequest(
                connection_id=connection.id, name="x", context_window=10, max_output_tokens=5
            ),
            metadata=md,
        ),
    ]
    statuses = [(await rpc_error(call))[0] for call in calls]
    theirs = await other.models.ListModels(model_pb2.ListModelsRequest(), metadata=md)
    listed = await other.models.ListProviderConnections(
        model_pb2.ListProviderConnectionsRequest(), metadata=md
    )

    assert statuses == [grpc.StatusCode.NOT_FOUND] * 4
    assert model.id not in {m.id for m in theirs.models}
    assert list(listed.connections) == []
    mine = await team.models.ListProviderConnections(
        model_pb2.ListProviderConnectionsRequest(), metadata=team.md(team.owner)
    )
    assert [c.name for c in mine.connections] == ["vllm"]  # unchanged


async def test_connection_inputs_are_checked_and_names_unique(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    await add_connection(team)

    def request(**fields: object) -> model_pb2.CreateProviderConnectionRequest:
        values: dict[str, object] = {
            "kind": model_pb2.PROVIDER_KIND_ANTHROPIC,
            "name": "claude",
            "base_url": "https://api.anthropic.com",
        }
        return model_pb2.CreateProviderConnectionRequest(**(values | fields))  # type: ignore[arg-type]

    failures: list[GekoError] = []
    for bad in (
        request(base_url="ftp://x"),
        request(base_url="not a url"),
        request(name=" "),
        request(kind=0),
    ):
        failures.append(
            (await rpc_error(team.models.CreateProviderConnection(bad, metadata=team.md(team.owner))))[1]
        )
    duplicate, _ = await rpc_error(
        team.models.CreateProviderConnection(request(name="vllm"), metadata=team.md(team.owner))
    )

    assert [f.field for f in failures] == ["base_url", "base_url", "name", "kind"]
    assert duplicate == grpc.StatusCode.ALREADY_EXISTS


async def test_members_who_are_not_tenant_admins_cannot_manage_connections(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    editor = await team.join("editor")

    status, _ = await rpc_error(
        team.models.CreateProviderConnection(
            model_pb2.CreateProviderConnectionRequest(
                kind=model_pb2.PROVIDER_KIND_OLLAMA, name="gpu box", base_url="http://gpu:11434"
            ),
            metadata=team.md(editor),
        )
    )

    assert status == grpc.StatusCode.PERMISSION_DENIED


async def test_a_connection_in_use_cannot_be_deleted_and_a_key_can_be_removed(
    model_platform: Platform,
) -> None:
    team = await model_team(model_platform)
    connection = await add_connection(team)
    await add_model(team, connection.id)

    status, _ = await rpc_error(
        team.models.DeleteProviderConnection(
            model_pb2.DeleteProviderConnectionRequest(id=connection.id), metadata=team.md(team.owner)
        )
    )
    updated = await team.models.UpdateProviderConnection(
        model_pb2.UpdateProviderConnectionRequest(id=connection.id, api_key=""), metadata=team.md(team.owner)
    )

    assert status == grpc.StatusCode.ALREADY_EXISTS
    assert not updated.connection.has_api_key


async def test_connections_are_listed_by_pages(model_platform: Platform) -> None:
    team = await model_team(model_platform)
    for name in ("a", "b", "c"):
        await add_connection(team, name)

    first = await team.models.ListProviderConnections(
        model_pb2.ListProviderConnectionsRequest(page=common_pb2.PageRequest(page_size=2)),
        metadata=team.md(team.owner),
    )
    second = await team.models.ListProviderConnections(
        model_pb2.ListProviderConnectionsRequest(
            page=common_pb2.PageRequest(page_size=2, page_token=first.page_info.next_page_token)
        ),
        metadata=team.md(team.owner),
    )

    assert [c.name for c in first.connections] == ["a", "b"]
    assert [c.name for c in second.connections] == ["c"]
    assert first.page_info.total_size == 3
    assert not second.page_info.next_page_token
