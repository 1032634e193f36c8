"""The whole platform in this process (team.py's `team_gateway`) in front of a fake OpenAI, and the GraphQL
operations of the chat tests.

The platform's OpenAI key is the fake's, so the catalog's OpenAI models (gpt-4o-mini for every plan, gpt-4
from pro) stream real SSE from it; the fake Ollama and the other platform keys are as in the model tests.
`billing_apart_platform` is the same platform with billing on a gRPC server of its own, for tests that take
billing down.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection

from db import migrate
from db.seed import seed
from geko.billing.v1 import billing_pb2, billing_pb2_grpc
from graphql_gateway.app import create_app
from services.embedded import Platform
from services.events.relay import OutboxRelay
from services.hosting import (
    HttpServer,
    registrations,
    reserved_loopback_port,
    token_verifier,
    with_service_addresses,
)
from services.runtime.ids import new_id
from services.runtime.server import GrpcServer, ServiceDeps
from services.runtime.settings import SERVICES
from tests.fakes.ollama_server import OllamaServer
from tests.fakes.openai_server import API_KEY, OpenAIServer
from tests.integration.gateway.models_platform import LOCAL_LIBRARY, ModelPlatform
from tests.integration.gateway.team import Member, TeamGateway, team_gateway, team_settings

T = TypeVar("T")

EVENT_FIELDS = """
  __typename
  ... on ChatStarted { seq turnId conversationId messageId model }
  ... on ChatDelta { seq text }
  ... on ChatCompleted {
    seq turnId messageId finishReason costMicros currency
    usage { inputTokens outputTokens totalTokens }
    quota { plan tokensUsed tokensLimit requestsUsed requestsLimit percentUsed warning resetAt upgradeUrl }
  }
  ... on ChatFailed {
    seq turnId code message upgradeUrl retryAfter costMicros
    usage { inputTokens outputTokens totalTokens }
    quota { plan tokensUsed requestsUsed warning }
  }
"""
CHAT = f"subscription($input: ChatInput!) {{ chat(input: $input) {{ {EVENT_FIELDS} }} }}"
SEND = """mutation($input: ChatInput!) {
  sendMessage(input: $input) {
    turnId conversationId messageId text finishReason costMicros
    usage { inputTokens outputTokens totalTokens }
    quota { plan tokensUsed tokensLimit warning percentUsed }
  }
}"""
CANCEL = "mutation($id: ID!) { cancelChat(turnId: $id) { turnId cancelled } }"
QUOTA = """query($id: ID!) {
  workspace(id: $id) { quota { plan tokensUsed tokensReserved tokensLimit requestsUsed warning percentUsed } }
}"""
USAGE = """query($id: ID!) {
  workspace(id: $id) { usage { tokens inputTokens outputTokens requests costMicros } }
}"""
MESSAGES = """query($id: ID!) {
  conversation(id: $id) {
    id title
    messages(first: 50) { edges { node { id role content status model inputTokens outputTokens turnId } } }
  }
}"""


@dataclass
class ChatPlatform(ModelPlatform):
    openai: OpenAIServer

    async def team(self, tenant_name: str) -> tuple[Member, str]:
        """A new tenant (on the free plan): its owner and a workspace of theirs."""
        owner = await self.gateway.register(tenant_name)
        return owner, await self.gateway.create_workspace(owner.token, "Lab")

    async def send(self, token: str, **input: Any) -> httpx.Response:
        """`sendMessage` over HTTP: the whole response, for its headers and extensions."""
        return await self.gateway.http.post(
            "/graphql",
            json={"query": SEND, "variables": {"input": input}},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def usage(self, token: str, workspace_id: str) -> dict[str, Any]:
        """The workspace's usage this month, from the ledger."""
        usage: dict[str, Any] = (await self.gateway.data(USAGE, token, id=workspace_id))["workspace"]["usage"]
        return usage

    async def commit_usage(
        self,
        token: str,
        workspace_id: str,
        output_tokens: int,
        *,
        input_tokens: int = 0,
        model: str = "gpt-4o-mini",
        key: str | None = None,
    ) -> billing_pb2.CommitUsageResponse:
        """Usage committed straight to BillingService as the user (no reservation), under idempotency key
        `key` (a new one when None)."""
        request = billing_pb2.CommitUsageRequest(
            idempotency_key=key or new_id(),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model_id=model,
            workspace_id=workspace_id,
        )
        billing = self.deps.channels.stub("billing", billing_pb2_grpc.BillingServiceStub)
        response: billing_pb2.CommitUsageResponse = await billing.CommitUsage(
            request, metadata=(("authorization", f"Bearer {token}"),)
        )
        return response

    async def subscribe(self, ws: ClientConnection, variables: dict[str, Any], op_id: str = "1") -> None:
        payload = {"query": CHAT, "variables": variables}
        await ws.send(json.dumps({"id": op_id, "type": "subscribe", "payload": payload}))

    async def chat(self, token: str, **input: Any) -> list[dict[str, Any]]:
        """One turn over a fresh WebSocket: its events (or the subscription's errors as one entry)."""
        async with self.websocket(token) as ws:
            await self.subscribe(ws, {"input": input})
            return await collect(ws)

    async def quota(self, token: str, workspace_id: str) -> dict[str, Any]:
        quota: dict[str, Any] = (await self.gateway.data(QUOTA, token, id=workspace_id))["workspace"]["quota"]
        return quota

    async def messages(self, token: str, conversation_id: str) -> list[dict[str, Any]]:
        data = await self.gateway.data(MESSAGES, token, id=conversation_id)
        return [edge["node"] for edge in data["conversation"]["messages"]["edges"]]

    async def wait_for_provider_disconnect(self, before: int) -> list[str]:
        """The fake OpenAI's abandoned answers once there is one more than `before` (count them first)."""

        async def seen() -> list[str]:
            return list(self.openai.disconnects)

        return await eventually(seen, lambda disconnects: len(disconnects) > before, timeout=10)

    async def wait_for_settled(self, token: str, workspace_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The quota once no reservation is held (turns settle after their last event reaches a client)."""
        return await eventually(
            lambda: self.quota(token, workspace_id), lambda quota: quota["tokensReserved"] == 0, timeout
        )


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float = 20.0
) -> T:
    """Polls `probe()` until `done(result)`; fails with the last result after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if done(result):
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not there after {timeout} s: {result}")
        await asyncio.sleep(0.05)


async def collect(ws: ClientConnection, op_id: str = "1", limit: int | None = None) -> list[dict[str, Any]]:
    """The operation's events until it completes; an `error` message is returned as {"errors": [...]}.
    With `limit`, stops after that many events (the operation keeps running)."""
    events: list[dict[str, Any]] = []
    while limit is None or len(events) < limit:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message.get("type") == "ping":
            await ws.send(json.dumps({"type": "pong"}))
            continue
        assert message.get("id") == op_id, message
        if message["type"] == "complete":
            break
        if message["type"] == "error":
            events.append({"errors": message["payload"]})
            break
        payload = message["payload"]
        if payload.get("errors"):
            events.append({"errors": payload["errors"]})
            continue
        events.append(payload["data"]["chat"])
    return events


def streamed_text(events: list[dict[str, Any]]) -> str:
    return "".join(event["text"] for event in events if event.get("__typename") == "ChatDelta")


@asynccontextmanager
async def fake_providers() -> AsyncIterator[tuple[OpenAIServer, OllamaServer, dict[str, Any]]]:
    """The fake OpenAI (gpt-4o-mini, gpt-4, gpt-4o) and Ollama, and the settings that point GEKO at them."""
    openai = OpenAIServer(models=("gpt-4o-mini", "gpt-4", "gpt-4o"))
    ollama = OllamaServer(library=LOCAL_LIBRARY, installed=())
    await openai.start()
    await ollama.start()
    try:
        yield (
            openai,
            ollama,
            {
                "ollama_url": ollama.base_url,
                "openai_base_url": openai.api_base,
                "openai_api_key": SecretStr(API_KEY),
                "anthropic_api_key": SecretStr("sk-platform-anthropic"),
                "deepseek_api_key": SecretStr("sk-platform-deepseek"),
            },
        )
    finally:
        await ollama.stop()
        await openai.stop()


@asynccontextmanager
async def chat_platform(
    database_url: str, data_dir: Path, redis_url: str | None = None, **overrides: Any
) -> AsyncIterator[ChatPlatform]:
    async with (
        fake_providers() as (openai, ollama, providers),
        team_gateway(database_url, data_dir, redis_url, **providers, **overrides) as gateway,
    ):
        deps = ServiceDeps.from_settings(gateway.platform.settings)
        try:
            yield ChatPlatform(gateway, ollama, deps, openai)
        finally:
            await deps.aclose()


class BillingServer:
    """BillingService alone on a gRPC server at a fixed port, which a test stops and starts again."""

    def __init__(self, deps: ServiceDeps, port: int) -> None:
        self._deps = deps
        self.port = port
        self._server: GrpcServer | None = None

    async def start(self) -> None:
        self._server = GrpcServer(
            registrations(["billing"], self._deps),
            token_verifier=token_verifier(["billing"], self._deps),
            settings=self._deps.settings,
        )
        await self._server.start(f"127.0.0.1:{self.port}")

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0)
            self._server = None


@asynccontextmanager
async def billing_apart_platform(
    database_url: str, data_dir: Path, redis_url: str | None = None, **overrides: Any
) -> AsyncIterator[tuple[ChatPlatform, BillingServer]]:
    """The embedded platform's layout (run_embedded) with billing on a gRPC server of its own, so that a test
    can take billing down while chat, the outbox relay and the gateway keep running. Everything else is as in
    `chat_platform`: one process, one database, real gRPC and HTTP on loopback."""
    data_dir.mkdir(parents=True, exist_ok=True)
    others = [service for service in SERVICES if service != "billing"]
    async with fake_providers() as (openai, ollama, providers), AsyncExitStack() as stack:
        settings = team_settings(database_url, data_dir, redis_url, **providers, **overrides)
        await migrate.upgrade(settings.effective_database_url)
        grpc_port = stack.enter_context(reserved_loopback_port())
        billing_port = stack.enter_context(reserved_loopback_port())
        settings = with_service_addresses(settings, f"127.0.0.1:{grpc_port}").model_copy(
            update={"billing_addr": f"127.0.0.1:{billing_port}"}
        )
        deps = ServiceDeps.from_settings(settings)
        stack.push_async_callback(deps.aclose)
        async with deps.database.transaction() as session:
            await seed(session)
        server = GrpcServer(
            registrations(others, deps), token_verifier=token_verifier(others, deps), settings=settings
        )
        await server.start(f"127.0.0.1:{grpc_port}")
        stack.push_async_callback(server.stop, 0)
        billing = BillingServer(deps, billing_port)
        await billing.start()
        stack.push_async_callback(billing.stop)
        relay = OutboxRelay(deps.database, deps.channels, settings, SERVICES)
        await relay.start()
        stack.push_async_callback(relay.stop)
        app = create_app(settings, channels=deps.channels, database=deps.database, backends=deps.backends)
        http = HttpServer(app, "127.0.0.1", 0, grace_seconds=0)
        await http.start()
        stack.push_async_callback(http.stop)
        url = f"http://127.0.0.1:{http.port}"
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
        gateway = TeamGateway(Platform(settings, grpc_port, http.port, url, None), client)
        yield ChatPlatform(gateway, ollama, deps, openai), billing
