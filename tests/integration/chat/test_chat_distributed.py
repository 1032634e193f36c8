"""Chat across processes (PostgreSQL + Redis): every service a `geko serve` process of its own, two chat
processes and two gateways, wired only by GEKO_* settings, in front of the fake OpenAI of this test process.

Gateway A talks to chat process 1, gateway B to chat process 2, so a turn resumed or cancelled through B is
served from the shared event log, owner record and cancel channel, never from the memory of the process that
runs it.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection, connect

from geko.billing.v1 import billing_pb2, billing_pb2_grpc
from geko.chat.v1 import chat_pb2, chat_pb2_grpc
from services.runtime.ids import new_id
from services.runtime.settings import SERVICES
from tests.e2e.processes import GEKO, GekoProcess, free_port, geko_env, start_geko, stop_all, wait_until
from tests.fakes.http_fake import Script
from tests.fakes.openai_server import API_KEY, OpenAIServer
from tests.integration.auth.harness import SECRET_KEY, unique_email
from tests.integration.chat.harness import CANCEL, CHAT, MESSAGES, QUOTA, collect, streamed_text
from tests.integration.gateway.team import CREATE_WORKSPACE, PASSWORD, REGISTER

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

MODEL = "gpt-4o-mini"
# A turn nobody watches is cut this long after its last reader left (the default is 10 s).
GRACE_SECONDS = 3.0
USAGE = "query($id: ID!) { workspace(id: $id) { usage { tokens inputTokens outputTokens requests } } }"
FREE_TOKENS = 50_000
TERMINAL = {"ChatCompleted", "ChatFailed"}


def answer(words: int) -> str:
    return " ".join(f"w{i}" for i in range(words))


@dataclass
class Tenant:
    """A freshly registered owner and a new workspace of theirs (its own free quota)."""

    token: str
    user_id: str
    workspace_id: str

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")]


@dataclass
class Topology:
    openai: OpenAIServer
    gateways: tuple[httpx.AsyncClient, httpx.AsyncClient]  # A (→ chat 1), B (→ chat 2)
    billing: billing_pb2_grpc.BillingServiceStub
    chats: tuple[chat_pb2_grpc.ChatServiceStub, chat_pb2_grpc.ChatServiceStub]

    async def graphql(self, gateway: int, query: str, token: str | None = None, **variables: Any) -> Any:
        """The whole response body of one operation POSTed to gateway A (0) or B (1)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.gateways[gateway].post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = response.json()
        assert response.status_code == 200, body
        return body

    async def data(self, gateway: int, query: str, token: str | None = None, **variables: Any) -> Any:
        """The data of an operation that must succeed."""
        body = await self.graphql(gateway, query, token, **variables)
        assert "errors" not in body, body
        return body["data"]

    async def tenant(self) -> Tenant:
        new_user = {"email": unique_email("chat"), "password": PASSWORD, "name": "Dora", "tenantName": "Dist"}
        session = (await self.data(0, REGISTER, input=new_user))["register"]
        created = await self.data(
            1, CREATE_WORKSPACE, session["accessToken"], input={"name": "Chat", "icon": "💬"}
        )
        return Tenant(session["accessToken"], session["user"]["id"], created["createWorkspace"]["id"])

    @asynccontextmanager
    async def websocket(self, gateway: int, token: str) -> AsyncIterator[ClientConnection]:
        async with connect(
            self.ws_url(gateway), subprotocols=["graphql-transport-ws"], open_timeout=10
        ) as ws:
            await init(ws, token)
            yield ws

    def ws_url(self, gateway: int) -> str:
        return str(self.gateways[gateway].base_url).replace("http://", "ws://").rstrip("/") + "/graphql"

    async def chat(self, gateway: int, token: str, **input: Any) -> list[dict[str, Any]]:
        async with self.websocket(gateway, token) as ws:
            await subscribe(ws, input)
            return await collect(ws)

    async def settled_quota(self, tenant: Tenant, timeout: float = 20.0) -> dict[str, Any]:
        """The quota once no reservation is held."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            quota: dict[str, Any] = (await self.data(0, QUOTA, tenant.token, id=tenant.workspace_id))[
                "workspace"
            ]["quota"]
            if quota["tokensReserved"] == 0:
                return quota
            assert asyncio.get_running_loop().time() < deadline, f"reservations still held: {quota}"
            await asyncio.sleep(0.05)

    async def usage(self, tenant: Tenant) -> dict[str, Any]:
        usage: dict[str, Any] = (await self.data(1, USAGE, tenant.token, id=tenant.workspace_id))[
            "workspace"
        ]["usage"]
        return usage

    async def messages(self, tenant: Tenant, conversation_id: str) -> list[dict[str, Any]]:
        data = await self.data(1, MESSAGES, tenant.token, id=conversation_id)
        return [edge["node"] for edge in data["conversation"]["messages"]["edges"]]


async def init(ws: ClientConnection, token: str) -> None:
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    assert json.loads(await ws.recv()) == {"type": "connection_ack"}


async def subscribe(ws: ClientConnection, input: dict[str, Any]) -> None:
    payload = {"query": CHAT, "variables": {"input": input}}
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [event.get("__typename", "errors") for event in events]


def ends_once(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The terminal event, checked to be the only one, the last one, and of `kind`."""
    assert [k for k in kinds(events) if k in TERMINAL] == [kind], events
    assert kinds(events)[-1] == kind, events
    return events[-1]


@asynccontextmanager
async def postgres_database(pg_url: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database for this module (`fresh_pg_database` is per test; startup is slow)."""
    name = "geko_chatdist_" + new_id().replace("-", "")[:16]
    admin = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
            await conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def gateway_sees_all(base_url: str) -> bool:
    checks = httpx.get(f"{base_url}/health", timeout=5).json()["checks"]
    return all(checks.get(service) == "SERVING" for service in SERVICES)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def topology(
    tmp_path_factory: pytest.TempPathFactory, pg_url: str, redis_url: str
) -> AsyncIterator[Topology]:
    workdir: Path = tmp_path_factory.mktemp("chat-distributed")
    openai = await OpenAIServer(models=("gpt-4o-mini", "gpt-4")).start()
    ports = {service: free_port() for service in SERVICES}
    second_chat, gateway_ports = free_port(), (free_port(), free_port())
    processes: list[GekoProcess] = []
    try:
        async with postgres_database(pg_url) as database_url:
            env = geko_env(
                database_url=database_url,
                redis_url=redis_url.rsplit("/", 1)[0] + "/12",
                data_dir=str(workdir / "data"),
                secret_key=SECRET_KEY,
                openai_base_url=openai.api_base,
                openai_api_key=API_KEY,
                login_rate_per_ip="1000",
                chat_resume_grace_seconds=str(GRACE_SECONDS),
                log_json="true",
                **{f"{service}_addr": f"127.0.0.1:{port}" for service, port in ports.items()},
            )
            migrate = subprocess.run(
                [str(GEKO), "migrate"], env=env, cwd=workdir, capture_output=True, timeout=120
            )
            assert migrate.returncode == 0, migrate.stdout + migrate.stderr
            for service in SERVICES:
                processes.append(start_geko(["serve", service], env=env, cwd=workdir, name=service))
            processes.append(
                start_geko(["serve", "chat", "--port", str(second_chat)], env=env, cwd=workdir, name="chat2")
            )
            for name, port, chat_port in (
                ("A", gateway_ports[0], ports["chat"]),
                ("B", gateway_ports[1], second_chat),
            ):
                gateway_env = {**env, "GEKO_CHAT_ADDR": f"127.0.0.1:{chat_port}"}
                processes.append(
                    start_geko(
                        ["serve", "gateway", "--port", str(port)],
                        env=gateway_env,
                        cwd=workdir,
                        name=f"gateway{name}",
                    )
                )
            urls = [f"http://127.0.0.1:{port}" for port in gateway_ports]
            await asyncio.to_thread(
                wait_until,
                lambda: all(gateway_sees_all(url) for url in urls),
                processes=processes,
                what="every service SERVING behind both gateways",
            )
            async with (
                httpx.AsyncClient(base_url=urls[0], timeout=30) as gateway_a,
                httpx.AsyncClient(base_url=urls[1], timeout=30) as gateway_b,
                grpc.aio.insecure_channel(f"127.0.0.1:{ports['billing']}") as billing,
                grpc.aio.insecure_channel(f"127.0.0.1:{ports['chat']}") as chat_1,
                grpc.aio.insecure_channel(f"127.0.0.1:{second_chat}") as chat_2,
            ):
                yield Topology(
                    openai,
                    (gateway_a, gateway_b),
                    billing_pb2_grpc.BillingServiceStub(billing),
                    (chat_pb2_grpc.ChatServiceStub(chat_1), chat_pb2_grpc.ChatServiceStub(chat_2)),
                )
            exit_codes = await asyncio.to_thread(stop_all, processes)
            assert exit_codes == [0] * len(processes), {
                p.log_path.name: p.output()[-2000:] for p in processes
            }
    finally:
        stop_all(processes)
        await openai.stop()


async def test_concurrent_chats_never_pass_the_token_limit(topology: Topology) -> None:
    # Given a free workspace brought to 48,000 of its 50,000 tokens by one committed request
    tenant = await topology.tenant()
    committed = await topology.billing.CommitUsage(
        billing_pb2.CommitUsageRequest(
            idempotency_key=new_id(),
            workspace_id=tenant.workspace_id,
            model_id=MODEL,
            input_tokens=48_000,
            output_tokens=0,
        ),
        metadata=tenant.metadata,
    )
    assert (committed.record.user_id, committed.record.input_tokens) == (tenant.user_id, 48_000)
    assert (committed.quota.tokens_used, committed.quota.tokens_limit) == (48_000, FREE_TOKENS)
    assert committed.quota.requests_used == 1
    # and a fake that answers slowly enough for turns to overlap (each ~110 tokens reserved, 60 used)
    topology.openai.script = Script(
        text=answer(40), input_tokens=20, output_tokens=40, mode="slow", delay=0.01
    )
    provider_calls = len(topology.openai.requests)

    # When 50 chats start at once, alternating the two gateways
    results = await asyncio.gather(
        *(
            topology.chat(
                turn % 2,
                tenant.token,
                workspaceId=tenant.workspace_id,
                model=MODEL,
                message=f"race {turn}",
                maxTokens=100,
            )
            for turn in range(50)
        )
    )

    # Then each either streamed to completion or was denied, with exactly one terminal event
    completed, denied = [], []
    for events in results:
        if kinds(events) == ["ChatFailed"]:
            assert events[0]["code"] == "QUOTA_EXCEEDED", events
            assert events[0]["upgradeUrl"], events
            denied.append(events[0])
            continue
        done = ends_once(events, "ChatCompleted")
        assert kinds(events)[0] == "ChatStarted", events
        assert set(kinds(events)[1:-1]) == {"ChatDelta"}, events
        assert done["finishReason"] == "STOP", events
        assert streamed_text(events) == answer(40)
        completed.append(done)
    assert len(completed) + len(denied) == 50
    assert completed, "no chat got through"
    assert denied, "no chat was denied"

    # and the tokens committed stayed within the limit, the quota agreeing with the ledger
    quota = await topology.settled_quota(tenant)
    usage = await topology.usage(tenant)
    turn_tokens = sum(event["usage"]["totalTokens"] for event in completed)
    assert quota["tokensUsed"] <= FREE_TOKENS
    assert quota["tokensUsed"] == usage["tokens"] == 48_000 + turn_tokens
    assert quota["requestsUsed"] == usage["requests"] == 1 + len(completed)
    # and denied turns never reached the provider
    assert len(topology.openai.requests) - provider_calls == len(completed)


async def dropped_after_ten_deltas(topology: Topology, tenant: Tenant, chat: dict[str, Any]) -> list[Any]:
    """Starts a turn through gateway A, reads ChatStarted and 10 deltas, then drops the connection
    abruptly (no close handshake, no `complete`); returns the events read."""
    ws = await connect(topology.ws_url(0), subprotocols=["graphql-transport-ws"], open_timeout=10)
    await init(ws, tenant.token)
    await subscribe(ws, chat)
    before = await collect(ws, limit=11)
    assert kinds(before) == ["ChatStarted"] + ["ChatDelta"] * 10, before
    ws.transport.abort()
    await ws.wait_closed()
    return before


async def test_a_turn_resumes_on_the_other_gateway_without_gap_or_duplicate(topology: Topology) -> None:
    # Given a turn streaming one token per delta through gateway A, longer than the grace period after
    # its client drops (so only the resumed reader on the other chat process keeps it alive)
    tenant = await topology.tenant()
    full = answer(60)
    topology.openai.script = Script(text=full, input_tokens=15, output_tokens=60, mode="slow", delay=0.1)
    chat = {"workspaceId": tenant.workspace_id, "model": MODEL, "message": "tell me sixty words"}

    # When the connection drops after 10 deltas and the client resumes on gateway B after its last seq
    before = await dropped_after_ten_deltas(topology, tenant, chat)
    started, last_seq = before[0], before[-1]["seq"]
    await asyncio.sleep(0.3)
    resume = {"turnId": started["turnId"], "afterSeq": last_seq}
    after = await topology.chat(1, tenant.token, **chat, resume=resume)

    # Then it gets the rest, no gap and no duplicate, and the one terminal event
    assert after[0]["seq"] == last_seq + 1, after
    seqs = [event["seq"] for event in after]
    assert seqs == sorted(set(seqs)), seqs
    assert streamed_text(before) + streamed_text(after) == full
    done = ends_once(after, "ChatCompleted")
    assert set(kinds(after)[:-1]) <= {"ChatDelta"}, after
    assert done["finishReason"] == "STOP"
    assert done["usage"] == {"inputTokens": 15, "outputTokens": 60, "totalTokens": 75}
    # and the answer was stored whole and billed once
    messages = await topology.messages(tenant, started["conversationId"])
    assert [(m["role"], m["status"]) for m in messages] == [("USER", "COMPLETE"), ("ASSISTANT", "COMPLETE")]
    assert messages[1]["content"] == full
    assert messages[1]["turnId"] == started["turnId"]
    await topology.settled_quota(tenant)
    usage = await topology.usage(tenant)
    assert (usage["requests"], usage["tokens"]) == (1, 75)


async def read_events(call: Any) -> list[chat_pb2.ChatEvent]:
    return [response.event async for response in call]


async def test_another_chat_process_replays_a_turn_from_the_event_log(topology: Topology) -> None:
    # Given a turn running on chat process 1, called over gRPC
    tenant = await topology.tenant()
    topology.openai.script = Script(
        text=answer(30), input_tokens=9, output_tokens=30, mode="slow", delay=0.03
    )
    chat_1, chat_2 = topology.chats
    request = chat_pb2.StreamChatRequest(
        workspace_id=tenant.workspace_id, model_id=MODEL, message="replay me", max_output_tokens=100
    )
    call = chat_1.StreamChat(request, metadata=tenant.metadata)
    responses = aiter(call)
    first = [(await anext(responses)).event for _ in range(3)]
    assert [event.WhichOneof("kind") for event in first] == ["started", "delta", "delta"]
    turn_id = first[0].turn_id

    # When chat process 2 is asked for it while it runs, and again once it has finished
    resume = chat_pb2.ResumeChatRequest(turn_id=turn_id, after_sequence=0)
    rest, while_running = await asyncio.gather(
        read_events(responses), read_events(chat_2.ResumeChat(resume, metadata=tenant.metadata))
    )
    direct = first + rest
    after_finish = await read_events(chat_2.ResumeChat(resume, metadata=tenant.metadata))
    tail = await read_events(
        chat_2.ResumeChat(
            chat_pb2.ResumeChatRequest(turn_id=turn_id, after_sequence=2), metadata=tenant.metadata
        )
    )

    # Then both replays are the turn's own events, same seqs, ending with its terminal event
    assert [event.sequence for event in direct] == list(range(1, len(direct) + 1))
    assert direct[-1].WhichOneof("kind") == "completed"
    assert "".join(event.delta.text for event in direct) == answer(30)
    assert while_running == direct
    assert after_finish == direct
    assert tail == direct[2:]

    # and to anyone else the turn does not exist
    stranger = await topology.tenant()
    for chat in topology.chats:
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await read_events(chat.ResumeChat(resume, metadata=stranger.metadata))
        assert denied.value.code() == grpc.StatusCode.NOT_FOUND


async def test_cancel_through_gateway_b_stops_a_turn_streaming_through_gateway_a(topology: Topology) -> None:
    # Given a long turn streaming through gateway A
    tenant, stranger = await topology.tenant(), await topology.tenant()
    topology.openai.script = Script(
        text=answer(200), input_tokens=11, output_tokens=200, mode="slow", delay=0.05
    )
    chat = {"workspaceId": tenant.workspace_id, "model": MODEL, "message": "go on and on"}
    async with topology.websocket(0, tenant.token) as ws:
        await subscribe(ws, chat)
        events = await collect(ws, limit=3)
        assert kinds(events) == ["ChatStarted", "ChatDelta", "ChatDelta"], events
        started = events[0]

        # (to another tenant's user it does not exist: neither cancelled nor resumed, through gateway B)
        body = await topology.graphql(1, CANCEL, stranger.token, id=started["turnId"])
        assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"], body
        resume = {"turnId": started["turnId"], "afterSeq": 0}
        peeked = await topology.chat(1, stranger.token, **chat, resume=resume)
        assert [error["extensions"]["code"] for error in peeked[0]["errors"]] == ["NOT_FOUND"], peeked

        # When its owner cancels it through gateway B
        cancelled = await topology.data(1, CANCEL, tenant.token, id=started["turnId"])

        # Then the stream on A ends as CANCELLED
        events += await collect(ws)
    assert cancelled["cancelChat"] == {"turnId": started["turnId"], "cancelled": True}
    done = ends_once(events, "ChatCompleted")
    assert done["finishReason"] == "CANCELLED"
    text = streamed_text(events)
    assert text, "nothing was streamed before the cancel"
    assert len(text) < len(answer(200))
    # and what was produced is stored as CUT and billed once
    messages = await topology.messages(tenant, started["conversationId"])
    assert [(m["role"], m["status"]) for m in messages] == [("USER", "COMPLETE"), ("ASSISTANT", "CUT")]
    assert messages[1]["content"] == text
    quota = await topology.settled_quota(tenant)
    usage = await topology.usage(tenant)
    assert (usage["requests"], usage["tokens"]) == (1, done["usage"]["totalTokens"])
    assert (quota["requestsUsed"], quota["tokensUsed"]) == (1, done["usage"]["totalTokens"])
    # and cancelling a finished turn changes nothing
    again = await topology.data(1, CANCEL, tenant.token, id=started["turnId"])
    assert again["cancelChat"]["cancelled"] is False


async def test_a_dropped_turn_nobody_resumes_is_cut_after_the_grace_period(topology: Topology) -> None:
    # Given a turn that would stream for 7.5 s, through gateway A
    tenant = await topology.tenant()
    full = answer(150)
    topology.openai.script = Script(text=full, input_tokens=13, output_tokens=150, mode="slow", delay=0.05)
    chat = {"workspaceId": tenant.workspace_id, "model": MODEL, "message": "150 words please"}
    disconnects = len(topology.openai.disconnects)

    # When its client drops after 10 deltas and nobody comes back
    before = await dropped_after_ten_deltas(topology, tenant, chat)
    started = before[0]
    messages = await wait_for_answer(topology, tenant, started["conversationId"])

    # Then after the grace period the provider call is stopped and what was produced is stored as CUT
    assert [(m["role"], m["status"]) for m in messages] == [("USER", "COMPLETE"), ("ASSISTANT", "CUT")]
    stored = messages[1]["content"]
    assert stored.startswith(streamed_text(before))
    assert len(stored) < len(full)
    assert len(topology.openai.disconnects) == disconnects + 1
    # and billed once for it
    quota = await topology.settled_quota(tenant)
    usage = await topology.usage(tenant)
    assert usage["requests"] == quota["requestsUsed"] == 1
    assert usage["tokens"] == quota["tokensUsed"] == messages[1]["inputTokens"] + messages[1]["outputTokens"]
    # and the whole turn can still be replayed from the other gateway, ending CANCELLED
    replay = await topology.chat(1, tenant.token, **chat, resume={"turnId": started["turnId"], "afterSeq": 0})
    assert replay[0] == started
    assert streamed_text(replay) == stored
    done = ends_once(replay, "ChatCompleted")
    assert done["finishReason"] == "CANCELLED"
    assert done["usage"]["totalTokens"] == usage["tokens"]


async def wait_for_answer(
    topology: Topology, tenant: Tenant, conversation_id: str, timeout: float = GRACE_SECONDS + 15
) -> list[dict[str, Any]]:
    """The conversation's messages once the turn's answer is stored (a new conversation may be NOT_FOUND
    until then: it is stored with the turn's messages)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = await topology.graphql(1, MESSAGES, tenant.token, id=conversation_id)
        if body["data"]["conversation"] is None:
            assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"], body
        else:
            messages = [edge["node"] for edge in body["data"]["conversation"]["messages"]["edges"]]
            if any(message["role"] == "ASSISTANT" for message in messages):
                return messages
        assert asyncio.get_running_loop().time() < deadline, f"the turn stored no answer: {body}"
        await asyncio.sleep(0.1)


async def test_a_retried_start_on_the_other_gateway_replays_the_turn_once(topology: Topology) -> None:
    # Given a turn started with a client-chosen turnId through gateway A, still streaming
    tenant = await topology.tenant()
    topology.openai.script = Script(
        text=answer(30), input_tokens=8, output_tokens=30, mode="slow", delay=0.03
    )
    provider_calls = len(topology.openai.requests)
    chat = {"workspaceId": tenant.workspace_id, "model": MODEL, "message": "once only", "turnId": new_id()}
    async with topology.websocket(0, tenant.token) as ws:
        await subscribe(ws, chat)
        first = await collect(ws, limit=3)
        assert kinds(first) == ["ChatStarted", "ChatDelta", "ChatDelta"], first

        # When the client sends the same start again through gateway B (chat process 2), and once more
        # through A after the turn has finished
        retried = await topology.chat(1, tenant.token, **chat)
        first += await collect(ws)
    again = await topology.chat(0, tenant.token, **chat)

    # Then each is the same turn, from its start: one provider call, billed once, stored once
    for events in (first, retried, again):
        assert events[0] == first[0], events
        assert streamed_text(events) == answer(30)
        assert ends_once(events, "ChatCompleted")["usage"]["totalTokens"] == 38
    assert len(topology.openai.requests) - provider_calls == 1
    await topology.settled_quota(tenant)
    usage = await topology.usage(tenant)
    assert (usage["requests"], usage["tokens"]) == (1, 38)
    messages = await topology.messages(tenant, first[0]["conversationId"])
    assert [(m["role"], m["content"]) for m in messages] == [("USER", "once only"), ("ASSISTANT", answer(30))]


async def test_resuming_a_finished_turn_after_its_last_event_completes_at_once(topology: Topology) -> None:
    # Given a finished turn whose every event, the terminal one included, reached the client
    tenant = await topology.tenant()
    topology.openai.script = Script(text=answer(5), input_tokens=7, output_tokens=5)
    chat = {"workspaceId": tenant.workspace_id, "model": MODEL, "message": "short"}
    done = ends_once(await topology.chat(0, tenant.token, **chat), "ChatCompleted")

    # When the client (say, its connection dropped before `complete`) resumes after that last event
    resume = {"turnId": done["turnId"], "afterSeq": done["seq"]}
    resumed = await asyncio.wait_for(topology.chat(1, tenant.token, **chat, resume=resume), 5)

    # Then there is nothing more: the subscription completes without events
    assert resumed == []


async def test_one_turn_id_sent_through_both_gateways_at_once_runs_once(topology: Topology) -> None:
    # Given one open WebSocket on each gateway per turn id, so both starts leave at the same moment
    tenant = await topology.tenant()
    topology.openai.script = Script(
        text=answer(10), input_tokens=7, output_tokens=10, mode="slow", delay=0.01
    )
    provider_calls = len(topology.openai.requests)

    async def started_twice() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        chat = {"workspaceId": tenant.workspace_id, "model": MODEL, "message": "once", "turnId": new_id()}
        async with topology.websocket(0, tenant.token) as on_a, topology.websocket(1, tenant.token) as on_b:
            await asyncio.gather(subscribe(on_a, chat), subscribe(on_b, chat))
            a, b = await asyncio.gather(collect(on_a), collect(on_b))
        return a, b

    # When the same start is sent through both gateways at once, 60 times (in rounds of 10)
    pairs = []
    for _ in range(6):
        pairs += await asyncio.gather(*(started_twice() for _ in range(10)))

    # Then each turn id ran once: both streams show the one turn, and the provider was called once per id
    twice = [(a[0], b[0]) for a, b in pairs if a[0] != b[0]]
    assert twice == [], f"{len(twice)} of {len(pairs)} turn ids ran twice"
    assert len(topology.openai.requests) - provider_calls == len(pairs)
