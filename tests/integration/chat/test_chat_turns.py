"""Chat turns through GraphQL against the whole embedded platform and a fake OpenAI: the seed's Day 11/16/18
examples (plan, model and quota checks before any provider call, the 80% warning), continued conversations,
idempotent turn ids, cancelling, bad input and other users' turns, and the CHAT_COMPLETED audit entry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from tests.fakes.http_fake import Script
from tests.integration.auth.harness import database_url
from tests.integration.chat.harness import (
    CANCEL,
    ChatPlatform,
    chat_platform,
    collect,
    eventually,
    streamed_text,
)
from tests.integration.gateway.models_platform import SET_WORKSPACE_MODELS

__all__ = ["database_url"]

pytestmark = pytest.mark.asyncio(loop_scope="module")

ANSWER = "Hello from the fake model, streamed word by word."
GPT4_MICROS_PER_1K = 30_000  # the catalog's gpt-4 price, input and output alike
UPDATE_WORKSPACE_MODEL = """mutation($input: UpdateWorkspaceModelInput!) {
  updateWorkspaceModel(input: $input) { enabled costOverrideMicros maxTokensOverride }
}"""
# ChatInput's required fields, ignored when `resume` is set.
RESUME_FILLER = {"workspaceId": "ignored", "model": "ignored", "message": "ignored"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def platform(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[ChatPlatform]:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    data_dir = tmp_path_factory.mktemp("chat")
    async with chat_platform(database_url, data_dir, redis_url if use_redis else None) as chat:
        yield chat


@pytest.fixture(autouse=True)
def answer(platform: ChatPlatform) -> Script:
    """Every test starts with the fake answering ANSWER (12 input, 9 output tokens) at full speed."""
    platform.openai.script = Script(text=ANSWER, input_tokens=12, output_tokens=9)
    return platform.openai.script


async def test_day_11_16_18_free_denied_gpt4_then_mini_streams_then_pro_streams_gpt4(
    platform: ChatPlatform,
) -> None:
    owner, ws = await platform.team("Seed Co")
    calls = len(platform.openai.requests)

    # Day 11: free asks for gpt-4 → one ChatFailed, before any provider call.
    events = await platform.chat(owner.token, workspaceId=ws, model="gpt-4", message="Hi", maxTokens=64)
    assert [event["__typename"] for event in events] == ["ChatFailed"], events
    denied = events[0]
    assert denied["code"] == "MODEL_NOT_ALLOWED"
    assert denied["upgradeUrl"]
    assert ws in denied["upgradeUrl"]
    response = await platform.send(owner.token, workspaceId=ws, model="gpt-4", message="Hi", maxTokens=64)
    body = response.json()
    assert body["data"] is None, body
    extensions = body["errors"][0]["extensions"]
    assert extensions["code"] == "MODEL_NOT_ALLOWED"
    assert extensions["upgradeUrl"] == denied["upgradeUrl"]
    assert response.headers["X-Upgrade-Url"] == denied["upgradeUrl"]
    assert len(platform.openai.requests) == calls
    assert (await platform.quota(owner.token, ws))["requestsUsed"] == 0

    # Day 16: gpt-4o-mini streams the fake's answer, billed at the fake's counts (free model: no cost).
    events = await platform.chat(owner.token, workspaceId=ws, model="gpt-4o-mini", message="Hi", maxTokens=64)
    kinds = [event["__typename"] for event in events]
    assert (kinds[0], kinds[-1]) == ("ChatStarted", "ChatCompleted"), events
    assert set(kinds[1:-1]) == {"ChatDelta"}
    assert streamed_text(events) == ANSWER
    started, done = events[0], events[-1]
    assert started["model"] == "gpt-4o-mini"
    assert started["seq"] == 1
    assert [event["seq"] for event in events] == sorted({event["seq"] for event in events})
    assert done["turnId"] == started["turnId"]
    assert done["messageId"] == started["messageId"]
    assert done["finishReason"] == "STOP"
    assert done["usage"] == {"inputTokens": 12, "outputTokens": 9, "totalTokens": 21}
    assert done["costMicros"] == 0
    quota = done["quota"]
    assert quota["plan"] == "FREE"
    assert (quota["tokensUsed"], quota["tokensLimit"]) == (21, 50_000)
    assert (quota["requestsUsed"], quota["requestsLimit"]) == (1, 100)
    assert quota["warning"] is False
    now = datetime.now(UTC)
    next_month = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    assert datetime.fromisoformat(quota["resetAt"]) == next_month  # monthly windows in UTC
    assert quota["upgradeUrl"] is None
    assert len(platform.openai.requests) == calls + 1
    sent = platform.openai.requests[-1].body
    assert sent["model"] == "gpt-4o-mini"
    assert sent["stream"] is True
    assert sent["messages"][-1] == {"role": "user", "content": "Hi"}
    stored = await platform.messages(owner.token, started["conversationId"])
    assert [(m["role"], m["content"], m["status"]) for m in stored] == [
        ("USER", "Hi", "COMPLETE"),
        ("ASSISTANT", ANSWER, "COMPLETE"),
    ]
    assert stored[1]["id"] == done["messageId"]
    assert stored[1]["turnId"] == done["turnId"]
    assert (stored[1]["inputTokens"], stored[1]["outputTokens"]) == (12, 9)

    # Day 18: upgraded to pro, gpt-4 streams and costs the catalog price.
    await platform.set_plan(owner, "pro")
    events = await platform.chat(owner.token, workspaceId=ws, model="gpt-4", message="Hi", maxTokens=64)
    assert events[-1]["__typename"] == "ChatCompleted", events
    assert streamed_text(events) == ANSWER
    assert platform.openai.requests[-1].body["model"] == "gpt-4"
    assert events[-1]["costMicros"] == 21 * GPT4_MICROS_PER_1K // 1000
    assert events[-1]["quota"]["plan"] == "PRO"
    assert events[-1]["quota"]["tokensLimit"] == 500_000
    assert events[-1]["quota"]["tokensUsed"] == 42
    assert events[-1]["currency"] == "USD"


async def test_at_80_percent_the_answer_warns_and_past_the_limit_no_provider_call(
    platform: ChatPlatform, answer: Script
) -> None:
    owner, ws = await platform.team("Heavy Co")
    await platform.commit_usage(owner.token, ws, 39_979)  # with the turn's 21: 40,000 of 50,000

    response = await platform.send(
        owner.token, workspaceId=ws, model="gpt-4o-mini", message="Hi", maxTokens=64
    )
    body = response.json()
    assert "errors" not in body, body
    sent = body["data"]["sendMessage"]
    assert sent["text"] == ANSWER
    assert sent["quota"] == {
        "plan": "FREE",
        "tokensUsed": 40_000,
        "tokensLimit": 50_000,
        "warning": True,
        "percentUsed": 80.0,
    }
    quota_extension = body["extensions"]["quota"]
    assert quota_extension["warning"] is True
    assert quota_extension["tokensRemaining"] == 10_000
    assert quota_extension["upgradeUrl"]
    assert ws in quota_extension["upgradeUrl"]
    assert response.headers["X-Quota-Warning"] == "true"
    assert response.headers["X-Quota-Remaining"] == "10000"
    assert response.headers["X-Upgrade-Url"] == quota_extension["upgradeUrl"]

    # The subscription's ChatCompleted carries the warning too; this answer takes the workspace past 50k.
    answer.output_tokens = 10_000
    events = await platform.chat(
        owner.token, workspaceId=ws, model="gpt-4o-mini", message="More", maxTokens=64
    )
    done = events[-1]
    assert done["__typename"] == "ChatCompleted", events
    assert done["quota"]["warning"] is True
    assert done["quota"]["tokensUsed"] == 50_012
    assert done["quota"]["upgradeUrl"]

    calls = len(platform.openai.requests)
    events = await platform.chat(
        owner.token, workspaceId=ws, model="gpt-4o-mini", message="Again", maxTokens=64
    )
    assert [event["__typename"] for event in events] == ["ChatFailed"], events
    assert events[0]["code"] == "QUOTA_EXCEEDED"
    assert events[0]["upgradeUrl"]
    response = await platform.send(owner.token, workspaceId=ws, model="gpt-4o-mini", message="Again")
    extensions = response.json()["errors"][0]["extensions"]
    assert extensions["code"] == "QUOTA_EXCEEDED"
    assert response.headers["X-Upgrade-Url"] == extensions["upgradeUrl"]
    assert len(platform.openai.requests) == calls  # denied before any provider call
    quota = await platform.quota(owner.token, ws)
    assert (quota["tokensUsed"], quota["tokensReserved"], quota["requestsUsed"]) == (50_012, 0, 3)


async def test_the_free_plans_100_requests_a_month(platform: ChatPlatform) -> None:
    owner, ws = await platform.team("Chatty Co")
    for _ in range(99):
        await platform.commit_usage(owner.token, ws, 1)
    assert (await platform.quota(owner.token, ws))["requestsUsed"] == 99

    hundredth = await platform.chat(
        owner.token, workspaceId=ws, model="gpt-4o-mini", message="Hi", maxTokens=64
    )
    calls = len(platform.openai.requests)
    denied = await platform.chat(owner.token, workspaceId=ws, model="gpt-4o-mini", message="Hi", maxTokens=64)

    assert hundredth[-1]["__typename"] == "ChatCompleted", hundredth
    assert hundredth[-1]["quota"]["requestsUsed"] == 100
    assert [event["__typename"] for event in denied] == ["ChatFailed"], denied
    assert denied[0]["code"] == "QUOTA_EXCEEDED"
    assert len(platform.openai.requests) == calls
    quota = await platform.quota(owner.token, ws)
    assert (quota["requestsUsed"], quota["tokensUsed"], quota["tokensReserved"]) == (100, 99 + 21, 0)


async def test_a_continued_conversation_sends_its_history_and_keeps_its_title(platform: ChatPlatform) -> None:
    owner, ws = await platform.team("History Co")
    first = await platform.chat(
        owner.token, workspaceId=ws, model="gpt-4o-mini", message="Tell me about geckos", maxTokens=64
    )
    conversation_id = first[0]["conversationId"]

    second = await platform.chat(
        owner.token,
        workspaceId=ws,
        model="gpt-4o-mini",
        message="And their feet?",
        conversationId=conversation_id,
        systemPrompt="Answer briefly.",
        maxTokens=64,
    )

    assert second[0]["conversationId"] == conversation_id
    assert second[-1]["__typename"] == "ChatCompleted", second
    sent = [(m["role"], m["content"]) for m in platform.openai.requests[-1].body["messages"]]
    assert sent == [
        ("system", "Answer briefly."),
        ("user", "Tell me about geckos"),
        ("assistant", ANSWER),
        ("user", "And their feet?"),
    ]
    data = await platform.gateway.data(
        "query($id: ID!) { conversation(id: $id) { title } }", owner.token, id=conversation_id
    )
    assert data["conversation"]["title"] == "Tell me about geckos"
    stored = await platform.messages(owner.token, conversation_id)
    assert [m["content"] for m in stored] == ["Tell me about geckos", ANSWER, "And their feet?", ANSWER]


async def test_another_users_conversation_is_not_found_and_changes_nothing(platform: ChatPlatform) -> None:
    owner, ws = await platform.team("Private Co")
    colleague = await platform.gateway.join_new(owner.token, ws, "editor", name="Cole League")
    outsider, outsider_ws = await platform.team("Outside Co")
    events = await platform.chat(
        owner.token, workspaceId=ws, model="gpt-4o-mini", message="Secret", maxTokens=64
    )
    conversation_id = events[0]["conversationId"]
    calls = len(platform.openai.requests)

    for member, workspace_id in ((colleague, ws), (outsider, outsider_ws)):
        response = await platform.send(
            member.token,
            workspaceId=workspace_id,
            model="gpt-4o-mini",
            message="Let me in",
            conversationId=conversation_id,
        )
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND", response.text
        events = await platform.chat(
            member.token,
            workspaceId=workspace_id,
            model="gpt-4o-mini",
            message="Let me in",
            conversationId=conversation_id,
        )
        assert events[0]["errors"][0]["extensions"]["code"] == "NOT_FOUND", events

    assert len(platform.openai.requests) == calls
    assert len(await platform.messages(owner.token, conversation_id)) == 2
    assert (await platform.quota(owner.token, ws))["requestsUsed"] == 1
    assert (await platform.quota(outsider.token, outsider_ws))["requestsUsed"] == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message": "   "}, "input.message"),
        ({"maxTokens": -1}, "input.maxTokens"),
        ({"turnId": "not-a-uuid"}, "input.turnId"),
        ({"model": ""}, "input.model"),
        ({"message": "x" * 200_001}, "input.message"),
        (
            {"resume": {"turnId": "0194b1f0-0000-7000-8000-000000000001", "afterSeq": -1}},
            "input.resume.afterSeq",
        ),
    ],
)
async def test_bad_input_names_the_field(
    platform: ChatPlatform, change: dict[str, object], field: str
) -> None:
    owner, ws = await platform.team("Typo Co")
    calls = len(platform.openai.requests)
    turn = {"workspaceId": ws, "model": "gpt-4o-mini", "message": "Hi", **change}

    response = await platform.send(owner.token, **turn)
    events = await platform.chat(owner.token, **turn)

    for errors in (response.json()["errors"], events[0]["errors"]):
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", errors
        assert errors[0]["extensions"]["field"] == field
    assert len(platform.openai.requests) == calls
    assert (await platform.quota(owner.token, ws))["requestsUsed"] == 0


async def test_denials_before_the_provider_forbidden_other_tenant_disabled_model(
    platform: ChatPlatform,
) -> None:
    owner, ws = await platform.team("Strict Co")
    viewer = await platform.gateway.join_new(owner.token, ws, "viewer", name="Vic Viewer")
    stranger, _ = await platform.team("Stranger Co")
    calls = len(platform.openai.requests)
    turn = {"workspaceId": ws, "model": "gpt-4o-mini", "message": "Hi", "maxTokens": 64}

    for token, code in ((viewer.token, "FORBIDDEN"), (stranger.token, "NOT_FOUND")):
        response = await platform.send(token, **turn)
        assert response.json()["errors"][0]["extensions"]["code"] == code, response.text
        events = await platform.chat(token, **turn)
        assert events[0]["errors"][0]["extensions"]["code"] == code, events

    enabled = ["gpt-4", "claude-haiku"]
    await platform.gateway.data(
        SET_WORKSPACE_MODELS, owner.token, input={"workspaceId": ws, "enabledModels": enabled}
    )
    events = await platform.chat(owner.token, **turn)
    assert [event["__typename"] for event in events] == ["ChatFailed"], events
    assert events[0]["code"] == "MODEL_NOT_ALLOWED"
    assert events[0]["upgradeUrl"] is None  # an upgrade would not help

    assert len(platform.openai.requests) == calls
    quota = await platform.quota(owner.token, ws)
    assert (quota["tokensUsed"], quota["tokensReserved"], quota["requestsUsed"]) == (0, 0, 0)


async def test_a_role_without_the_models_use_permission_gets_model_not_allowed(
    platform: ChatPlatform,
) -> None:
    owner, ws = await platform.team("Roles Co")
    await platform.set_plan(owner, "pro")
    gateway = platform.gateway
    await gateway.create_role(owner.token, ws, "free-chatter", ["chat:create", "model:use:free"])
    chatter = await gateway.join_new(owner.token, ws, "free-chatter", name="Fay Free")
    calls = len(platform.openai.requests)

    denied = await platform.chat(chatter.token, workspaceId=ws, model="gpt-4", message="Hi", maxTokens=64)
    allowed = await platform.chat(
        chatter.token, workspaceId=ws, model="gpt-4o-mini", message="Hi", maxTokens=64
    )

    assert [event["__typename"] for event in denied] == ["ChatFailed"], denied
    assert denied[0]["code"] == "MODEL_NOT_ALLOWED"
    assert denied[0]["upgradeUrl"] is None  # the plan allows it; the role does not
    assert allowed[-1]["__typename"] == "ChatCompleted", allowed
    assert len(platform.openai.requests) == calls + 1
    assert platform.openai.requests[-1].body["model"] == "gpt-4o-mini"


async def test_a_workspace_price_and_output_override_apply_to_the_turn(platform: ChatPlatform) -> None:
    owner, ws = await platform.team("Override Co")
    override = {
        "workspaceId": ws,
        "modelId": "gpt-4o-mini",
        "costOverrideMicros": 1_500,
        "maxTokensOverride": 32,
    }
    await platform.gateway.data(UPDATE_WORKSPACE_MODEL, owner.token, input=override)

    response = await platform.send(
        owner.token, workspaceId=ws, model="gpt-4o-mini", message="Hi", maxTokens=512
    )

    assert response.json()["data"]["sendMessage"]["costMicros"] == 21 * 1_500 // 1000
    assert platform.openai.requests[-1].body["max_tokens"] == 32
    # Far from the limit: the headers say so, and offer no upgrade.
    assert response.headers["X-Quota-Warning"] == "false"
    assert response.headers["X-Quota-Remaining"] == str(50_000 - 21)
    assert "X-Upgrade-Url" not in response.headers


async def test_pay_as_you_go_has_no_token_limit(platform: ChatPlatform) -> None:
    owner, ws = await platform.team("Paygo Co")
    await platform.set_plan(owner, "paygo")
    await platform.commit_usage(owner.token, ws, 600_000)  # past even pro's limit

    response = await platform.send(owner.token, workspaceId=ws, model="gpt-4", message="Hi", maxTokens=64)

    sent = response.json()["data"]["sendMessage"]
    assert sent["text"] == ANSWER
    assert sent["costMicros"] == 21 * GPT4_MICROS_PER_1K // 1000
    assert sent["quota"] == {
        "plan": "PAYGO",
        "tokensUsed": 600_021,
        "tokensLimit": None,
        "warning": False,
        "percentUsed": 0.0,  # documented: 0 when unlimited
    }
    assert response.headers["X-Quota-Remaining"] == "unlimited"
    assert response.headers["X-Quota-Warning"] == "false"


async def test_a_message_too_long_for_the_models_context_window_is_refused(platform: ChatPlatform) -> None:
    owner, ws = await platform.team("Verbose Co")
    await platform.set_plan(owner, "pro")
    calls = len(platform.openai.requests)

    response = await platform.send(owner.token, workspaceId=ws, model="gpt-4", message="word " * 8_000)

    errors = response.json().get("errors") or [{}]
    assert errors[0].get("extensions", {}).get("code") == "BAD_USER_INPUT", response.text
    assert errors[0]["extensions"].get("field") == "input.message"
    assert len(platform.openai.requests) == calls


async def test_an_unknown_model_is_not_found_naming_the_field(platform: ChatPlatform) -> None:
    owner, ws = await platform.team("Unknown Co")
    turn = {"workspaceId": ws, "model": "gpt-9-turbo", "message": "Hi"}

    response = await platform.send(owner.token, **turn)
    events = await platform.chat(owner.token, **turn)

    for errors in (response.json()["errors"], events[0]["errors"]):
        assert errors[0]["extensions"] == {"code": "NOT_FOUND", "field": "input.model"}, errors
    assert (await platform.quota(owner.token, ws))["requestsUsed"] == 0


async def test_the_same_turn_id_twice_replays_the_turn_and_bills_it_once(platform: ChatPlatform) -> None:
    owner, ws = await platform.team("Retry Co")
    calls = len(platform.openai.requests)
    turn_id = str(uuid.uuid4())
    turn = {"workspaceId": ws, "model": "gpt-4o-mini", "message": "Hi", "maxTokens": 64, "turnId": turn_id}

    first = await platform.chat(owner.token, **turn)
    again = await platform.chat(owner.token, **turn)
    sent = (await platform.send(owner.token, **turn)).json()["data"]["sendMessage"]
    colleague = await platform.gateway.join_new(owner.token, ws, "editor", name="Cole League")
    outsider, outsider_ws = await platform.team("Copycat Co")
    for member, workspace_id in ((colleague, ws), (outsider, outsider_ws)):
        response = await platform.send(member.token, **{**turn, "workspaceId": workspace_id})
        assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND", response.text

    assert first[-1]["__typename"] == "ChatCompleted", first
    assert first[0]["turnId"] == turn_id
    assert streamed_text(again) == ANSWER
    assert [e for e in again if e["__typename"] != "ChatDelta"] == [
        e for e in first if e["__typename"] != "ChatDelta"
    ]
    assert (sent["turnId"], sent["messageId"], sent["text"]) == (turn_id, first[-1]["messageId"], ANSWER)
    assert len(platform.openai.requests) == calls + 1
    quota = await platform.quota(owner.token, ws)
    assert (quota["tokensUsed"], quota["requestsUsed"]) == (21, 1)
    usage = await platform.usage(owner.token, ws)
    assert (usage["tokens"], usage["requests"]) == (21, 1)
    assert len(await platform.messages(owner.token, first[0]["conversationId"])) == 2


async def test_the_same_turn_id_sent_at_once_runs_one_turn(platform: ChatPlatform) -> None:
    """A double submit, ten times over (with Redis the replay check awaits the cache, so the requests
    interleave): one provider call, one bill, the same answer for every request."""
    owner, ws = await platform.team("Double Co")
    for _ in range(10):
        calls = len(platform.openai.requests)
        used = (await platform.quota(owner.token, ws))["tokensUsed"]
        turn_id = str(uuid.uuid4())
        turn = {
            "workspaceId": ws,
            "model": "gpt-4o-mini",
            "message": "Hi",
            "maxTokens": 64,
            "turnId": turn_id,
        }

        responses = await asyncio.gather(*(platform.send(owner.token, **turn) for _ in range(10)))

        sent = [response.json()["data"]["sendMessage"] for response in responses]
        assert {(s["turnId"], s["messageId"], s["text"]) for s in sent} == {
            (turn_id, sent[0]["messageId"], ANSWER)
        }
        assert len(platform.openai.requests) == calls + 1
        quota = await platform.wait_for_settled(owner.token, ws)
        assert quota["tokensUsed"] == used + 21
        assert len(await platform.messages(owner.token, sent[0]["conversationId"])) == 2


async def test_cancel_ends_the_stream_cut_and_billed_once(platform: ChatPlatform, answer: Script) -> None:
    owner, ws = await platform.team("Cancel Co")
    outsider, _ = await platform.team("Nosy Co")
    colleague = await platform.gateway.join_new(owner.token, ws, "editor", name="Cole League")
    answer.text = " ".join(f"word{n}" for n in range(200))
    answer.mode, answer.delay = "slow", 0.02
    disconnects = len(platform.openai.disconnects)

    async with platform.websocket(owner.token) as ws_conn:
        await platform.subscribe(
            ws_conn, {"input": {"workspaceId": ws, "model": "gpt-4o-mini", "message": "Go", "maxTokens": 512}}
        )
        head = await collect(ws_conn, limit=2)
        turn_id = head[0]["turnId"]
        assert head[1]["__typename"] == "ChatDelta", head

        for other in (outsider.token, colleague.token):
            assert await platform.gateway.code(CANCEL, other, id=turn_id) == "NOT_FOUND"
            resumed = await platform.chat(other, resume={"turnId": turn_id, "afterSeq": 0}, **RESUME_FILLER)
            assert resumed[0]["errors"][0]["extensions"]["code"] == "NOT_FOUND", resumed
        cancelled = await platform.gateway.data(CANCEL, owner.token, id=turn_id)
        assert cancelled["cancelChat"] == {"turnId": turn_id, "cancelled": True}
        events = head + await collect(ws_conn)

    done = events[-1]
    assert done["__typename"] == "ChatCompleted", events
    assert done["finishReason"] == "CANCELLED"
    text = streamed_text(events)
    assert text
    assert answer.text.startswith(text)
    assert text != answer.text
    assert (await platform.gateway.data(CANCEL, owner.token, id=turn_id))["cancelChat"]["cancelled"] is False
    assert len(await platform.wait_for_provider_disconnect(disconnects)) == disconnects + 1
    quota = await platform.wait_for_settled(owner.token, ws)
    assert (quota["tokensUsed"], quota["requestsUsed"]) == (done["usage"]["totalTokens"], 1)
    assert done["usage"]["outputTokens"] > 0
    assert (await platform.usage(owner.token, ws))["requests"] == 1
    stored = await platform.messages(owner.token, events[0]["conversationId"])
    assert [(m["role"], m["status"]) for m in stored] == [("USER", "COMPLETE"), ("ASSISTANT", "CUT")]
    assert stored[1]["content"] == text


async def test_cancelling_a_send_message_by_its_turn_id_answers_the_part_produced(
    platform: ChatPlatform, answer: Script
) -> None:
    owner, ws = await platform.team("Impatient Co")
    answer.text = " ".join(f"word{n}" for n in range(200))
    answer.mode, answer.delay = "slow", 0.02
    turn_id = str(uuid.uuid4())
    turn = {"workspaceId": ws, "model": "gpt-4o-mini", "message": "Go", "maxTokens": 512, "turnId": turn_id}
    sending = asyncio.create_task(platform.send(owner.token, **turn))

    async def first_delta() -> list[dict[str, Any]]:
        """The turn's first events, watched over a resumed subscription (NOT_FOUND until it has begun)."""
        async with platform.websocket(owner.token) as connection:
            resume = {"resume": {"turnId": turn_id, "afterSeq": 0}, **RESUME_FILLER}
            await platform.subscribe(connection, {"input": resume})
            return await collect(connection, limit=2)

    await eventually(first_delta, lambda events: events[-1].get("__typename") == "ChatDelta")
    cancelled = await platform.gateway.data(CANCEL, owner.token, id=turn_id)
    sent = (await sending).json()["data"]["sendMessage"]

    assert cancelled["cancelChat"]["cancelled"] is True
    assert sent["turnId"] == turn_id
    assert sent["finishReason"] == "CANCELLED"
    assert sent["text"]
    assert answer.text.startswith(sent["text"])
    assert sent["text"] != answer.text
    quota = await platform.wait_for_settled(owner.token, ws)
    assert (quota["tokensUsed"], quota["requestsUsed"]) == (sent["usage"]["totalTokens"], 1)


async def test_a_lost_connection_resumes_with_no_gap_and_no_duplicate(
    platform: ChatPlatform, answer: Script
) -> None:
    owner, ws = await platform.team("Tunnel Co")
    answer.text = " ".join(f"word{n}" for n in range(100))
    answer.mode, answer.delay, answer.output_tokens = "slow", 0.01, 100
    turn = {"workspaceId": ws, "model": "gpt-4o-mini", "message": "Go", "maxTokens": 512}

    async with platform.websocket(owner.token) as connection:
        await platform.subscribe(connection, {"input": turn})
        head = await collect(connection, limit=4)
    last_seq = head[-1]["seq"]
    rest = await platform.chat(
        owner.token, resume={"turnId": head[0]["turnId"], "afterSeq": last_seq}, **RESUME_FILLER
    )

    assert rest[0]["seq"] > last_seq
    seqs = [event["seq"] for event in head + rest]
    assert seqs == sorted(set(seqs))
    assert "ChatStarted" not in [event["__typename"] for event in rest]
    assert streamed_text(head) + streamed_text(rest) == answer.text
    done = rest[-1]
    assert done["__typename"] == "ChatCompleted", rest
    assert (done["finishReason"], done["usage"]["totalTokens"]) == ("STOP", 112)
    quota = await platform.wait_for_settled(owner.token, ws)
    assert (quota["tokensUsed"], quota["requestsUsed"]) == (112, 1)
    stored = await platform.messages(owner.token, head[0]["conversationId"])
    assert [(m["content"], m["status"]) for m in stored[1:]] == [(answer.text, "COMPLETE")]


async def test_a_burst_sent_at_once_still_streams_its_first_words_first(
    platform: ChatPlatform, answer: Script
) -> None:
    answer.text = " ".join(f"word{i}" for i in range(200))  # all of it in the socket before the first is read
    owner, workspace_id = await platform.team("Burst")

    events = await platform.chat(owner.token, workspaceId=workspace_id, model="gpt-4o-mini", message="Go")

    deltas = [event["text"] for event in events if event["__typename"] == "ChatDelta"]
    assert streamed_text(events) == answer.text
    assert len(deltas[0].split()) <= 20  # not the whole burst parsed before the first delta went out


async def test_a_turn_is_audited_with_its_model_and_tokens(platform: ChatPlatform) -> None:
    owner, ws = await platform.team("Audit Co")
    await platform.set_plan(owner, "pro")
    events = await platform.chat(owner.token, workspaceId=ws, model="gpt-4", message="Hi", maxTokens=64)
    turn_id = events[-1]["turnId"]

    audited = await platform.gateway.wait_for_audit(
        owner.token, ws, lambda found: any(e["resourceId"] == turn_id for e in found)
    )

    entry = next(e for e in audited if e["resourceId"] == turn_id)
    assert entry["action"] == "CHAT_COMPLETED"
    assert entry["resourceType"] == "chat_turn"
    assert entry["actor"]["id"] == owner.user_id
    assert entry["details"] == {
        "model": "gpt-4",
        "conversation_id": events[0]["conversationId"],
        "input_tokens": 12,
        "output_tokens": 9,
        "cost_micros": 21 * GPT4_MICROS_PER_1K // 1000,
        "status": "complete",
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def expiring(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[ChatPlatform]:
    """A platform that keeps a turn's events for two seconds only."""
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    data_dir = tmp_path_factory.mktemp("chat-expiring")
    async with chat_platform(
        database_url, data_dir, redis_url if use_redis else None, chat_event_ttl_seconds=2.0
    ) as chat:
        chat.openai.script = Script(text=ANSWER, input_tokens=12, output_tokens=9)
        yield chat


async def test_a_turn_longer_than_the_event_ttl_is_resumable_after_it_ends(expiring: ChatPlatform) -> None:
    owner, ws = await expiring.team("Slow Co")
    words = " ".join(f"w{n}" for n in range(125))
    expiring.openai.script = Script(text=words, output_tokens=125, mode="slow", delay=0.02)  # 2.5 s
    try:
        events = await expiring.chat(
            owner.token, workspaceId=ws, model="gpt-4o-mini", message="Go", maxTokens=512
        )
    finally:
        expiring.openai.script = Script(text=ANSWER, input_tokens=12, output_tokens=9)
    assert events[-1]["__typename"] == "ChatCompleted", events

    replayed = await expiring.chat(
        owner.token, resume={"turnId": events[0]["turnId"], "afterSeq": 0}, **RESUME_FILLER
    )

    assert streamed_text(replayed) == words
    assert replayed[-1] == events[-1]


async def test_a_turn_id_reused_after_its_events_expired_is_a_conflict_never_an_unbilled_call(
    expiring: ChatPlatform,
) -> None:
    owner, ws = await expiring.team("Reuse Co")
    turn_id = str(uuid.uuid4())
    turn = {
        "workspaceId": ws,
        "model": "gpt-4o-mini",
        "message": "Hi",
        "maxTokens": 64,
        "turnId": turn_id,
    }
    await expiring.send(owner.token, **turn)

    async def resumable() -> list[dict[str, Any]]:
        return await expiring.chat(owner.token, resume={"turnId": turn_id, "afterSeq": 0}, **RESUME_FILLER)

    await eventually(resumable, lambda events: "errors" in events[0])  # the turn's events expired
    calls = len(expiring.openai.requests)
    again = await expiring.send(owner.token, **{**turn, "message": "A second question"})
    await expiring.commit_usage(owner.token, ws, 50_000)  # and now past the limit
    over = await expiring.send(owner.token, **{**turn, "message": "A third question"})

    for response in (again, over):
        assert response.json()["errors"][0]["extensions"] == {"code": "CONFLICT", "field": "input.turnId"}
    assert len(expiring.openai.requests) == calls
    quota = await expiring.wait_for_settled(owner.token, ws)
    assert (quota["tokensUsed"], quota["requestsUsed"]) == (21 + 50_000, 2)  # the turn and the direct commit
