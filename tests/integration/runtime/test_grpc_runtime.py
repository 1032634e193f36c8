"""The gRPC runtime end to end: a real grpc.aio server on 127.0.0.1:0, called through `Channels`.

The servicers are tiny test doubles built on the generated base classes; everything between them and the
caller (interceptors, token verification over GetJwks, health, reflection, client conversion) is real.
"""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from joserfc.jwk import OKPKey

from geko.auth.v1 import auth_pb2, auth_pb2_grpc
from geko.chat.v1 import chat_pb2, chat_pb2_grpc
from services.runtime.clients import Channels, health_check
from services.runtime.context import (
    Principal,
    current_peer_ip,
    current_principal,
    current_request_id,
    current_user_agent,
    require_principal,
)
from services.runtime.errors import ERROR_TRAILER, BadInput, ErrorCode, GekoError, QuotaExceeded
from services.runtime.logging import configure_logging
from services.runtime.metrics import render_metrics
from services.runtime.server import GrpcServer, ServiceRegistration
from services.runtime.settings import Settings
from services.runtime.tokens import jwks_verifier_from_channels
from tests.unit.runtime.jwt_helpers import claims as _claims
from tests.unit.runtime.jwt_helpers import public_jwk as _public_jwk
from tests.unit.runtime.jwt_helpers import sign as _sign

pytestmark = pytest.mark.integration

AUTH = "geko.auth.v1.AuthService"
CHAT = "geko.chat.v1.ChatService"


class AuthDouble(auth_pb2_grpc.AuthServiceServicer):
    """GetMe echoes what the interceptor put in the ContextVars; Login and Logout fail on purpose."""

    def __init__(self, key: OKPKey) -> None:
        self.jwks = json.dumps({"keys": [_public_jwk(key, "Ed25519")]})

    async def GetMe(self, request: Any, context: Any) -> auth_pb2.GetMeResponse:
        principal = require_principal()
        return auth_pb2.GetMeResponse(
            user=auth_pb2.User(
                id=principal.user_id,
                tenant_id=principal.tenant_id,
                role=principal.role,
                name=current_request_id.get() or "",
                email=f"{current_peer_ip.get()}|{current_user_agent.get()}",
            )
        )

    async def GetJwks(self, request: Any, context: Any) -> auth_pb2.GetJwksResponse:
        return auth_pb2.GetJwksResponse(jwks_json=self.jwks)

    async def VerifyToken(self, request: Any, context: Any) -> auth_pb2.VerifyTokenResponse:
        if request.token != "gk_valid_test_key_1234":
            raise GekoError("API key not recognised", code=ErrorCode.UNAUTHENTICATED)
        return auth_pb2.VerifyTokenResponse(
            principal=auth_pb2.Principal(
                user_id="key-user", tenant_id="key-tenant", role="editor", api_key_id="k1"
            )
        )

    async def Login(self, request: Any, context: Any) -> auth_pb2.LoginResponse:
        raise BadInput("email is not a valid address", field="email")

    async def Logout(self, request: Any, context: Any) -> auth_pb2.LogoutResponse:
        raise RuntimeError("db password is hunter2 at /srv/secret.py line 3")

    async def RevokeApiKey(self, request: Any, context: Any) -> auth_pb2.RevokeApiKeyResponse:
        await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "aborted by the servicer itself")
        raise AssertionError("abort returns only by raising")

    async def Refresh(self, request: Any, context: Any) -> auth_pb2.RefreshResponse:
        await asyncio.sleep(30)
        return auth_pb2.RefreshResponse()


class ChatDouble(chat_pb2_grpc.ChatServiceServicer):
    """Two events, then the failure the request's workspace id names ("hang": waits until cancelled)."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def StreamChat(self, request: Any, context: Any) -> AsyncIterator[chat_pb2.StreamChatResponse]:
        require_principal()
        for sequence in (1, 2):
            yield chat_pb2.StreamChatResponse(event=chat_pb2.ChatEvent(turn_id="t1", sequence=sequence))
        if request.workspace_id == "quota":
            raise QuotaExceeded(
                "monthly token quota used up",
                upgrade_url="https://geko.test/upgrade",
                reason="MONTHLY_TOKENS",
            )
        if request.workspace_id == "crash":
            raise ValueError("stack detail that must stay on the server")
        if request.workspace_id == "hang":
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise


@pytest.fixture
def signing_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519", auto_kid=True)


Running = tuple[GrpcServer, Channels, Settings]


@pytest.fixture
async def running(settings: Settings, signing_key: OKPKey) -> AsyncIterator[Running]:
    """A server hosting both doubles, dialled through `Channels`; its verifier calls its own GetJwks."""
    verifier_channels = Channels(settings)
    chat = ChatDouble()
    server = GrpcServer(
        [
            ServiceRegistration(
                AUTH, AuthDouble(signing_key), auth_pb2_grpc.add_AuthServiceServicer_to_server
            ),
            ServiceRegistration(CHAT, chat, chat_pb2_grpc.add_ChatServiceServicer_to_server),
        ],
        token_verifier=jwks_verifier_from_channels(verifier_channels, settings),
        settings=settings,
    )
    port = await server.start("127.0.0.1:0")
    address = f"127.0.0.1:{port}"
    # workspace points at a closed port: a service that is down
    down = "127.0.0.1:1"
    settings = settings.model_copy(
        update={"auth_addr": address, "chat_addr": address, "workspace_addr": down}
    )
    verifier_channels.settings = settings
    channels = Channels(settings)
    try:
        yield server, channels, settings
    finally:
        await channels.close()
        await server.stop(0)
        await verifier_channels.close()


def _auth(channels: Channels) -> auth_pb2_grpc.AuthServiceStub:
    return channels.stub("auth", auth_pb2_grpc.AuthServiceStub)


def _as(token: str) -> None:
    current_principal.set(Principal(user_id="caller", tenant_id="caller-t", role="viewer", token=token))


async def test_request_id_round_trips_and_identity_is_forwarded(
    running: Running, signing_key: OKPKey
) -> None:
    _, channels, _ = running
    current_request_id.set("req-abc-123")
    _as(_sign(signing_key, _claims(sub="u-42", tid="t-7", role="owner")))

    call = _auth(channels).GetMe(auth_pb2.GetMeRequest())
    response = await call
    initial = await call.initial_metadata()

    assert (response.user.id, response.user.tenant_id, response.user.role) == ("u-42", "t-7", "owner")
    assert response.user.name == "req-abc-123"
    assert dict(initial)["x-request-id"] == "req-abc-123"


async def test_a_new_request_id_is_made_when_none_is_set(running: Running, signing_key: OKPKey) -> None:
    _, channels, _ = running
    _as(_sign(signing_key, _claims()))

    call = _auth(channels).GetMe(auth_pb2.GetMeRequest())
    response = await call

    assert len(response.user.name) >= 16
    assert dict(await call.initial_metadata())["x-request-id"] == response.user.name


async def test_forwarded_peer_and_user_agent_reach_the_servicer(
    running: Running, signing_key: OKPKey
) -> None:
    _, channels, _ = running
    _as(_sign(signing_key, _claims()))

    response = await _auth(channels).GetMe(
        auth_pb2.GetMeRequest(),
        metadata=(
            ("x-forwarded-for", "203.0.113.9, 10.0.0.1"),
            ("x-forwarded-user-agent", "Mozilla/5.0 test"),
        ),
    )

    assert response.user.email == "203.0.113.9|Mozilla/5.0 test"
    assert response.user.id == "user-1"  # the caller's own metadata did not drop the forwarded authorization


async def test_api_key_is_verified_by_the_auth_service(running: Running) -> None:
    _, channels, _ = running
    _as("gk_valid_test_key_1234")

    response = await _auth(channels).GetMe(auth_pb2.GetMeRequest())

    assert (response.user.id, response.user.tenant_id) == ("key-user", "key-tenant")


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not-a-token", "malformed token"),
        ("gk_unknown_key_99999", "API key not recognised"),
    ],
)
async def test_bad_credentials_are_unauthenticated_with_the_reason(
    running: Running, token: str, message: str
) -> None:
    _, channels, _ = running
    _as(token)

    with pytest.raises(GekoError) as caught:
        await _auth(channels).GetMe(auth_pb2.GetMeRequest())

    assert caught.value.code is ErrorCode.UNAUTHENTICATED
    assert caught.value.message == message


async def test_expired_and_tampered_tokens_are_refused(running: Running, signing_key: OKPKey) -> None:
    _, channels, _ = running
    expired = _sign(signing_key, _claims(exp=1_000_000, iat=999_000, nbf=999_000))
    header, _, signature = _sign(signing_key, _claims()).split(".")
    tampered = f"{header}.{_sign(signing_key, _claims(role='owner')).split('.')[1]}x.{signature}"

    messages = []
    for token in (expired, tampered):
        _as(token)
        with pytest.raises(GekoError) as caught:
            await _auth(channels).GetMe(auth_pb2.GetMeRequest())
        messages.append((caught.value.code, caught.value.message))

    assert messages[0] == (ErrorCode.UNAUTHENTICATED, "token expired")
    assert messages[1][0] is ErrorCode.UNAUTHENTICATED
    assert messages[1][1] in {"invalid signature", "malformed token"}


async def test_no_credentials_reach_the_servicer_as_no_principal(running: Running) -> None:
    _, channels, _ = running

    with pytest.raises(GekoError) as caught:
        await _auth(channels).GetMe(auth_pb2.GetMeRequest())

    assert caught.value.code is ErrorCode.UNAUTHENTICATED
    assert "sign in" in caught.value.message


async def test_concurrent_calls_keep_their_own_identity(running: Running, signing_key: OKPKey) -> None:
    _, channels, _ = running

    async def me(user: str) -> str:
        _as(_sign(signing_key, _claims(sub=user)))
        return (await _auth(channels).GetMe(auth_pb2.GetMeRequest())).user.id

    users = [f"user-{i}" for i in range(20)]

    assert await asyncio.gather(*(me(u) for u in users)) == users


async def test_geko_error_arrives_with_code_and_field(running: Running) -> None:
    _, channels, _ = running

    with pytest.raises(GekoError) as caught:
        await _auth(channels).Login(auth_pb2.LoginRequest(email="nope"))

    assert caught.value.code is ErrorCode.BAD_USER_INPUT
    assert caught.value.field == "email"
    assert caught.value.message == "email is not a valid address"


async def test_unexpected_exception_is_internal_without_details(running: Running) -> None:
    server, channels, _ = running
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as raw:
        with pytest.raises(grpc.aio.AioRpcError) as raw_error:
            await auth_pb2_grpc.AuthServiceStub(raw).Logout(auth_pb2.LogoutRequest())
    with pytest.raises(GekoError) as caught:
        await _auth(channels).Logout(auth_pb2.LogoutRequest())

    assert raw_error.value.code() == grpc.StatusCode.INTERNAL
    assert raw_error.value.details() == "internal error"
    leaked = repr(raw_error.value.trailing_metadata()) + (raw_error.value.debug_error_string() or "")
    for secret in ("hunter2", "Traceback", "RuntimeError", "secret.py"):
        assert secret not in leaked
    assert (caught.value.code, caught.value.message) == (ErrorCode.INTERNAL, "internal error")


async def test_unimplemented_rpc_is_unimplemented(running: Running) -> None:
    server, channels, _ = running
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as raw:
        with pytest.raises(grpc.aio.AioRpcError) as raw_error:
            await auth_pb2_grpc.AuthServiceStub(raw).Register(auth_pb2.RegisterRequest())
        with pytest.raises(grpc.aio.AioRpcError) as unknown_service:
            await raw.unary_unary("/geko.nothing.v1.Nope/Call")(b"")
    with pytest.raises(GekoError) as caught:
        await _auth(channels).Register(auth_pb2.RegisterRequest())

    assert raw_error.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert unknown_service.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert caught.value.message == "not implemented yet"


async def test_default_deadline_applies_and_a_caller_deadline_wins(running: Running) -> None:
    _, channels, settings = running
    short = Channels(settings.model_copy(update={"grpc_deadline_seconds": 0.2}))
    try:
        with pytest.raises(GekoError) as by_default:
            await _auth(short).Refresh(auth_pb2.RefreshRequest())
        with pytest.raises(GekoError) as by_caller:
            await _auth(channels).Refresh(auth_pb2.RefreshRequest(), timeout=0.2)
    finally:
        await short.close()

    assert by_default.value.code is ErrorCode.UPSTREAM_UNAVAILABLE
    assert by_caller.value.code is ErrorCode.UPSTREAM_UNAVAILABLE


async def test_stream_delivers_events_then_the_mid_stream_error(
    running: Running, signing_key: OKPKey
) -> None:
    _, channels, _ = running
    _as(_sign(signing_key, _claims()))
    chat = channels.stub("chat", chat_pb2_grpc.ChatServiceStub)

    async def sequences(workspace_id: str, into: list[int]) -> None:
        async for response in chat.StreamChat(chat_pb2.StreamChatRequest(workspace_id=workspace_id)):
            into.append(response.event.sequence)

    received: list[int] = []
    crashed: list[int] = []
    with pytest.raises(GekoError) as caught:
        await sequences("quota", received)
    with pytest.raises(GekoError) as crash:
        await sequences("crash", crashed)
    complete = [
        r.event.sequence async for r in chat.StreamChat(chat_pb2.StreamChatRequest(workspace_id="ok"))
    ]

    assert received == [1, 2]
    assert (caught.value.code, caught.value.upgrade_url, caught.value.reason) == (
        ErrorCode.QUOTA_EXCEEDED,
        "https://geko.test/upgrade",
        "MONTHLY_TOKENS",
    )
    assert crashed == [1, 2]
    assert (crash.value.code, crash.value.message) == (ErrorCode.INTERNAL, "internal error")
    assert complete == [1, 2]


async def test_stream_without_identity_is_refused(running: Running) -> None:
    _, channels, _ = running
    chat = channels.stub("chat", chat_pb2_grpc.ChatServiceStub)

    with pytest.raises(GekoError) as caught:
        async for _ in chat.StreamChat(chat_pb2.StreamChatRequest()):
            pass

    assert caught.value.code is ErrorCode.UNAUTHENTICATED


async def test_health_reports_each_service(running: Running) -> None:
    server, channels, _ = running
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as raw:
        health = health_pb2_grpc.HealthStub(raw)
        statuses = {
            name: (await health.Check(health_pb2.HealthCheckRequest(service=name))).status
            for name in ("", AUTH, CHAT)
        }
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await health.Check(health_pb2.HealthCheckRequest(service="geko.nope.v1.NopeService"))

    assert set(statuses.values()) == {health_pb2.HealthCheckResponse.SERVING}
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert await health_check(channels, "auth") is True
    assert (
        await health_check(channels, "workspace") is False
    )  # not hosted here: nothing listens on its address


async def test_reflection_lists_the_services(running: Running) -> None:
    server, _, _ = running
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as raw:
        stub = reflection_pb2_grpc.ServerReflectionStub(raw)
        responses = stub.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")])
        )
        names = [s.name async for r in responses for s in r.list_services_response.service]

    assert {AUTH, CHAT, "grpc.health.v1.Health"} <= set(names)


async def test_graceful_stop_flips_health_to_not_serving(settings: Settings, signing_key: OKPKey) -> None:
    server = GrpcServer(
        [ServiceRegistration(AUTH, AuthDouble(signing_key), auth_pb2_grpc.add_AuthServiceServicer_to_server)],
        token_verifier=None,
        settings=settings,
    )
    port = await server.start("127.0.0.1:0")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as raw:
        watch = health_pb2_grpc.HealthStub(raw).Watch(health_pb2.HealthCheckRequest(service=AUTH))
        first = await watch.read()
        stopping = asyncio.create_task(server.stop(grace=2))
        second = await watch.read()
        await stopping

    assert first.status == health_pb2.HealthCheckResponse.SERVING
    assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_metrics_count_rpcs_by_code(running: Running) -> None:
    _, channels, _ = running
    with pytest.raises(GekoError):
        await _auth(channels).Login(auth_pb2.LoginRequest())

    body, content_type = render_metrics()

    assert content_type.startswith("text/plain")
    assert (
        b'grpc_server_handled_total{code="INVALID_ARGUMENT",method="Login",service="geko.auth.v1.AuthService"}'
        in body
    )
    assert b"grpc_server_handling_seconds_bucket" in body


async def test_trailer_carries_the_error_detail(running: Running) -> None:
    server, _, _ = running
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as raw:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await auth_pb2_grpc.AuthServiceStub(raw).Login(auth_pb2.LoginRequest())

    trailers = dict(caught.value.trailing_metadata() or ())
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ERROR_TRAILER in trailers


def test_duplicate_registration_is_refused(settings: Settings) -> None:
    registration = ServiceRegistration(AUTH, object(), auth_pb2_grpc.add_AuthServiceServicer_to_server)

    with pytest.raises(ValueError, match="registered twice"):
        GrpcServer([registration, registration], token_verifier=None, settings=settings)


async def test_one_json_access_line_per_rpc_without_secrets(
    running: Running, signing_key: OKPKey, capsys: pytest.CaptureFixture[str]
) -> None:
    _, channels, settings = running
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(settings)
    try:
        token = _sign(signing_key, _claims(sub="u-log", tid="t-log"))
        _as(token)
        current_request_id.set("req-log-1")
        await _auth(channels).GetMe(auth_pb2.GetMeRequest())
        with pytest.raises(GekoError):
            await _auth(channels).Logout(auth_pb2.LogoutRequest())
        output = capsys.readouterr().err
    finally:
        root.handlers, root.level = saved
        structlog.reset_defaults()
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    rpc_lines = [line for line in lines if line["event"] == "rpc" and line.get("request_id") == "req-log-1"]

    # GetJwks is the verifier's own call, made while serving GetMe: the request id followed it.
    assert [(line["method"], line["code"]) for line in rpc_lines] == [
        ("/geko.auth.v1.AuthService/GetJwks", "OK"),
        ("/geko.auth.v1.AuthService/GetMe", "OK"),
        ("/geko.auth.v1.AuthService/Logout", "INTERNAL"),
    ]
    assert (rpc_lines[1]["user_id"], rpc_lines[1]["tenant_id"]) == ("u-log", "t-log")
    assert isinstance(rpc_lines[1]["duration_ms"], float | int)
    assert "RuntimeError" in rpc_lines[2]["exception"]  # the stack is in the log, not in the answer
    assert token not in output


async def test_servicer_abort_passes_through_unchanged(running: Running) -> None:
    server, _, _ = running
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as raw:
        with pytest.raises(grpc.aio.AioRpcError) as raw_error:
            await auth_pb2_grpc.AuthServiceStub(raw).RevokeApiKey(auth_pb2.RevokeApiKeyRequest())
    metrics = render_metrics()[0].decode()

    assert raw_error.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert raw_error.value.details() == "aborted by the servicer itself"
    assert 'code="FAILED_PRECONDITION",method="RevokeApiKey"' in metrics


async def test_cancelling_a_stream_reaches_the_server(running: Running, signing_key: OKPKey) -> None:
    server, channels, _ = running
    _as(_sign(signing_key, _claims()))
    chat_double = next(r.servicer for r in server.registrations if r.name == CHAT)
    assert isinstance(chat_double, ChatDouble)

    call = channels.stub("chat", chat_pb2_grpc.ChatServiceStub).StreamChat(
        chat_pb2.StreamChatRequest(workspace_id="hang")
    )
    stream = aiter(call)
    first = await anext(stream)
    await anext(stream)
    call.cancel()
    await asyncio.wait_for(chat_double.cancelled.wait(), timeout=10)

    assert first.event.sequence == 1
    assert chat_double.cancelled.is_set()
