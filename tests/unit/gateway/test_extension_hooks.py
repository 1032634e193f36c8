"""The gateway's extensions runner runs every kind of extension hook as Strawberry's own runner does.

Extensions with generator, async generator and plain hooks, some stages hooked by none, record what runs
and when; an operation, a failing operation and a subscription go through GekoSchema (ExtensionsRunner)
and through a plain strawberry.Schema, and must leave the same record and give the same results.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator

import strawberry
from strawberry.extensions import SchemaExtension

from graphql_gateway.schema import GekoSchema

Log = list[str]


class Recording(SchemaExtension):
    """Generator hooks on the operation and each streamed result; an async generator on execution."""

    log: Log

    def on_operation(self) -> Iterator[None]:
        self.log.append("operation in")
        yield
        self.log.append("operation out")

    async def on_execute(self) -> AsyncIterator[None]:
        self.log.append("execute in")
        yield
        self.log.append("execute out")

    def on_stream_result(self, result: object) -> Iterator[None]:
        self.log.append(f"result {getattr(result, 'data', None)}")
        yield


class PlainValidate(SchemaExtension):
    """A plain (not generator) hook, which Strawberry wraps its own way, and an operation hook that fails
    when asked to (after the first extension's has started)."""

    log: Log
    fail = False

    def on_validate(self) -> None:  # type: ignore[override]
        self.log.append("validate")

    def on_operation(self) -> Iterator[None]:
        self.log.append("plain operation in")
        if self.fail:
            raise ValueError("refused")
        yield
        self.log.append("plain operation out")


@strawberry.type
class Query:
    @strawberry.field
    def hello(self) -> str:
        return "hi"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def count(self) -> AsyncGenerator[int, None]:
        for n in range(2):
            yield n


def schemas(log: Log, *, fail: bool = False) -> tuple[strawberry.Schema, strawberry.Schema]:
    recording = type("Rec", (Recording,), {"log": log})
    plain = type("Plain", (PlainValidate,), {"log": log, "fail": fail})
    kinds = {"query": Query, "subscription": Subscription, "extensions": [recording, plain]}
    return GekoSchema(**kinds), strawberry.Schema(**kinds)  # type: ignore[arg-type]


async def test_an_operation_runs_the_same_hooks_in_the_same_order() -> None:
    ours_log: Log = []
    theirs_log: Log = []
    ours, _ = schemas(ours_log)
    _, theirs = schemas(theirs_log)
    ours_result = await ours.execute("{ hello }")
    theirs_result = await theirs.execute("{ hello }")
    assert ours_result.data == theirs_result.data == {"hello": "hi"}
    assert ours_log == theirs_log
    assert "execute out" in ours_log
    assert "validate" in ours_log


async def test_a_hook_that_fails_fails_the_operation_alike() -> None:
    ours_log: Log = []
    theirs_log: Log = []
    ours, _ = schemas(ours_log, fail=True)
    _, theirs = schemas(theirs_log, fail=True)
    ours_result = await ours.execute("{ hello }")
    theirs_result = await theirs.execute("{ hello }")
    assert ours_result.data is theirs_result.data is None
    assert ours_result.errors is not None
    assert theirs_result.errors is not None
    assert [e.original_error.__class__ for e in ours_result.errors] == [ValueError]
    assert [e.original_error.__class__ for e in theirs_result.errors] == [ValueError]
    assert ours_log == theirs_log


async def test_a_subscription_runs_the_same_hooks_for_every_result() -> None:
    logs: tuple[Log, Log] = ([], [])
    results = []
    for schema, log in zip((schemas(logs[0])[0], schemas(logs[1])[1]), logs, strict=True):
        stream = await schema.subscribe("subscription { count }")
        assert not isinstance(stream, strawberry.types.ExecutionResult)
        results.append([result.data async for result in stream])
        log.append("done")
    assert results[0] == results[1] == [{"count": 0}, {"count": 1}]
    assert logs[0] == logs[1]
    assert logs[0].count("result {'count': 1}") == 1
