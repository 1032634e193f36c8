"""The gateway's Starlette app: `/graphql` (HTTP + WebSocket), `/health`, `/metrics`, JWKS, GraphiQL assets,
and `/export/audit.csv`.

Whatever `create_app` is not handed (channels to the services, token verifier, database, cache backends) it
builds from `settings` and closes again when the app shuts down; what it is handed, its caller owns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from graphql_gateway.audit.export import AuditCsvExport
from graphql_gateway.context import GatewayDeps
from graphql_gateway.health import HealthEndpoint
from graphql_gateway.http_metrics import HttpMetricsMiddleware
from graphql_gateway.jwks import JwksEndpoint
from graphql_gateway.limits import BodyLimitMiddleware
from graphql_gateway.request_meta import RequestMetaMiddleware
from graphql_gateway.schema import build_schema
from graphql_gateway.view import GatewayView
from services.runtime.backends import Backends, create_backends
from services.runtime.clients import Channels
from services.runtime.database import Database
from services.runtime.metrics import render_metrics
from services.runtime.settings import Settings
from services.runtime.tokens import TokenVerifier, jwks_verifier_from_channels


async def metrics_endpoint(request: Request) -> Response:
    body, content_type = render_metrics()
    return Response(body, headers={"Content-Type": content_type})


def create_app(
    settings: Settings,
    *,
    channels: Channels | None = None,
    token_verifier: TokenVerifier | None = None,
    database: Database | None = None,
    backends: Backends | None = None,
) -> Starlette:
    """The gateway app for `settings`; pass any dependency to share it (and keep ownership of it)."""
    closers: list[Callable[[], Awaitable[None]]] = []
    if channels is None:
        channels = Channels(settings)
        closers.append(channels.close)
    if token_verifier is None:
        token_verifier = jwks_verifier_from_channels(channels, settings)
    if database is None:
        database = Database(settings.effective_database_url)
        closers.append(database.dispose)
    if backends is None:
        backends = create_backends(settings.redis_url)
        closers.append(backends.aclose)

    schema = build_schema(
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_tokens=settings.graphql_max_tokens,
    )
    deps = GatewayDeps(settings=settings, channels=channels, token_verifier=token_verifier)
    view = GatewayView(schema, deps)
    audit_export = AuditCsvExport(deps)
    health = HealthEndpoint(channels, database, backends)
    jwks = JwksEndpoint(channels)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for close in reversed(closers):
                await close()

    return Starlette(
        routes=[
            # No `methods`: the view itself refuses other methods, with a JSON body.
            Route("/graphql", view),
            WebSocketRoute("/graphql", view),
            Route("/health", health.respond, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/.well-known/jwks.json", jwks.respond, methods=["GET"]),
            Route("/export/audit.csv", audit_export.respond, methods=["GET"]),
            Mount("/static", StaticFiles(packages=[("graphql_gateway", "static")]), name="static"),
        ],
        middleware=[
            Middleware(RequestMetaMiddleware),
            Middleware(HttpMetricsMiddleware),
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        ],
        lifespan=lifespan,
    )
