"""The `/graphql` endpoint: Strawberry's ASGI view, with GEKO's context, GraphiQL page and JSON refusals.

Strawberry answers a bad request (malformed JSON, no query, wrong content type, a mutation over GET) with a
plain-text 400; here every refusal is a GraphQL-shaped JSON body with `extensions.code`, and nothing a client
sends can make this view answer 500.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from importlib.resources import files
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema.base import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from graphql_gateway.context import GatewayContext, GatewayDeps
from graphql_gateway.responses import graphql_error_response
from graphql_gateway.transport_ws import EagerTransportWSHandler
from services.runtime.errors import ErrorCode, GekoError
from services.runtime.logging import get_logger

log = get_logger(__name__)

# A client that opens a WebSocket must say who it is within this time.
CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
MAX_SUBSCRIPTIONS_PER_CONNECTION = 50
# Strawberry acknowledges a connection without a payload when on_ws_connect returns UNSET.
PLAIN_ACK: UnsetType = UNSET


@cache
def graphiql_html() -> str:
    """Our GraphiQL page: it loads only the assets vendored under /static/graphiql/."""
    return files("graphql_gateway").joinpath("graphiql.html").read_text(encoding="utf-8")


class GatewayView(GraphQL[GatewayContext, None]):
    graphql_transport_ws_handler_class = EagerTransportWSHandler

    def __init__(self, schema: BaseSchema, deps: GatewayDeps) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql",
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
            max_subscriptions_per_connection=MAX_SUBSCRIPTIONS_PER_CONNECTION,
        )
        self.deps = deps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive))
        except HTTPException as exc:
            response = graphql_error_response(exc.reason, ErrorCode.BAD_USER_INPUT, exc.status_code)
        except Exception:
            log.exception("graphql_request_failed")
            response = graphql_error_response("internal error", ErrorCode.INTERNAL, 500)
        await response(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GatewayContext:
        authorization = None if isinstance(request, WebSocket) else request.headers.get("authorization")
        return GatewayContext(self.deps, request, response, authorization)

    async def on_ws_connect(self, context: GatewayContext) -> UnsetType | dict[str, object] | None:
        """Authenticates a WebSocket from its connection_init payload; a bad token closes the connection.

        A connection without credentials is accepted: subscriptions that need a caller then answer
        UNAUTHENTICATED, as HTTP requests without a header do.
        """
        params = context.connection_params if isinstance(context.connection_params, dict) else {}
        authorization = params.get("authorization", params.get("Authorization"))
        if authorization is None:
            return PLAIN_ACK
        if not isinstance(authorization, str):
            raise ConnectionRejectionError(
                {"message": "authorization must be a string", "code": "UNAUTHENTICATED"}
            )
        context.authorization = authorization
        try:
            await context.principal()
        except GekoError as exc:
            raise ConnectionRejectionError({"message": exc.message, "code": exc.code.value}) from None
        return PLAIN_ACK

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """GraphiQL for a browser (it asks for text/html); a bare GET from a script gets a JSON error."""
        return (
            request.method == "GET"
            and request.query_params.get("query") is None
            and "text/html" in request.headers.get("accept", "")
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(graphiql_html(), headers=GRAPHIQL_HEADERS)

    def decode_json(self, data: str | bytes) -> object:
        # orjson: faster, strict UTF-8, and a nesting limit that turns deep arrays into a clean 400.
        return orjson.loads(data)

    def encode_json(self, data: object) -> str:
        # Text, not bytes: over a WebSocket bytes go out as binary frames, which browser clients drop.
        return orjson.dumps(data).decode()

    def parse_json(self, data: str | bytes) -> Any:
        try:
            parsed = self.decode_json(data)
        except orjson.JSONDecodeError:
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if not isinstance(parsed, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return parsed


# The page runs only our own scripts and talks only to this origin.
GRAPHIQL_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
