"""Chat turns that do not end well, through GraphQL against the whole embedded platform and a fake OpenAI: a
client that goes away mid-stream, the provider failing mid-stream or before its first token. Every turn is
settled exactly once: billed for what was produced, or its reservation released when nothing was."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from services.chat.preflight import TOKENS_PER_MESSAGE
from services.runtime.token_estimate import estimate_tokens
from tests.fakes.http_fake import Mode, Script
from tests.integration.auth.harness import database_url
from tests.integration.chat.harness import MESSAGES, ChatPlatform, chat_platform, collect, streamed_text

__all__ = ["database_url"]

pytestmark = pytest.mark.asyncio(loop_scope="module")

WORDS = [f"w{n}" for n in range(200)]
LONG_ANSWER = " ".join(WORDS)
GPT4_MICROS_PER_1K = 30_000
DELETE_CONVERSATION = "mutation($id: ID!) { deleteConversation(id: $id) }"
CONVERSATION = "query($id: ID!) { conversation(id: $id) { id } }"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def platform(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[ChatPlatform]:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    data_dir = tmp_path_factory.mktemp("chat-failures")
    async with chat_platform(
        database_url, data_dir, redis_url if use_redis else None, chat_resume_grace_seconds=0.2
    ) as chat:
        yield chat


@pytest.fixture(autouse=True)
def answer(platform: ChatPlatform) -> Script:
    """A long answer, paced (200 words, 20 ms apart), so a test can act while it streams."""
    platform.openai.script = Script(
        text=LONG_ANSWER, input_tokens=30, output_tokens=200, mode="slow", delay=0.02
    )
    return platform.openai.script


def turn(workspace_id: str, model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {"workspaceId": workspace_id, "model": model, "message": "Count for me", "maxTokens": 512}


async def test_a_client_gone_mid_stream_gets_its_turn_cut_and_billed_once(platform: ChatPlatform) -> None:
    owner, ws = await platform.team("Gone Co")
    disconnects = len(platform.openai.disconnects)

    async with platform.websocket(owner.token) as connection:
        await platform.subscribe(connection, {"input": turn(ws)})
        head = await collect(connection, limit=3)
    assert [event["__typename"] for event in head] == ["ChatStarted", "ChatDelta", "ChatDelta"], head

    assert len(await platform.wait_for_provider_disconnect(disconnects)) == disconnects + 1
    quota = await platform.wait_for_settled(owner.token, ws)
    stored = await platform.messages(owner.token, head[0]["conversationId"])
    assert [(m["role"], m["status"]) for m in stored] == [("USER", "COMPLETE"), ("ASSISTANT", "CUT")]
    answer = stored[1]
    assert answer["id"] == head[0]["messageId"]
    assert answer["content"].startswith(streamed_text(head))
    assert LONG_ANSWER.startswith(answer["content"])
    assert answer["content"] != LONG_ANSWER
    assert answer["outputTokens"] > 0
    billed = answer["inputTokens"] + answer["outputTokens"]
    assert (quota["tokensUsed"], quota["requestsUsed"]) == (billed, 1)
    usage = await platform.usage(owner.token, ws)
    assert (usage["tokens"], usage["requests"]) == (billed, 1)

    # The turn's log still says how it ended: cut, with the usage billed.
    events = await platform.chat(
        owner.token, resume={"turnId": head[0]["turnId"], "afterSeq": 0}, **turn("ignored")
    )
    done = events[-1]
    assert done["__typename"] == "ChatCompleted", events
    assert done["finishReason"] == "CANCELLED"
    assert done["usage"]["totalTokens"] == billed
    assert streamed_text(events) == answer["content"]
    assert (await platform.usage(owner.token, ws))["requests"] == 1


@pytest.mark.parametrize("mode", ["error_midstream", "cut"])
async def test_the_provider_failing_mid_stream_bills_what_was_produced(
    platform: ChatPlatform, answer: Script, mode: Mode
) -> None:
    owner, ws = await platform.team("Flaky Co")
    await platform.set_plan(owner, "pro")
    answer.mode, answer.delay = mode, 0.0

    events = await platform.chat(owner.token, **turn(ws, "gpt-4"))

    kinds = [event["__typename"] for event in events]
    assert (kinds[0], kinds[-1]) == ("ChatStarted", "ChatFailed"), events
    assert kinds.count("ChatFailed") == 1
    failed = events[-1]
    assert failed["code"] == "UPSTREAM_UNAVAILABLE"
    assert failed["message"]
    produced = streamed_text(events)
    assert produced == "".join(answer.words()[:2])  # the fake sends two words before failing
    assert failed["usage"]["outputTokens"] > 0
    total = failed["usage"]["totalTokens"]
    assert failed["costMicros"] == total * GPT4_MICROS_PER_1K // 1000
    assert failed["quota"] == {"plan": "PRO", "tokensUsed": total, "requestsUsed": 1, "warning": False}
    quota = await platform.wait_for_settled(owner.token, ws)
    assert (quota["tokensUsed"], quota["tokensReserved"], quota["requestsUsed"]) == (total, 0, 1)
    stored = await platform.messages(owner.token, events[0]["conversationId"])
    assert [(m["role"], m["status"]) for m in stored] == [("USER", "COMPLETE"), ("ASSISTANT", "FAILED")]
    assert stored[1]["content"] == produced
    turn_id = failed["turnId"]
    audited = await platform.gateway.wait_for_audit(
        owner.token, ws, lambda found: any(e["resourceId"] == turn_id for e in found)
    )
    details = next(e for e in audited if e["resourceId"] == turn_id)["details"]
    assert (details["status"], details["error"], details["output_tokens"]) == (
        "failed",
        "UPSTREAM_UNAVAILABLE",
        failed["usage"]["outputTokens"],
    )


@pytest.mark.parametrize(
    ("status", "code", "retry_after"), [(500, "UPSTREAM_UNAVAILABLE", None), (429, "RATE_LIMITED", 7)]
)
async def test_the_provider_failing_before_any_token_bills_nothing(
    platform: ChatPlatform, answer: Script, status: int, code: str, retry_after: int | None
) -> None:
    owner, ws = await platform.team("Down Co")
    answer.mode, answer.fail_status, answer.retry_after = "fail_status", status, "7"
    calls = len(platform.openai.requests)

    events = await platform.chat(owner.token, **turn(ws))

    assert [event["__typename"] for event in events] == ["ChatStarted", "ChatFailed"], events
    failed = events[-1]
    assert failed["code"] == code
    assert failed["retryAfter"] == retry_after
    assert failed["usage"] == {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}
    assert (failed["costMicros"], failed["quota"]) == (None, None)  # nothing billed
    assert len(platform.openai.requests) > calls
    quota = await platform.wait_for_settled(owner.token, ws)
    assert (quota["tokensUsed"], quota["tokensReserved"], quota["requestsUsed"]) == (0, 0, 0)
    assert (await platform.usage(owner.token, ws))["requests"] == 0


async def test_a_provider_that_reports_no_usage_is_billed_by_the_estimate(
    platform: ChatPlatform, answer: Script
) -> None:
    owner, ws = await platform.team("Uncounted Co")
    answer.mode, answer.delay = "no_usage", 0.0

    events = await platform.chat(owner.token, **turn(ws))

    done = events[-1]
    assert done["__typename"] == "ChatCompleted", events
    assert streamed_text(events) == LONG_ANSWER
    # chars/4 rounded up; the prompt also counts TOKENS_PER_MESSAGE for its one message
    expected = {
        "inputTokens": estimate_tokens("Count for me") + TOKENS_PER_MESSAGE,
        "outputTokens": estimate_tokens(LONG_ANSWER),
    }
    expected["totalTokens"] = expected["inputTokens"] + expected["outputTokens"]
    assert done["usage"] == expected
    assert done["quota"]["tokensUsed"] == expected["totalTokens"]


async def test_a_conversation_is_there_while_its_first_turn_streams_and_may_be_deleted(
    platform: ChatPlatform,
) -> None:
    owner, ws = await platform.team("Tidy Co")

    async with platform.websocket(owner.token) as connection:
        await platform.subscribe(connection, {"input": turn(ws)})
        head = await collect(connection, limit=2)
        conversation_id = head[0]["conversationId"]
        shown = await platform.gateway.graphql(CONVERSATION, owner.token, id=conversation_id)
        deleted = await platform.gateway.graphql(DELETE_CONVERSATION, owner.token, id=conversation_id)
        events = head + await collect(connection)

    assert (shown.get("data") or {}).get("conversation", {}) == {"id": conversation_id}, shown
    assert deleted.get("data") == {"deleteConversation": True}, deleted
    # The turn still ends, billed once; its answer does not bring the conversation back.
    done = events[-1]
    assert done["__typename"] == "ChatCompleted", events
    quota = await platform.wait_for_settled(owner.token, ws)
    assert (quota["tokensUsed"], quota["requestsUsed"]) == (done["usage"]["totalTokens"], 1)
    gone = await platform.gateway.graphql(CONVERSATION, owner.token, id=conversation_id)
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_message_with_a_nul_character_is_refused_naming_the_field(platform: ChatPlatform) -> None:
    owner, ws = await platform.team("Nul Co")
    calls = len(platform.openai.requests)

    response = await platform.send(owner.token, **{**turn(ws), "message": "Hi\x00there"})

    errors = response.json().get("errors") or [{}]
    assert errors[0].get("extensions") == {"code": "BAD_USER_INPUT", "field": "input.message"}, response.text
    assert len(platform.openai.requests) == calls


async def test_an_answer_with_a_nul_character_is_still_stored(platform: ChatPlatform, answer: Script) -> None:
    owner, ws = await platform.team("Binary Co")
    answer.text, answer.mode, answer.delay = "bad \x00 byte", None, 0.0

    events = await platform.chat(owner.token, **turn(ws))

    assert events[-1]["__typename"] == "ChatCompleted", events
    stored = await platform.gateway.graphql(MESSAGES, owner.token, id=events[0]["conversationId"])
    contents = [edge["node"]["content"] for edge in stored["data"]["conversation"]["messages"]["edges"]]
    assert contents == ["Count for me", "bad  byte"], stored  # NUL dropped: PostgreSQL text cannot hold it
