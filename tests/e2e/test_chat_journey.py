"""A chat against the real thing: `geko up` as a child process, a standalone fake OpenAI as its platform
provider, a member streaming a turn over the graphql-transport-ws WebSocket and then reading it back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.processes import graphql
from tests.e2e.test_journey import start_up
from tests.fakes.openai_server import API_KEY, TOKEN

pytestmark = pytest.mark.e2e

TOKENS = 30
REGISTER = """mutation($input: RegisterInput!) { register(input: $input) { accessToken } }"""
WORKSPACES = "{ workspaces { id name } }"
CHAT = """subscription($input: ChatInput!) {
  chat(input: $input) {
    __typename
    ... on ChatStarted { seq turnId conversationId }
    ... on ChatDelta { seq text }
    ... on ChatCompleted { seq usage { inputTokens outputTokens } quota { tokensUsed requestsUsed } }
    ... on ChatFailed { code message }
  }
}"""
CONVERSATION = """query($id: ID!) {
  conversation(id: $id) { title messages(first: 10) { edges { node { role content status } } } }
}"""
QUOTA = "query($id: ID!) { workspace(id: $id) { quota { tokensUsed requestsUsed } } }"


@pytest.fixture
def fake_openai(tmp_path: Path) -> Iterator[str]:
    """The fake OpenAI as a process of its own (as the benchmark runs it): its base URL."""
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai_server", "--tokens", str(TOKENS)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert fake.stdout is not None
    try:
        yield fake.stdout.readline().strip()
    finally:
        fake.terminate()
        fake.wait(10)
        fake.stdout.close()


def stream_turn(base_url: str, token: str, input: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    url = base_url.replace("http://", "ws://") + "/graphql"
    with connect(url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(ws.recv(10)) == {"type": "connection_ack"}
        payload = {"query": CHAT, "variables": {"input": input}}
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        while True:
            message = json.loads(ws.recv(30))
            if message["type"] == "complete":
                return events
            assert message["type"] == "next", message
            events.append(message["payload"]["data"]["chat"])


def test_a_member_streams_a_turn_and_finds_it_stored_and_counted(tmp_path: Path, fake_openai: str) -> None:
    process, base_url = start_up(tmp_path, openai_base_url=fake_openai, openai_api_key=API_KEY)
    try:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            registered = graphql(
                client,
                REGISTER,
                {
                    "input": {
                        "email": "cat@chat.example",
                        "password": "correct horse 42",
                        "name": "Cat",
                        "tenantName": "Cat Co",
                    }
                },
            )
            assert "errors" not in registered, registered
            token = registered["data"]["register"]["accessToken"]
            [workspace] = graphql(client, WORKSPACES, token=token)["data"]["workspaces"]

            events = stream_turn(
                base_url,
                token,
                {
                    "workspaceId": workspace["id"],
                    "model": "gpt-4o-mini",
                    "message": "Count!",
                    "maxTokens": 64,
                },
            )
            stored = graphql(client, CONVERSATION, {"id": events[0]["conversationId"]}, token)
            quota = graphql(client, QUOTA, {"id": workspace["id"]}, token)
    finally:
        process.stop()

    kinds = [event["__typename"] for event in events]
    assert kinds[0] == "ChatStarted"
    assert kinds[-1] == "ChatCompleted", events
    assert set(kinds[1:-1]) == {"ChatDelta"}
    answer = "".join(event["text"] for event in events if event["__typename"] == "ChatDelta")
    assert answer.split() == [TOKEN] * TOKENS
    seqs = [event["seq"] for event in events]
    assert seqs == sorted(set(seqs))
    usage = events[-1]["usage"]
    assert usage["outputTokens"] == TOKENS
    conversation = stored["data"]["conversation"]
    assert conversation["title"] == "Count!"
    assert [edge["node"] for edge in conversation["messages"]["edges"]] == [
        {"role": "USER", "content": "Count!", "status": "COMPLETE"},
        {"role": "ASSISTANT", "content": answer, "status": "COMPLETE"},
    ]
    assert quota["data"]["workspace"]["quota"] == {
        "tokensUsed": usage["inputTokens"] + usage["outputTokens"],
        "requestsUsed": 1,
    }
    assert events[-1]["quota"] == quota["data"]["workspace"]["quota"]
