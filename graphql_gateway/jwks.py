"""`/.well-known/jwks.json`: the public keys that verify GEKO access tokens, for anyone checking one.

The key set comes from `AuthService.GetJwks` and is kept `CACHE_SECONDS`, so a burst of clients costs auth one
call; a new key (rotation) is visible after at most that long.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import Response

from geko.auth.v1 import auth_pb2, auth_pb2_grpc
from graphql_gateway.responses import graphql_error_response
from services.runtime.clients import Channels
from services.runtime.errors import GekoError

CACHE_SECONDS = 60.0


class JwksEndpoint:
    def __init__(self, channels: Channels) -> None:
        self.channels = channels
        self._body: bytes | None = None
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def respond(self, request: Request) -> Response:
        try:
            body = await self._jwks()
        except GekoError as exc:
            return graphql_error_response(exc.message, exc.code, 503)
        headers = {"Cache-Control": f"public, max-age={int(CACHE_SECONDS)}"}
        return Response(body, media_type="application/json", headers=headers)

    async def _jwks(self) -> bytes:
        async with self._lock:
            if self._body is None or time.monotonic() - self._fetched_at >= CACHE_SECONDS:
                stub = self.channels.stub("auth", auth_pb2_grpc.AuthServiceStub)
                response = await stub.GetJwks(auth_pb2.GetJwksRequest())
                self._body = response.jwks_json.encode()
                self._fetched_at = time.monotonic()
            return self._body
