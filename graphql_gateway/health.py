"""`/health`: whether the gateway can serve, from the state of everything it depends on.

Each service is asked over the standard gRPC health protocol (every service process registers it), the
database answers `SELECT 1` and the cache a ping, all at once and each under a short timeout, so a hung
dependency makes /health say so quickly instead of hanging the probe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from grpc_health.v1 import health_pb2
from starlette.requests import Request
from starlette.responses import JSONResponse

from services.runtime.backends import Backends
from services.runtime.clients import Channels, health_stub, proto_service_name
from services.runtime.database import Database
from services.runtime.logging import get_logger
from services.runtime.settings import SERVICES

CHECK_TIMEOUT_SECONDS = 2.0
SERVING = "SERVING"
OK = "ok"

log = get_logger(__name__)


async def service_status(channels: Channels, service: str) -> str:
    """SERVING, NOT_SERVING, … as the service reports it; UNAVAILABLE when it cannot be asked."""
    stub = health_stub(channels, service)
    request = health_pb2.HealthCheckRequest(service=proto_service_name(service))
    try:
        response = await stub.Check(request, timeout=CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # an unreachable service is a health state, not an error of /health
        log.warning("health_check_failed", service=service, error=type(exc).__name__)
        return "UNAVAILABLE"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


async def ping_status(name: str, ping: Awaitable[None]) -> str:
    """ "ok" when `ping` finishes in time, "timeout" or "error" otherwise."""
    try:
        await asyncio.wait_for(ping, CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return "timeout"
    except Exception as exc:
        log.warning("health_check_failed", dependency=name, error=type(exc).__name__)
        return "error"
    return OK


class HealthEndpoint:
    """200 with `{"status": "ok", "checks": {...}}` when every check passes, else 503 with "degraded"."""

    def __init__(self, channels: Channels, database: Database, backends: Backends) -> None:
        self.channels = channels
        self.database = database
        self.backends = backends

    async def respond(self, request: Request) -> JSONResponse:
        names = [*SERVICES, "database", "cache"]
        results = await asyncio.gather(
            *(service_status(self.channels, service) for service in SERVICES),
            ping_status("database", self.database.ping()),
            ping_status("cache", self.backends.ping()),
        )
        checks = dict(zip(names, results, strict=True))
        healthy = all(checks[s] == SERVING for s in SERVICES) and checks["database"] == checks["cache"] == OK
        body = {"status": "ok" if healthy else "degraded", "checks": checks}
        return JSONResponse(body, status_code=200 if healthy else 503, headers={"Cache-Control": "no-store"})
