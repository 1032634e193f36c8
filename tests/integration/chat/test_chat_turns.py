"""Chat turns through GraphQL against the whole embedded platform and a fake OpenAI: the seed's Day 11/16/18
examples (plan, model and quota checks before any provider call, the 80% warning), continued conversations,
idempotent turn ids, cancelling, bad input and other users' turns, and the CHAT_COMPLETED audit entry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from tests.fakes.http_fake import Script
from tests.integration.auth.harness import database_url
from tests.integration.chat.harness import ChatPlatform, chat_platform, streamed_text

__all__ = ["database_url"]

pytestmark = pytest.mark.asyncio(loop_scope="module")

ANSWER = "Hello from the fake model, streamed word by word."
GPT4_MICROS_PER_1K = 30_000  # the catalog's gpt-4 price, input and output alike


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
