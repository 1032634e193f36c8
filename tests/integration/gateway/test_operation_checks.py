"""What every operation passes through before it runs, and what every HTTP request and result costs: the
document checks (one parse and one validation per query text, Strawberry's own skipped), the result's
extensions, the HTTP metrics' children and the request id on a WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import strawberry
import strawberry.schema.schema as strawberry_schema
from graphql import parse
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from graphql_gateway.app import create_app
from graphql_gateway.context import GatewayContext, GatewayDeps
from graphql_gateway.errors import ResultExtensions, ShapeErrors
from graphql_gateway.http_metrics import HttpMetricsMiddleware
from graphql_gateway.request_meta import RequestMetaMiddleware
from graphql_gateway.schema import GekoSchema
from services.runtime.metrics import REGISTRY
from services.runtime.settings import SERVICES, Settings
from tests.unit.gateway.conftest import StandInVerifier


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    unreachable = {f"{service}_addr": "127.0.0.1:1" for service in SERVICES}
    app = create_app(settings.model_copy(update=unreachable), token_verifier=StandInVerifier())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as http,
    ):
        yield http


@pytest.fixture
def strawberry_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts Strawberry parses itself, and a validation of its own fails the test."""
    parsed: list[str] = []

    def counting_parse(source: str, **options: Any) -> Any:
        parsed.append(source)
        return parse(source, **options)

    def no_validation(*args: Any) -> Any:
        raise AssertionError("Strawberry validated a document the checks had validated")

    monkeypatch.setattr(strawberry_schema, "parse", counting_parse)
    monkeypatch.setattr(strawberry_schema, "validate_document", no_validation)
    return parsed


async def graphql(client: httpx.AsyncClient, query: str, **body: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, **body})
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def test_a_valid_document_is_parsed_and_validated_by_the_checks_alone(
    client: httpx.AsyncClient, strawberry_parses: list[str]
) -> None:
    assert await graphql(client, "{ __typename }") == {"data": {"__typename": "Query"}}
    assert strawberry_parses == []


async def test_validation_errors_come_from_the_checks(
    client: httpx.AsyncClient, strawberry_parses: list[str]
) -> None:
    body = await graphql(client, "{ noSuchField }")
    assert body["errors"][0]["message"] == "Cannot query field 'noSuchField' on type 'Query'."
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert strawberry_parses == []


async def test_a_document_that_does_not_parse_is_left_to_strawberry(
    client: httpx.AsyncClient, strawberry_parses: list[str]
) -> None:
    body = await graphql(client, "{ __typename")
    assert body["errors"][0]["message"].startswith("Syntax Error")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert strawberry_parses == ["{ __typename"]


async def test_an_unknown_operation_name_is_refused_before_validation_errors(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/graphql", json={"query": "subscription A { noSuchField }", "operationName": "B"}
    )
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"message": 'Unknown operation named "B".', "extensions": {"code": "BAD_USER_INPUT"}}
    ]


async def test_a_subscription_named_among_several_operations_is_refused_over_http(
    client: httpx.AsyncClient,
) -> None:
    document = "query Q { __typename } subscription S { heartbeat(intervalMs: 100) { time } }"
    assert (await graphql(client, document, operationName="Q"))["data"] == {"__typename": "Query"}
    body = await graphql(client, document, operationName="S")
    assert body["errors"][0]["message"] == "subscriptions need a WebSocket: graphql-transport-ws at /graphql"


@strawberry.type
class Query:
    @strawberry.field
    def charged(self, info: strawberry.Info) -> int:
        info.context.result_extensions["quota"] = {"used": 1}
        return 1


async def test_result_extensions_are_the_contexts_but_not_its_dict() -> None:
    schema = GekoSchema(query=Query, extensions=[ResultExtensions])
    deps = GatewayDeps(settings=None, channels=None, token_verifier=None)  # type: ignore[arg-type]
    request = Request({"type": "http", "method": "POST", "headers": [], "path": "/graphql"})
    context = GatewayContext(deps, request, Response(), None)
    result = await schema.execute("{ charged }", context_value=context)
    assert result.extensions == {"quota": {"used": 1}}
    assert result.extensions is not context.result_extensions
    result.extensions["other"] = True
    assert context.result_extensions == {"quota": {"used": 1}}


@strawberry.type
class Tick:
    n: int

    @strawberry.field
    def broken(self) -> int:
        raise RuntimeError("secret internals")


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncIterator[Tick]:
        for n in range(2):
            yield Tick(n=n)


async def test_each_streamed_result_has_its_errors_shaped() -> None:
    schema = GekoSchema(query=Query, subscription=Subscription, extensions=[ShapeErrors])
    stream = await schema.subscribe("subscription { ticks { n broken } }")
    assert not isinstance(stream, strawberry.types.ExecutionResult)
    results = [result async for result in stream]
    assert [result.data for result in results] == [None, None]  # `broken` is non-null
    for result in results:
        assert result.errors is not None
        assert [(error.message, error.extensions) for error in result.errors] == [
            ("internal error", {"code": "INTERNAL"})
        ]


def answering(status: int) -> Callable[[Scope, Receive, Send], Any]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await Response(status_code=status)(scope, receive, send)

    return app


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_http_metrics_count_each_status_and_time_each_route() -> None:
    labels = {"method": "GET", "route": "/health"}
    before = [
        sample("http_requests_total", **labels, status="200"),
        sample("http_requests_total", **labels, status="503"),
        sample("http_request_seconds_count", **labels),
    ]
    ok, down = HttpMetricsMiddleware(answering(200)), HttpMetricsMiddleware(answering(503))
    for middleware in (ok, ok, down):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=middleware), base_url="http://x"
        ) as http:
            await http.get("/health")
    after = [
        sample("http_requests_total", **labels, status="200"),
        sample("http_requests_total", **labels, status="503"),
        sample("http_request_seconds_count", **labels),
    ]
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 3]


async def test_a_websocket_gets_its_request_id_on_accept_and_its_frames_unchanged() -> None:
    frame: Message = {"type": "websocket.send", "text": "hello"}
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "websocket.accept", "headers": [(b"x-other", b"1")]})
        await send(frame)

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "headers": [(b"x-request-id", b"req-7")], "client": ("10.0.0.1", 5)}
    await RequestMetaMiddleware(app)(scope, receive, send)
    assert sent[0]["headers"] == [(b"x-other", b"1"), (b"x-request-id", b"req-7")]
    assert sent[1] is frame
