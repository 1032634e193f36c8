"""What every RPC goes through on the server: request id, caller identity, access log, metrics, error mapping.

One interceptor does all five in one wrapper (not a chain of five), so the hot path pays one extra frame.
It wraps the handler's behaviour rather than the handler lookup, because only the behaviour runs in the RPC's
own task: ContextVars set there belong to this RPC alone and are seen by the servicer and everything it calls.

Errors: a `GekoError` becomes its gRPC status plus the `geko-error-bin` trailer (`errors.ERROR_TRAILER`);
`NotImplementedError` (the generated base servicer's answer) becomes UNIMPLEMENTED; anything else is logged
with its stack and answered INTERNAL "internal error" — callers never see a traceback.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import structlog

from services.runtime.context import (
    Principal,
    current_peer_ip,
    current_principal,
    current_request_id,
    current_user_agent,
    new_request_id,
)
from services.runtime.errors import ERROR_TRAILER, GekoError, InternalError, Unauthenticated
from services.runtime.logging import get_logger
from services.runtime.metrics import GRPC_SERVER_HANDLED, GRPC_SERVER_HANDLING_SECONDS
from services.runtime.tokens import TokenVerifier
from services.runtime.types import Metadata, ServicerContext

REQUEST_ID_HEADER = "x-request-id"
# The gateway forwards the browser's user agent here; `user-agent` itself is rewritten by the gRPC client.
FORWARDED_USER_AGENT_HEADER = "x-forwarded-user-agent"
MAX_REQUEST_ID_LENGTH = 128
# Infrastructure RPCs: answered without identity (probes and tools carry no token), logged at debug level.
PUBLIC_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)

log = get_logger("geko.rpc")
# The standard logger the access line goes to once logging is configured, asked first: a line its level drops
# still costs structlog ~8 µs (a logger bound per call), about a tenth of an in-process call. Unconfigured
# structlog (tests) prints every level.
_access_log_level = logging.getLogger("geko.rpc")

# A servicer method as grpc.aio calls it; it may return a message, an awaitable or an (async) iterator.
Behaviour = Callable[[Any, ServicerContext], Any]
# A behaviour as `grpc.RpcMethodHandler` hands it over: the stubs type it for the sync server (a
# `grpc.ServicerContext`, a plain result), but under grpc.aio it is a `Behaviour`.
HandlerBehaviour = Callable[..., Any]


def _metadata_dict(metadata: Metadata | None) -> dict[str, str]:
    """Text metadata as a dict (the last value wins); binary `-bin` values are skipped."""
    result: dict[str, str] = {}
    for key, value in metadata or ():
        if isinstance(value, str):
            result[key.lower()] = value
    return result


def _valid_request_id(value: str | None) -> str | None:
    if value and len(value) <= MAX_REQUEST_ID_LENGTH and value.isprintable() and " " not in value:
        return value
    return None


def peer_ip_from(metadata: dict[str, str], peer: str | None) -> str | None:
    """The client's IP: the first `x-forwarded-for` hop, `x-real-ip`, else the socket peer.

    Services listen on an internal network and only the gateway calls them, so its headers are trusted.
    """
    forwarded = metadata.get("x-forwarded-for", "").split(",")[0].strip()
    if forwarded:
        return forwarded
    if metadata.get("x-real-ip"):
        return metadata["x-real-ip"].strip()
    if not peer:
        return None
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return rest or None


def bearer_token(metadata: dict[str, str]) -> str | None:
    """The token of an `authorization: Bearer <token>` header; None when there is no header."""
    header = metadata.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("authorization must be 'Bearer <token>'")
    return token.strip()


class _Method:
    """What every call of one method shares: its names and its metric children, resolved once (`labels()`
    costs ~2 µs a call: it checks and joins the values under a lock)."""

    __slots__ = ("full", "handled", "name", "public", "seconds", "service")

    def __init__(self, full_method: str) -> None:
        self.full = full_method
        self.service, _, self.name = full_method.lstrip("/").rpartition("/")
        self.public = self.service in PUBLIC_SERVICES
        self.seconds = GRPC_SERVER_HANDLING_SECONDS.labels(self.service, self.name)
        self.handled: dict[grpc.StatusCode, Any] = {}

    def count(self, code: grpc.StatusCode) -> None:
        child = self.handled.get(code)
        if child is None:
            child = self.handled[code] = GRPC_SERVER_HANDLED.labels(self.service, self.name, code.name)
        child.inc()


# By full method name; only methods a server registered get here, so the dict stays small.
_methods: dict[str, _Method] = {}


def _method(full_method: str) -> _Method:
    method = _methods.get(full_method)
    if method is None:
        method = _methods[full_method] = _Method(full_method)
    return method


class _Rpc:
    """Bookkeeping of one call: its method, start time and outcome, for its one log line and the metrics."""

    __slots__ = ("code", "error", "exc_info", "method", "public", "started")

    def __init__(self, method: _Method) -> None:
        self.method = method
        self.public = method.public
        self.started = time.perf_counter()
        self.code = grpc.StatusCode.OK
        self.error: GekoError | None = None
        self.exc_info: BaseException | None = None

    def finish(self) -> None:
        elapsed = time.perf_counter() - self.started
        self.method.count(self.code)
        self.method.seconds.observe(elapsed)
        level = logging.ERROR if self.exc_info is not None else logging.DEBUG if self.public else logging.INFO
        if structlog.is_configured() and not _access_log_level.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "method": self.method.full,
            "code": self.code.name,
            "duration_ms": round(elapsed * 1000, 2),
            "peer": current_peer_ip.get(),
        }
        if self.error is not None:
            fields["error_code"] = self.error.code.value
            fields["error"] = self.error.message
        if self.exc_info is not None:
            log.error("rpc", exc_info=self.exc_info, **fields)
        elif self.public:
            log.debug("rpc", **fields)
        else:
            log.info("rpc", **fields)


class ServerInterceptor(grpc.aio.ServerInterceptor):
    """Wraps unary and streaming behaviours alike; see the module docstring for what it does."""

    def __init__(self, token_verifier: TokenVerifier | None) -> None:
        self._verifier = token_verifier

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: grpc answers UNIMPLEMENTED
        return self.wrap(handler, handler_call_details.method)

    def wrap(self, handler: grpc.RpcMethodHandler[Any, Any], method: str) -> grpc.RpcMethodHandler[Any, Any]:
        """`handler` with its behaviour wrapped; depends only on the method, so in-process calls
        (local_calls.py) wrap each method once instead of once per call."""
        kwargs = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method), **kwargs
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method), **kwargs
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, method), **kwargs
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(handler.stream_stream, method), **kwargs
            )
        return handler

    # ---- the wrappers ----

    def _wrap_unary(self, behaviour: HandlerBehaviour, full_method: str) -> Behaviour:
        method = _method(full_method)

        async def handle(request: Any, context: ServicerContext) -> Any:
            rpc = _Rpc(method)
            try:
                await self._begin(rpc, context)
                result = behaviour(request, context)
                if inspect.isawaitable(result):
                    result = await result
                rpc.code = _code_set_by_servicer(context) or grpc.StatusCode.OK
                return result
            except BaseException as exc:
                await self._fail(rpc, context, exc)
                raise
            finally:
                rpc.finish()

        return handle

    def _wrap_stream(
        self, behaviour: HandlerBehaviour, full_method: str
    ) -> Callable[[Any, ServicerContext], AsyncIterator[Any]]:
        method = _method(full_method)

        async def handle(request: Any, context: ServicerContext) -> AsyncIterator[Any]:
            rpc = _Rpc(method)
            try:
                await self._begin(rpc, context)
                result = behaviour(request, context)
                if hasattr(result, "__aiter__"):
                    async for message in result:
                        yield message
                elif inspect.isawaitable(result):
                    await result  # a servicer that writes with `context.write`
                else:
                    for message in result or ():
                        yield message
                rpc.code = _code_set_by_servicer(context) or grpc.StatusCode.OK
            except BaseException as exc:
                await self._fail(rpc, context, exc)
                raise
            finally:
                rpc.finish()

        return handle

    # ---- the steps ----

    async def _begin(self, rpc: _Rpc, context: ServicerContext) -> None:
        """Set the request's ContextVars, echo its request id, and identify the caller."""
        metadata = _metadata_dict(context.invocation_metadata())
        request_id = _valid_request_id(metadata.get(REQUEST_ID_HEADER)) or new_request_id()
        current_request_id.set(request_id)
        current_peer_ip.set(peer_ip_from(metadata, context.peer()))
        current_user_agent.set(metadata.get(FORWARDED_USER_AGENT_HEADER) or metadata.get("user-agent"))
        current_principal.set(None)
        await context.send_initial_metadata(((REQUEST_ID_HEADER, request_id),))
        if not rpc.public:
            current_principal.set(await self._identify(metadata))

    async def _identify(self, metadata: dict[str, str]) -> Principal | None:
        token = bearer_token(metadata)
        if token is None or self._verifier is None:
            return None
        return await self._verifier.verify(token)

    async def _fail(self, rpc: _Rpc, context: ServicerContext, exc: BaseException) -> None:
        """Record the status and turn `exc` into an abort; returns only for exceptions that must propagate."""
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            rpc.code = grpc.StatusCode.CANCELLED
            return
        if isinstance(exc, grpc.aio.AbortError):  # the servicer aborted with a status of its own
            rpc.code = _code_set_by_servicer(context) or grpc.StatusCode.UNKNOWN
            return
        if isinstance(exc, NotImplementedError):
            rpc.code = grpc.StatusCode.UNIMPLEMENTED
            await context.abort(rpc.code, "not implemented yet")
        if not isinstance(exc, Exception):
            return  # KeyboardInterrupt / SystemExit: not ours to translate
        if isinstance(exc, GekoError):
            error = exc
        else:
            error = InternalError("internal error")
            rpc.exc_info = exc  # the stack goes to the log line, never to the caller
        rpc.code, rpc.error = error.status, error
        await context.abort(
            error.status,
            error.message,
            trailing_metadata=((ERROR_TRAILER, error.to_detail().SerializeToString()),),
        )


def _code_set_by_servicer(context: ServicerContext) -> grpc.StatusCode | None:
    code = context.code()
    if code is None:
        return None
    if isinstance(code, grpc.StatusCode):
        return code
    # grpc.aio reports the raw integer of the C core status
    return next((status for status in grpc.StatusCode if status.value[0] == code), grpc.StatusCode.UNKNOWN)
