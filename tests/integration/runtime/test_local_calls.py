"""In-process calls (services/runtime/local_calls.py) behave as calls over the socket do.

The seven real services in one `GrpcServer` (SQLite, as `geko up` hosts them) are called twice: through
`Channels` the server published its routes to, and through plain `Channels` over its socket; answers and
`GekoError`s must be the same. Stream mechanics (order, backpressure, cancellation, deadlines) are checked
against a small servicer double on the generated base class, as in test_grpc_runtime.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from db import migrate
from db.seed import seed
from geko.auth.v1 import auth_pb2, auth_pb2_grpc
from geko.billing.v1 import billing_pb2, billing_pb2_grpc
from geko.chat.v1 import chat_pb2, chat_pb2_grpc
from geko.workspace.v1 import workspace_pb2, workspace_pb2_grpc
from services.hosting import registrations, reserved_loopback_port, token_verifier, with_service_addresses
from services.runtime.clients import Channels, health_check
from services.runtime.context import Principal, current_principal, current_request_id, current_user_agent
from services.runtime.errors import ErrorCode, GekoError, QuotaExceeded
from services.runtime.ids import new_id
from services.runtime.local_calls import LOCAL_USER_AGENT
from services.runtime.server import GrpcServer, ServiceDeps, ServiceRegistration
from services.runtime.settings import SERVICES, Settings

pytestmark = pytest.mark.integration

AUTH = "geko.auth.v1.AuthService"
CHAT = "geko.chat.v1.ChatService"


@dataclass
class Platform:
    settings: Settings
    local: Channels  # the server published its routes here
    socket: Channels  # plain: over the loopback socket
    token: str  # a registered owner's access token
    workspace_id: str  # their default workspace


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    await migrate.upgrade(settings.effective_database_url)
    with reserved_loopback_port() as port:
        settings = with_service_addresses(settings, f"127.0.0.1:{port}")
        deps = ServiceDeps.from_settings(settings)
        async with deps.database.transaction() as session:
            await seed(session)
        server = GrpcServer(
            registrations(SERVICES, deps), token_verifier=token_verifier(SERVICES, deps), settings=settings
        )
        await server.start(f"127.0.0.1:{port}")
    server.serve_locally(deps.channels)
    socket = Channels(settings)
    try:
        registered = await deps.channels.stub("auth", auth_pb2_grpc.AuthServiceStub).Register(
            auth_pb2.RegisterRequest(
                email="owner@example.com", password="pass-word-42", name="Owner", tenant_name="Local"
            )
        )
        yield Platform(
            settings,
            deps.channels,
            socket,
            registered.session.access_token,
            registered.default_workspace_id,
        )
    finally:
        await socket.close()
        await server.stop(0)
        await deps.aclose()


def _as(token: str) -> Principal:
    principal = Principal(user_id="caller", tenant_id="caller-t", role="viewer", token=token)
    current_principal.set(principal)
    return principal


def _failure(error: GekoError) -> tuple[Any, ...]:
    return (
        error.code,
        error.field,
        error.message,
        error.upgrade_url,
        error.reason,
        error.retry_after_seconds,
    )


async def _both(platform: Platform, call: Callable[[Channels], Awaitable[Any]]) -> tuple[Any, Any]:
    """`call` through the local channels, then through the socket: each one's answer or GekoError."""
    outcomes = []
    for channels in (platform.local, platform.socket):
        try:
            outcomes.append(await call(channels))
        except GekoError as error:
            outcomes.append(_failure(error))
    return outcomes[0], outcomes[1]


def _auth(channels: Channels) -> auth_pb2_grpc.AuthServiceStub:
    return channels.stub("auth", auth_pb2_grpc.AuthServiceStub)


def _workspace(channels: Channels) -> workspace_pb2_grpc.WorkspaceServiceStub:
    return channels.stub("workspace", workspace_pb2_grpc.WorkspaceServiceStub)


async def test_the_same_answers_locally_and_over_the_socket(platform: Platform) -> None:
    _as(platform.token)

    async def me(channels: Channels) -> Any:
        return await _auth(channels).GetMe(auth_pb2.GetMeRequest())

    async def check(channels: Channels) -> Any:
        return await _workspace(channels).CheckPermission(
            workspace_pb2.CheckPermissionRequest(
                workspace_id=platform.workspace_id, permission="workspace:delete"
            )
        )

    local_me, socket_me = await _both(platform, me)
    local_check, socket_check = await _both(platform, check)

    assert local_me == socket_me
    assert local_me.user.email == "owner@example.com"
    assert local_check == socket_check
    assert (local_check.allowed, local_check.role) == (True, "owner")


async def test_the_same_geko_errors_locally_and_over_the_socket(platform: Platform) -> None:
    async def anonymous_me(channels: Channels) -> Any:
        return await _auth(channels).GetMe(auth_pb2.GetMeRequest())

    async def unknown_workspace(channels: Channels) -> Any:
        return await _workspace(channels).GetWorkspace(workspace_pb2.GetWorkspaceRequest(id=new_id()))

    async def bad_email(channels: Channels) -> Any:
        return await _auth(channels).Register(
            auth_pb2.RegisterRequest(email="nope", password="pass-word-42", name="N", tenant_name="T")
        )

    async def over_quota(channels: Channels) -> Any:
        return await channels.stub("billing", billing_pb2_grpc.BillingServiceStub).ReserveTokens(
            billing_pb2.ReserveTokensRequest(
                workspace_id=platform.workspace_id,
                model_id="gpt-4o-mini",
                estimated_tokens=10**12,
                idempotency_key=new_id(),
            )
        )

    unauthenticated = await _both(platform, anonymous_me)
    _as(platform.token)
    not_found = await _both(platform, unknown_workspace)
    bad_input = await _both(platform, bad_email)
    quota = await _both(platform, over_quota)

    assert unauthenticated[0] == unauthenticated[1]
    assert unauthenticated[0][0] is ErrorCode.UNAUTHENTICATED
    assert not_found[0] == not_found[1]
    assert not_found[0][0] is ErrorCode.NOT_FOUND
    assert bad_input[0] == bad_input[1]
    assert bad_input[0][:2] == (ErrorCode.BAD_USER_INPUT, "email")
    assert quota[0] == quota[1]
    assert quota[0][0] is ErrorCode.QUOTA_EXCEEDED
    assert quota[0][3]  # the upgrade URL travelled in the trailer


async def test_the_server_acts_for_the_forwarded_token_and_the_caller_keeps_its_context(
    platform: Platform,
) -> None:
    caller = _as(platform.token)
    current_request_id.set("req-local-1")
    current_user_agent.set("caller-agent")

    call = _auth(platform.local).GetMe(auth_pb2.GetMeRequest())
    response = await call

    assert response.user.email == "owner@example.com"  # the token's principal, not the caller's ContextVar
    assert dict(await call.initial_metadata())["x-request-id"] == "req-local-1"
    assert current_principal.get() is caller
    assert current_request_id.get() == "req-local-1"
    assert current_user_agent.get() == "caller-agent"


async def test_an_unknown_method_of_a_local_service_is_unimplemented(platform: Platform) -> None:
    def nope(channel: Any) -> Any:
        return channel.unary_unary("/geko.auth.v1.AuthService/Nope")

    with pytest.raises(GekoError) as local:
        await platform.local.stub("auth", nope)(b"")
    with pytest.raises(GekoError) as socket:
        await platform.socket.stub("auth", nope)(b"")

    assert _failure(local.value) == _failure(socket.value)
    assert local.value.message == "not implemented yet"


async def test_health_stays_on_the_socket(platform: Platform) -> None:
    assert await health_check(platform.local, "auth") is True


# ---- stream mechanics, deadlines and the switch, against a servicer double ----


# Set by callers and by AuthDouble.GetMe: neither side may see the other's value.
_probe: ContextVar[str] = ContextVar("probe", default="")


class AuthDouble(auth_pb2_grpc.AuthServiceServicer):
    """GetMe reports the user agent and the probe it saw (then sets the probe); Refresh outlives any
    deadline and notes its cancellation."""

    def __init__(self) -> None:
        self.refresh_cancelled = asyncio.Event()

    async def GetMe(self, request: Any, context: Any) -> auth_pb2.GetMeResponse:
        seen = _probe.get()
        _probe.set("server")
        return auth_pb2.GetMeResponse(user=auth_pb2.User(name=current_user_agent.get() or "", email=seen))

    async def Refresh(self, request: Any, context: Any) -> auth_pb2.RefreshResponse:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.refresh_cancelled.set()
            raise
        return auth_pb2.RefreshResponse()


class ChatDouble(chat_pb2_grpc.ChatServiceServicer):
    """Streams events 1..n (n from max_output_tokens), noting each as it is handed over; then fails with
    the quota error when the workspace id says "quota", or waits to be cancelled when it says "hang"."""

    def __init__(self) -> None:
        self.written: list[int] = []
        self.cancelled = asyncio.Event()

    async def StreamChat(self, request: Any, context: Any) -> AsyncIterator[chat_pb2.StreamChatResponse]:
        for sequence in range(1, request.max_output_tokens + 1):
            yield chat_pb2.StreamChatResponse(event=chat_pb2.ChatEvent(sequence=sequence))
            self.written.append(sequence)
        if request.workspace_id == "quota":
            raise QuotaExceeded("quota used up", upgrade_url="https://geko.test/up", reason="TOKENS")
        if request.workspace_id == "hang":
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise


@dataclass
class Doubles:
    auth: AuthDouble
    chat: ChatDouble
    local: Channels
    socket: Channels


@pytest.fixture
async def doubles(settings: Settings) -> AsyncIterator[Doubles]:
    auth, chat = AuthDouble(), ChatDouble()
    server = GrpcServer(
        [
            ServiceRegistration(AUTH, auth, auth_pb2_grpc.add_AuthServiceServicer_to_server),
            ServiceRegistration(CHAT, chat, chat_pb2_grpc.add_ChatServiceServicer_to_server),
        ],
        token_verifier=None,
        settings=settings,
    )
    port = await server.start("127.0.0.1:0")
    settings = settings.model_copy(
        update={
            "auth_addr": f"127.0.0.1:{port}",
            "chat_addr": f"127.0.0.1:{port}",
            "grpc_deadline_seconds": 0.3,
        }
    )
    local, socket = Channels(settings), Channels(settings)
    server.serve_locally(local)
    try:
        yield Doubles(auth, chat, local, socket)
    finally:
        await local.close()
        await socket.close()
        await server.stop(0)


def _chat(channels: Channels) -> chat_pb2_grpc.ChatServiceStub:
    return channels.stub("chat", chat_pb2_grpc.ChatServiceStub)


async def _read_into(call: Any, received: list[int]) -> None:
    async for response in call:
        received.append(response.event.sequence)


async def test_a_stream_arrives_in_order_holding_the_writer_back_for_a_slow_reader(doubles: Doubles) -> None:
    call = _chat(doubles.local).StreamChat(chat_pb2.StreamChatRequest(max_output_tokens=50))
    received = []
    async for response in call:
        received.append(response.event.sequence)
        await asyncio.sleep(0.002)  # a slow reader
        # The writer is at most one message ahead of what was read.
        assert len(doubles.chat.written) <= len(received) + 1

    assert received == list(range(1, 51))
    assert call.done()


async def test_an_error_mid_stream_arrives_as_the_same_geko_error(doubles: Doubles) -> None:
    outcomes = []
    for channels in (doubles.local, doubles.socket):
        received: list[int] = []
        request = chat_pb2.StreamChatRequest(workspace_id="quota", max_output_tokens=2)
        with pytest.raises(GekoError) as caught:
            await _read_into(_chat(channels).StreamChat(request), received)
        outcomes.append((received, _failure(caught.value)))

    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1][:4] == (ErrorCode.QUOTA_EXCEEDED, None, "quota used up", "https://geko.test/up")


async def test_a_readers_cancel_reaches_the_servicer(doubles: Doubles) -> None:
    call = _chat(doubles.local).StreamChat(
        chat_pb2.StreamChatRequest(workspace_id="hang", max_output_tokens=1)
    )
    stream = aiter(call)
    await anext(stream)
    reading = asyncio.create_task(anext(stream))
    await asyncio.sleep(0.01)

    call.cancel()

    await asyncio.wait_for(doubles.chat.cancelled.wait(), timeout=5)
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert call.done()


async def test_closing_the_iterator_cancels_the_server(doubles: Doubles) -> None:
    request = chat_pb2.StreamChatRequest(workspace_id="hang", max_output_tokens=1)
    stream = aiter(_chat(doubles.local).StreamChat(request))
    await anext(stream)
    await stream.aclose()

    await asyncio.wait_for(doubles.chat.cancelled.wait(), timeout=5)


async def test_deadlines_give_the_same_error_as_over_the_socket(doubles: Doubles) -> None:
    outcomes = []
    for channels in (doubles.local, doubles.socket):
        with pytest.raises(GekoError) as by_default:
            await _auth(channels).Refresh(auth_pb2.RefreshRequest())
        with pytest.raises(GekoError) as by_caller:
            await _auth(channels).Refresh(auth_pb2.RefreshRequest(), timeout=0.05)
        request = chat_pb2.StreamChatRequest(workspace_id="hang", max_output_tokens=1)
        with pytest.raises(GekoError) as on_stream:
            await _read_into(_chat(channels).StreamChat(request, timeout=0.2), [])
        outcomes.append([_failure(caught.value) for caught in (by_default, by_caller, on_stream)])

    assert outcomes[0] == outcomes[1]
    assert {failure[0] for failure in outcomes[0]} == {ErrorCode.UPSTREAM_UNAVAILABLE}


async def test_a_unary_call_runs_in_a_context_of_its_own(doubles: Doubles) -> None:
    _probe.set("caller")

    first = await _auth(doubles.local).GetMe(auth_pb2.GetMeRequest())
    second = await _auth(doubles.local).GetMe(auth_pb2.GetMeRequest())

    assert (first.user.email, second.user.email) == ("", "")  # neither the caller's nor the last call's
    assert _probe.get() == "caller"


async def _cancellation_seen_by(call: Any) -> int:
    """Awaits `call`; on CancelledError, how many cancellations the awaiting task itself has pending."""
    try:
        await call
    except asyncio.CancelledError:
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()
    raise AssertionError("the call was not cancelled")


async def test_cancelling_a_unary_call_reaches_the_servicer_not_the_awaiting_task(doubles: Doubles) -> None:
    call = _auth(doubles.local).Refresh(auth_pb2.RefreshRequest(), timeout=30)
    awaiting = asyncio.create_task(_cancellation_seen_by(call))
    await asyncio.sleep(0.01)

    assert call.cancel()

    assert await asyncio.wait_for(awaiting, timeout=5) == 0  # as grpc.aio: the await raises, nothing else
    assert doubles.auth.refresh_cancelled.is_set()
    assert call.done()
    assert call.cancelled()
    assert await call.code() is grpc.StatusCode.CANCELLED


async def test_cancelling_the_caller_cancels_the_unary_servicer(doubles: Doubles) -> None:
    async def refresh() -> Any:
        return await _auth(doubles.local).Refresh(auth_pb2.RefreshRequest(), timeout=30)

    caller = asyncio.create_task(refresh())
    await asyncio.sleep(0.01)
    caller.cancel()

    with pytest.raises(asyncio.CancelledError):
        await caller
    assert doubles.auth.refresh_cancelled.is_set()


async def test_a_unary_deadline_cancels_the_servicer_and_leaves_the_caller_running(doubles: Doubles) -> None:
    with pytest.raises(GekoError) as caught:
        await _auth(doubles.local).Refresh(auth_pb2.RefreshRequest(), timeout=0.05)
    task = asyncio.current_task()
    assert task is not None

    assert caught.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert doubles.auth.refresh_cancelled.is_set()
    assert task.cancelling() == 0
    await asyncio.sleep(0.01)  # the caller is not cancelled later either


async def test_a_stopping_server_ends_running_unary_calls_as_unavailable(settings: Settings) -> None:
    auth = AuthDouble()
    server = GrpcServer(
        [ServiceRegistration(AUTH, auth, auth_pb2_grpc.add_AuthServiceServicer_to_server)],
        token_verifier=None,
        settings=settings,
    )
    await server.start("127.0.0.1:0")
    channels = Channels(settings)
    server.serve_locally(channels)
    running = asyncio.ensure_future(_auth(channels).Refresh(auth_pb2.RefreshRequest(), timeout=30))
    await asyncio.sleep(0.01)
    try:
        await server.stop(0.05)  # Refresh outlives the grace
        with pytest.raises(GekoError) as caught:
            await running
    finally:
        await channels.close()

    assert caught.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert auth.refresh_cancelled.is_set()


async def test_local_calls_off_keeps_every_call_on_the_socket(settings: Settings) -> None:
    server = GrpcServer(
        [ServiceRegistration(AUTH, AuthDouble(), auth_pb2_grpc.add_AuthServiceServicer_to_server)],
        token_verifier=None,
        settings=settings.model_copy(update={"local_calls": False}),
    )
    port = await server.start("127.0.0.1:0")
    channels = Channels(settings.model_copy(update={"auth_addr": f"127.0.0.1:{port}"}))
    try:
        server.serve_locally(channels)
        seen = (await _auth(channels).GetMe(auth_pb2.GetMeRequest())).user.name
    finally:
        await channels.close()
        await server.stop(0)

    assert seen.startswith("grpc-python-asyncio/")
    assert seen != LOCAL_USER_AGENT


async def test_a_stopped_server_refuses_local_calls_as_unavailable(settings: Settings) -> None:
    server = GrpcServer(
        [ServiceRegistration(AUTH, AuthDouble(), auth_pb2_grpc.add_AuthServiceServicer_to_server)],
        token_verifier=None,
        settings=settings,
    )
    await server.start("127.0.0.1:0")
    channels = Channels(settings)
    server.serve_locally(channels)
    assert (await _auth(channels).GetMe(auth_pb2.GetMeRequest())).user.name == LOCAL_USER_AGENT
    await server.stop(0)
    try:
        with pytest.raises(GekoError) as caught:
            await _auth(channels).GetMe(auth_pb2.GetMeRequest())
    finally:
        await channels.close()

    assert caught.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
