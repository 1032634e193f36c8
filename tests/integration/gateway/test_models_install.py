"""Installing a local model through GraphQL against the fake Ollama: `installModel` answers the job at once,
`modelInstallProgress` over graphql-transport-ws streams monotonic progress to READY, a failing pull ends
in ERROR with Ollama's reason, and the refusals (no model:install, another tenant's job, a cloud model)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from tests.integration.gateway.models_platform import (
    INSTALL,
    PROGRESS,
    ModelPlatform,
    model_platform,
    subscription_messages,
)
from tests.integration.gateway.team import Member

pytestmark = pytest.mark.asyncio(loop_scope="module")

REMOVE = "mutation($model: ID!, $ws: ID!) { removeModel(modelId: $model, workspaceId: $ws) { id installed } }"


@dataclass
class Team:
    platform: ModelPlatform
    owner: Member
    editor: Member
    workspace_id: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def team(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[Team]:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    data_dir = tmp_path_factory.mktemp("installs")
    async with model_platform(database_url, data_dir, redis_url if use_redis else None) as platform:
        gateway = platform.gateway
        owner = await gateway.register("Pull Co")
        workspace_id = await gateway.create_workspace(owner.token, "Local")
        editor = await gateway.join_new(owner.token, workspace_id, "editor", name="Eddie Editor")
        yield Team(platform, owner, editor, workspace_id)


def events(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The progress updates of a subscription's `next` messages (there must be no errors among them)."""
    updates = []
    for message in messages:
        if message["type"] == "next":
            assert "errors" not in message["payload"], message
            updates.append(message["payload"]["data"]["modelInstallProgress"])
    return updates


async def test_install_streams_monotonic_progress_to_ready(team: Team) -> None:
    platform = team.platform
    # Slow lines, so the subscription sees the download as it happens rather than only its end.
    platform.ollama.pull_mode, platform.ollama.delay = "slow", 0.05
    try:
        job = await platform.install(team.owner.token, team.workspace_id, "llama2")
        assert job["modelId"] == "llama2"
        assert job["status"] in ("QUEUED", "DOWNLOADING")
        async with platform.websocket(team.owner.token) as ws:
            messages = await subscription_messages(ws, PROGRESS, {"job": job["id"]})
    finally:
        platform.ollama.pull_mode, platform.ollama.delay = None, 0.0

    assert messages[-1] == {"id": "1", "type": "complete"}
    updates = events(messages)
    assert updates, messages
    assert {u["jobId"] for u in updates} == {job["id"]}
    percents = [u["percent"] for u in updates]
    assert percents == sorted(percents)
    assert updates[-1]["status"] == "READY"
    assert updates[-1]["percent"] == 100
    assert updates[-1]["error"] is None
    downloading = [u for u in updates if u["status"] == "DOWNLOADING"]
    assert downloading, [u["status"] for u in updates]
    assert all(0 <= u["completedBytes"] <= u["totalBytes"] for u in downloading)
    assert max(u["totalBytes"] for u in updates) == sum((3_000_000, 40_000, 120))

    eligible = await platform.eligible(team.editor.token, team.workspace_id)
    assert eligible["llama2"]["usable"] is True


async def test_a_failing_pull_ends_in_error_with_the_reason(team: Team) -> None:
    platform = team.platform
    platform.ollama.pull_mode = "fail"
    try:
        job = await platform.install(team.owner.token, team.workspace_id, "mistral")
        async with platform.websocket(team.owner.token) as ws:
            messages = await subscription_messages(ws, PROGRESS, {"job": job["id"]})
    finally:
        platform.ollama.pull_mode = None

    updates = events(messages)
    assert messages[-1]["type"] == "complete"
    assert updates[-1]["status"] == "ERROR"
    assert platform.ollama.fail_message in updates[-1]["error"]
    assert [u["percent"] for u in updates] == sorted(u["percent"] for u in updates)
    eligible = await platform.eligible(team.editor.token, team.workspace_id)
    assert eligible["mistral"]["reason"] == "NOT_INSTALLED"
    # The persisted job tells the same story.
    stored = await platform.wait_for_job(team.owner.token, job["id"])
    assert stored["status"] == "ERROR"
    assert platform.ollama.fail_message in stored["progress"]["error"]


async def test_an_editor_may_not_install_or_remove(team: Team) -> None:
    gateway = team.platform.gateway
    pulls_before = len(team.platform.ollama.requests_to("/api/pull"))

    assert (
        await gateway.code(INSTALL, team.editor.token, model="mistral", ws=team.workspace_id) == "FORBIDDEN"
    )
    assert await gateway.code(REMOVE, team.editor.token, model="llama2", ws=team.workspace_id) == "FORBIDDEN"
    assert len(team.platform.ollama.requests_to("/api/pull")) == pulls_before
    assert team.platform.ollama.requests_to("/api/delete") == []


async def test_another_tenant_cannot_watch_the_job(team: Team) -> None:
    platform = team.platform
    job = await platform.install(team.owner.token, team.workspace_id, "llama2")
    stranger = await platform.gateway.register("Other Co")

    async with platform.websocket(stranger.token) as ws:
        messages = await subscription_messages(ws, PROGRESS, {"job": job["id"]})

    assert messages[-1]["type"] == "error"
    assert messages[-1]["payload"][0]["extensions"]["code"] == "NOT_FOUND"
    assert events(messages) == []


async def test_remove_deletes_the_model_from_ollama(team: Team) -> None:
    platform = team.platform
    job = await platform.install(team.owner.token, team.workspace_id, "llama2")
    assert (await platform.wait_for_job(team.owner.token, job["id"]))["status"] == "READY"

    removed = (await platform.gateway.data(REMOVE, team.owner.token, model="llama2", ws=team.workspace_id))[
        "removeModel"
    ]

    assert removed == {"id": "llama2", "installed": False}
    assert "llama2:latest" not in platform.ollama.installed
    eligible = await platform.eligible(team.editor.token, team.workspace_id)
    assert eligible["llama2"]["reason"] == "NOT_INSTALLED"


async def test_unsubscribing_mid_download_leaves_the_job_running(team: Team) -> None:
    platform = team.platform
    platform.ollama.pull_mode, platform.ollama.delay = "slow", 0.05
    try:
        job = await platform.install(team.owner.token, team.workspace_id, "mistral")
        async with platform.websocket(team.owner.token) as ws:
            await ws.send(
                json.dumps(
                    {
                        "id": "w",
                        "type": "subscribe",
                        "payload": {"query": PROGRESS, "variables": {"job": job["id"]}},
                    }
                )
            )
            first = json.loads(await ws.recv())
            assert first["type"] == "next"
            await ws.send(json.dumps({"id": "w", "type": "complete"}))
        stored = await platform.wait_for_job(team.owner.token, job["id"])
    finally:
        platform.ollama.pull_mode, platform.ollama.delay = None, 0.0

    assert stored["status"] == "READY"
    assert stored["progress"]["percent"] == 100
    assert "mistral:latest" in platform.ollama.installed
