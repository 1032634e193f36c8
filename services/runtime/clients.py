"""Calling other services: one channel per address, and interceptors that make every call behave the same.

Every unary call gets a deadline (`grpc_deadline_seconds`) unless the caller sets one; server streams get none
by default (a chat stream may run for minutes) but accept one. Every call carries the request id and, unless
the caller passes its own, the authorization of the principal it acts for. A failed call raises the
`GekoError` the peer raised (or one derived from the status), never a raw `grpc.aio.AioRpcError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.runtime.context import current_principal, current_request_id, new_request_id
from services.runtime.errors import from_rpc_error
from services.runtime.settings import SERVICES, Settings
from services.runtime.types import Metadata

if TYPE_CHECKING:  # local_calls builds on this module
    from services.runtime.local_calls import LocalRoutes

StubT = TypeVar("StubT")

REQUEST_ID_HEADER = "x-request-id"
CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
    # Keepalive finds a dead peer (a restarted pod) before a call waits out its deadline on it.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
)


def proto_service_name(service: str) -> str:
    """The full proto name of one of SERVICES, e.g. "auth" -> "geko.auth.v1.AuthService"."""
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    return f"geko.{service}.v1.{service.capitalize()}Service"


def outgoing_metadata(metadata: Metadata | None, *, user_agent: str | None = None) -> grpc.aio.Metadata:
    """The call's metadata plus the request id, the acting principal's authorization and `user_agent` (for
    in-process calls: the socket's channel adds its own), each when absent. On every internal call: built
    in one pass, without `Metadata.get_all` scans."""
    given = tuple(metadata) if metadata else ()
    keys = {key for key, _ in given}
    added: list[tuple[str, str]] = []
    if REQUEST_ID_HEADER not in keys:
        added.append((REQUEST_ID_HEADER, current_request_id.get() or new_request_id()))
    if "authorization" not in keys:
        principal = current_principal.get()
        if principal is not None and principal.token:
            added.append(("authorization", f"Bearer {principal.token}"))
    if user_agent is not None and "user-agent" not in keys:
        added.append(("user-agent", user_agent))
    return grpc.aio.Metadata(*given, *added)


def _replace(details: Any, **changes: Any) -> Any:
    """A copy of a `ClientCallDetails` (a namedtuple) with some fields changed."""
    return details._replace(**changes)


class _UnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, default_timeout: float) -> None:
        self._default_timeout = default_timeout

    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        details = _replace(
            client_call_details,
            timeout=self._default_timeout
            if client_call_details.timeout is None
            else client_call_details.timeout,
            metadata=outgoing_metadata(client_call_details.metadata),
        )
        call = await continuation(details, request)
        try:
            await call
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from None
        return call  # the call itself, so callers can still read its initial metadata


class _UnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Any], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Any,
    ) -> Any:
        details = _replace(client_call_details, metadata=outgoing_metadata(client_call_details.metadata))
        call = await continuation(details, request)
        return _converted(call)


async def _converted(call: Any) -> AsyncIterator[Any]:
    """The call's messages; a failure mid-stream is raised as the peer's `GekoError`.

    A consumer that stops early should `cancel()` the call it got from the stub (the server then sees the
    cancellation at once); closing this iterator cancels it too.
    """
    try:
        async for message in call:
            yield message
    except grpc.aio.AioRpcError as error:
        raise from_rpc_error(error) from None
    finally:
        if not call.done():
            call.cancel()


class Channels:
    """Lazily opened channels, one per address, shared by every stub in the process; `close()` on exit.

    Services that a server in this process hosts, once it published them with `serve_locally`, are called
    in-process (local_calls.py) with the same contract and behaviour, without the socket.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[tuple[str, Callable[..., Any]], Any] = {}
        self._local: dict[str, LocalRoutes] = {}

    def serve_locally(self, routes: LocalRoutes) -> None:
        """From now on, stubs for the services `routes` hosts call them in-process."""
        self._local.update(dict.fromkeys(routes.services, routes))
        self._stubs.clear()

    def channel(self, address: str) -> grpc.aio.Channel:
        channel = self._channels.get(address)
        if channel is None:
            channel = grpc.aio.insecure_channel(
                address,
                options=CHANNEL_OPTIONS,
                interceptors=[_UnaryUnary(self.settings.grpc_deadline_seconds), _UnaryStream()],
            )
            self._channels[address] = channel
        return channel

    def stub(self, service: str, stub_cls: Callable[[grpc.aio.Channel], StubT]) -> StubT:
        """A stub on the address of `service` (one of SERVICES): `stub("auth", AuthServiceStub)`."""
        key = (service, stub_cls)
        cached: StubT | None = self._stubs.get(key)
        if cached is None:
            address = self.settings.service_addr(service)
            routes = self._local.get(proto_service_name(service))
            if routes is None:
                channel = self.channel(address)
            else:  # duck-types what generated stubs call on a channel
                local = routes.channel(lambda: self.channel(address), self.settings.grpc_deadline_seconds)
                channel = cast(grpc.aio.Channel, local)
            cached = self._stubs[key] = stub_cls(channel)
        return cached

    async def close(self) -> None:
        channels, self._channels, self._stubs, self._local = list(self._channels.values()), {}, {}, {}
        for channel in channels:
            await channel.close()


class HealthStub(Protocol):
    """`health_pb2_grpc.HealthStub` on an aio channel, as far as we call it (its stubs declare no RPCs)."""

    Check: grpc.aio.UnaryUnaryMultiCallable[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]


def health_stub(channels: Channels, service: str) -> HealthStub:
    """The standard gRPC health stub on the address of `service` (one of SERVICES)."""
    return cast(HealthStub, channels.stub(service, health_pb2_grpc.HealthStub))


async def health_check(channels: Channels, service_name: str, deadline_seconds: float = 2.0) -> bool:
    """Whether `service_name` (one of SERVICES) answers SERVING within `deadline_seconds`."""
    stub = health_stub(channels, service_name)
    try:
        response = await stub.Check(
            health_pb2.HealthCheckRequest(service=proto_service_name(service_name)), timeout=deadline_seconds
        )
    except Exception:
        return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)
