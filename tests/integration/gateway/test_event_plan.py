"""A subscription's compiled event plan gives exactly what graphql-core gives, event by event, or steps aside.

Each event of the gateway's `chat` subscription is executed both ways on the real schema: by the plan the
EventExecutor compiles for the document, and by graphql-core's own per-event executor. The results must be the
same JSON, key order included; events the plan cannot complete exactly (nulls in non-null fields, objects of
another class, scalars out of range) must reach graphql-core and get its errors. Documents a plan does not
cover get none, and their subscriptions still stream graphql-core's results.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import pytest
import strawberry
from graphql import DocumentNode, ExecutionResult, MiddlewareManager, parse
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE

from geko.chat.v1 import chat_pb2
from graphql_gateway.chat.types import ChatDelta, ChatStarted, ChatUsage, event_from_proto
from graphql_gateway.errors import INTERNAL_MESSAGE, ResultExtensions, ShapeErrors
from graphql_gateway.event_plan import EventPlans, Unplanned, compile_event_plan
from graphql_gateway.schema import EventExecutor, GekoSchema, PlannedEvent, build_schema

GATEWAY_SCHEMA = build_schema()._schema
CHAT_INPUT = {"input": {"workspaceId": "w-1", "model": "gpt-4o-mini", "message": "hi"}}

EVERY_MEMBER = """
subscription Chat($input: ChatInput!) { chat(input: $input) { __typename
  ... on ChatStarted { seq turnId conversationId messageId model }
  ... on ChatDelta { seq text }
  ... on ChatCompleted { seq turnId messageId usage { inputTokens outputTokens totalTokens } costMicros
    currency quota { plan tokensLimit tokensUsed tokensReserved tokensRemaining requestsLimit requestsUsed
      percentUsed warning resetAt upgradeUrl }
    finishReason }
  ... on ChatFailed { seq turnId code message upgradeUrl retryAfter usage { totalTokens } costMicros
    quota { warning percentUsed } }
} }"""

ALIASES_AND_NAMED_FRAGMENTS = """
subscription Chat($input: ChatInput!) { event: chat(input: $input) {
  kind: __typename
  ...Delta
  ... on ChatCompleted { n: seq used: usage { total: totalTokens } usage { inputTokens } ...Done }
  ...Failure
} }
fragment Delta on ChatDelta { t: text seq text __typename }
fragment Done on ChatCompleted { usage { outputTokens totalTokens } cost: costMicros finishReason }
fragment Failure on ChatEvent { ... on ChatFailed { code retryAfter } ... on ChatStarted { model } }
"""

SKIP_AND_INCLUDE = """
subscription Chat($input: ChatInput!, $withText: Boolean!, $noSeq: Boolean = true) { chat(input: $input) {
  __typename @skip(if: false)
  ... on ChatDelta { seq @skip(if: $noSeq) text @include(if: $withText) }
  ... on ChatStarted @include(if: false) { model }
  ... on ChatStarted { turnId @include(if: true) }
  ... on ChatCompleted @skip(if: $withText) { usage { totalTokens } }
  ... on ChatFailed { code message @skip(if: $withText) }
} }"""

ONLY_TYPENAME = "subscription Chat($input: ChatInput!) { chat(input: $input) { __typename } }"

DOCUMENTS = {
    "every member": (EVERY_MEMBER, {}),
    "aliases and named fragments": (ALIASES_AND_NAMED_FRAGMENTS, {}),
    "skip and include, text": (SKIP_AND_INCLUDE, {"withText": True}),
    "skip and include, no text": (SKIP_AND_INCLUDE, {"withText": False, "noSeq": False}),
    "only __typename": (ONLY_TYPENAME, {}),
}

QUOTA = chat_pb2.QuotaState(
    tokens_limit=100_000,
    tokens_used=81_000,
    tokens_remaining=19_000,
    requests_limit=-1,
    requests_used=7,
    percent_used=81.0,
    warning=True,
    upgrade_url="https://geko.test/upgrade",
)
QUOTA.reset_time.FromSeconds(1_800_000_000)
USAGE = chat_pb2.Usage(input_tokens=12, output_tokens=30, total_tokens=42)


def proto_events() -> list[chat_pb2.ChatEvent]:
    """One turn's kinds of events, with nulls and non-nulls in the optional fields, a Micros past 2^53."""
    started = chat_pb2.ChatStarted(turn_id="t-1", conversation_id="c-1", message_id="m-1", model_id="gpt")
    return [
        chat_pb2.ChatEvent(sequence=1, turn_id="t-1", started=started),
        chat_pb2.ChatEvent(sequence=2, turn_id="t-1", delta=chat_pb2.ChatDelta(text="Hel")),
        chat_pb2.ChatEvent(sequence=3, turn_id="t-1", delta=chat_pb2.ChatDelta(text="")),
        chat_pb2.ChatEvent(
            sequence=4,
            turn_id="t-1",
            completed=chat_pb2.ChatCompleted(
                message_id="m-1",
                usage=USAGE,
                cost_micros=2**53 + 1,
                currency="EUR",
                quota=QUOTA,
                finish_reason=chat_pb2.FINISH_REASON_LENGTH,
            ),
        ),
        chat_pb2.ChatEvent(
            sequence=5, turn_id="t-1", completed=chat_pb2.ChatCompleted(message_id="m-2", usage=USAGE)
        ),
        chat_pb2.ChatEvent(
            sequence=6,
            turn_id="t-1",
            failed=chat_pb2.ChatFailed(
                code="RATE_LIMITED", message="slow down", retry_after_seconds=3, usage=USAGE
            ),
        ),
        chat_pb2.ChatEvent(
            sequence=7,
            turn_id="t-1",
            failed=chat_pb2.ChatFailed(
                code="QUOTA_EXCEEDED",
                message="over",
                upgrade_url="https://geko.test/upgrade",
                cost_micros=-5,
                quota=QUOTA,
            ),
        ),
    ]


def gateway_events() -> list[Any]:
    events = [event_from_proto(event) for event in proto_events()]
    assert all(event is not None for event in events)
    return events


def unplannable_events() -> list[Any]:
    """Events graphql-core answers with errors: the plan must leave each one to it."""
    cast = ChatDelta(seq=9, text="cast")
    setattr(cast, TYPE_CAST_ATTRIBUTE, ChatStarted)
    return [
        ChatDelta(seq=1, text=None),  # type: ignore[arg-type]  # null for a non-null field
        ChatDelta(seq=2**31, text="x"),  # past GraphQL's 32-bit Int
        ChatDelta(seq=3, text=["not", "a", "string"]),  # type: ignore[arg-type]
        ChatUsage(input_tokens=1, output_tokens=1, total_tokens=2),  # not a member of the union
        cast,
    ]


def subscription(
    document: str | DocumentNode,
    variables: dict[str, Any],
    schema: Any = GATEWAY_SCHEMA,
    middleware: MiddlewareManager | None = None,
) -> EventExecutor:
    """The subscription's executor, built as Strawberry builds it (its middleware manager is empty)."""
    executor = EventExecutor.build(
        schema,
        parse(document) if isinstance(document, str) else document,
        raw_variable_values=variables,
        middleware=middleware or MiddlewareManager(),
    )
    assert isinstance(executor, EventExecutor), executor
    return executor


def as_json(result: object) -> str:
    """The result as a client receives it, key order included."""
    assert isinstance(result, ExecutionResult)
    return json.dumps(result.formatted)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_the_plan_yields_what_graphql_core_yields(name: str) -> None:
    document, variables = DOCUMENTS[name]
    executor = subscription(document, {**CHAT_INPUT, **variables})
    plan = compile_event_plan(executor)
    assert plan is not None
    for event in gateway_events():
        expected = executor.graphql_core_event_executor(event).execute_operation(False)
        assert isinstance(expected, ExecutionResult)
        assert not expected.errors, expected
        planned = executor.build_per_event_executor(event)
        assert isinstance(planned, PlannedEvent)
        assert as_json(planned.execute_operation(False)) == as_json(expected)
        assert json.dumps(plan(event)) == json.dumps(expected.data)  # the plan itself, no fallback


@pytest.mark.parametrize("name", DOCUMENTS)
def test_events_the_plan_cannot_complete_get_graphql_cores_errors(name: str) -> None:
    document, variables = DOCUMENTS[name]
    executor = subscription(document, {**CHAT_INPUT, **variables})
    plan = compile_event_plan(executor)
    assert plan is not None
    for event in unplannable_events():
        expected = executor.graphql_core_event_executor(event).execute_operation(False)
        assert isinstance(expected, ExecutionResult)
        result = executor.build_per_event_executor(event).execute_operation(False)
        assert as_json(result) == as_json(expected)
        if expected.errors:
            with pytest.raises(Unplanned):
                plan(event)


def test_every_member_document_sends_errors_for_each_unplannable_event() -> None:
    executor = subscription(EVERY_MEMBER, CHAT_INPUT)
    for event in unplannable_events():
        result = executor.build_per_event_executor(event).execute_operation(False)
        assert isinstance(result, ExecutionResult)
        assert result.errors, event


def test_what_the_plan_did_not_foresee_is_left_to_graphql_core() -> None:
    executor = subscription(EVERY_MEMBER, CHAT_INPUT)
    event = ChatDelta(seq=1, text="gone")
    del event.text  # the plan's attribute read raises AttributeError, not Unplanned
    expected = executor.graphql_core_event_executor(event).execute_operation(False)
    assert isinstance(expected, ExecutionResult)
    assert expected.errors
    assert as_json(executor.build_per_event_executor(event).execute_operation(False)) == as_json(expected)


def test_subscriptions_of_one_document_share_plans_by_the_values_of_skip_and_include() -> None:
    plans = EventPlans()
    document = parse(SKIP_AND_INCLUDE)  # as limits.CheckedDocuments hands the same text's document again
    with_text = subscription(document, {**CHAT_INPUT, "withText": True})
    other_message = {"input": {**CHAT_INPUT["input"], "message": "something else"}}
    with_text_again = subscription(document, {**other_message, "withText": True, "noSeq": True})
    without_text = subscription(document, {**CHAT_INPUT, "withText": False})
    plan = plans.plan(with_text)
    assert plan is not None
    assert plans.plan(with_text_again) is plan
    assert plans.plan(without_text) is not plan
    for executor in (with_text, without_text):
        shared, own = plans.plan(executor), compile_event_plan(executor)
        assert shared is not None
        assert own is not None
        assert [json.dumps(shared(event)) for event in gateway_events()] == [
            json.dumps(own(event)) for event in gateway_events()
        ]
    with_middleware = subscription(
        document, {**CHAT_INPUT, "withText": True}, middleware=MiddlewareManager(len)
    )
    assert plans.plan(with_middleware) is None


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Token:
    seq: int
    text: str | None
    word: str
    parts: list[str]

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.text.upper() * times if self.text else ""

    @strawberry.field
    def echo(self) -> str:
        return f"echo {self.seq}"


TOKENS = [
    Token(seq=1, text="a", word="a", parts=["a"]),
    Token(seq=2, text=None, word=None, parts=[]),  # type: ignore[arg-type]
    Token(seq=3, text="c", word=None, parts=[]),  # type: ignore[arg-type]
]


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def tokens(self) -> AsyncGenerator[Token, None]:
        for token in TOKENS:
            yield token


TOKEN_SCHEMA = GekoSchema(
    Query,
    subscription=Subscription,
    execution_context_class=EventExecutor,
    extensions=[ShapeErrors, ResultExtensions],
)

UNPLANNED_DOCUMENTS = [
    "subscription { tokens { seq shout(times: 2) } }",  # an argument below the root
    "subscription { tokens { seq shout } }",  # a resolver, even without arguments
    "subscription { tokens { echo } }",
    "subscription { tokens { parts } }",  # a list
    "subscription { tokens { ...T } } fragment T on Token { seq @deprecated }",  # another directive
]


@pytest.mark.parametrize("document", UNPLANNED_DOCUMENTS)
async def test_documents_a_plan_does_not_cover_get_graphql_core(document: str) -> None:
    assert compile_event_plan(subscription(document, {}, TOKEN_SCHEMA._schema)) is None
    if "@deprecated" in document:
        return  # not a valid document to subscribe with
    stream = await TOKEN_SCHEMA.subscribe(document)
    assert not isinstance(stream, strawberry.types.ExecutionResult)
    results = [result async for result in stream]
    assert [result.errors for result in results] == [None] * len(TOKENS)
    assert all(result.data and "tokens" in result.data for result in results)


async def test_a_planned_subscription_shapes_the_errors_of_every_event() -> None:
    """Each streamed result goes through the extensions' hooks (looked up once for the whole stream): here
    ShapeErrors masks the error of every event the plan left to graphql-core, not only the first one's."""
    stream = await TOKEN_SCHEMA.subscribe("subscription { tokens { __typename seq text word } }")
    assert not isinstance(stream, strawberry.types.ExecutionResult)
    results = [result async for result in stream]
    assert [result.data for result in results] == [
        {"tokens": {"__typename": "Token", "seq": 1, "text": "a", "word": "a"}},
        None,
        None,
    ]
    assert results[0].errors is None
    for result in results[1:]:
        assert result.errors is not None
        assert [(error.message, error.extensions) for error in result.errors] == [
            (INTERNAL_MESSAGE, {"code": "INTERNAL"})
        ]
