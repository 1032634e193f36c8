"""The whole platform in this process (as in team.py) in front of a fake Ollama, with platform keys for the
cloud providers, and the GraphQL operations of the model tests.

The fake Ollama can pull the catalog's two local models, llama2 and mistral, and has neither installed. The
platform's OpenAI, Anthropic and DeepSeek keys are set (to values no test looks for), so a cloud model's
usability turns on plan, settings and permissions only.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect

from services.auth import admin
from services.runtime.server import ServiceDeps
from tests.fakes.ollama_server import OllamaServer
from tests.integration.gateway.team import Member, TeamGateway, team_gateway

LOCAL_LIBRARY = {"llama2": (3_000_000, 40_000, 120), "mistral": (4_000_000, 9_000)}
CLOUD_MODELS = {"gpt-4o-mini", "gpt-4", "claude-haiku", "claude-3-5-sonnet", "deepseek-r1"}

ELIGIBLE = """query($ws: ID!) {
  eligibleModels(workspaceId: $ws) { model { id name provider isLocal minPlan } usable reason requiredPlan }
}"""
WORKSPACE_MODELS = """query($id: ID!) {
  workspace(id: $id) { models { model { id } enabled costOverrideMicros maxTokensOverride } }
}"""
SET_WORKSPACE_MODELS = """mutation($input: SetWorkspaceModelsInput!) {
  setWorkspaceModels(input: $input) { model { id } enabled }
}"""
INSTALL = """mutation($model: ID!, $ws: ID!) {
  installModel(modelId: $model, workspaceId: $ws) { id modelId status }
}"""
INSTALL_JOB = "query($id: ID!) { installJob(id: $id) { id status progress { percent error } } }"
PROGRESS = """subscription($job: ID!) {
  modelInstallProgress(jobId: $job) { jobId status percent completedBytes totalBytes error }
}"""


@dataclass
class ModelPlatform:
    gateway: TeamGateway
    ollama: OllamaServer
    deps: ServiceDeps  # the admin commands' view of the platform (`geko admin set-plan`)

    @property
    def ws_url(self) -> str:
        return self.gateway.platform.url.replace("http://", "ws://") + "/graphql"

    async def set_plan(self, member: Member, plan: str) -> None:
        await admin.set_plan(self.deps, member.email, plan)

    async def eligible(self, token: str, workspace_id: str) -> dict[str, dict[str, Any]]:
        """eligibleModels by model id."""
        data = await self.gateway.data(ELIGIBLE, token, ws=workspace_id)
        return {entry["model"]["id"]: entry for entry in data["eligibleModels"]}

    async def usable(self, token: str, workspace_id: str) -> set[str]:
        return {model_id for model_id, e in (await self.eligible(token, workspace_id)).items() if e["usable"]}

    async def install(self, token: str, workspace_id: str, model_id: str) -> dict[str, Any]:
        job: dict[str, Any] = (await self.gateway.data(INSTALL, token, model=model_id, ws=workspace_id))[
            "installModel"
        ]
        return job

    async def wait_for_job(self, token: str, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """Polls installJob until it is READY or ERROR."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            job: dict[str, Any] = (await self.gateway.data(INSTALL_JOB, token, id=job_id))["installJob"]
            if job["status"] in ("READY", "ERROR"):
                return job
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"install job still {job['status']}")
            await asyncio.sleep(0.05)

    @asynccontextmanager
    async def websocket(self, token: str) -> AsyncIterator[ClientConnection]:
        """A graphql-transport-ws connection, initialised and acknowledged, signed in with `token`."""
        async with connect(self.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=5) as ws:
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv()) == {"type": "connection_ack"}
            yield ws


async def subscription_messages(
    ws: ClientConnection, query: str, variables: dict[str, Any], op_id: str = "1"
) -> list[dict[str, Any]]:
    """Subscribes and collects messages until the server completes the operation or answers an error."""
    await ws.send(
        json.dumps({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})
    )
    messages: list[dict[str, Any]] = []
    while True:
        raw = await asyncio.wait_for(ws.recv(), 30)
        message = json.loads(raw)
        if message.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        messages.append(message)
        if message["type"] in ("complete", "error"):
            return messages


@asynccontextmanager
async def model_platform(
    database_url: str, data_dir: Path, redis_url: str | None = None, **overrides: Any
) -> AsyncIterator[ModelPlatform]:
    ollama = await OllamaServer(library=LOCAL_LIBRARY, installed=()).start()
    try:
        async with team_gateway(
            database_url,
            data_dir,
            redis_url,
            ollama_url=ollama.base_url,
            openai_api_key=SecretStr("sk-platform-openai"),
            anthropic_api_key=SecretStr("sk-platform-anthropic"),
            deepseek_api_key=SecretStr("sk-platform-deepseek"),
            **overrides,
        ) as gateway:
            deps = ServiceDeps.from_settings(gateway.platform.settings)
            try:
                yield ModelPlatform(gateway, ollama, deps)
            finally:
                await deps.aclose()
    finally:
        await ollama.stop()
