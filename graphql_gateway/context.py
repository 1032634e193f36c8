"""One GraphQL request's (or WebSocket connection's) caller, its gRPC call metadata and its DataLoaders.

The caller is authenticated once, lazily: the `Authorization: Bearer …` header (HTTP) or the
`connection_init` payload `{"authorization": "Bearer …"}` (WebSocket) is verified by the `TokenVerifier` the
first time a resolver needs it (JWTs locally, API keys through auth). Calls to services carry the verified
token, the request id, the client's address and user agent as gRPC metadata, so each service sees the same
caller and can log and rate-limit by them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.permission import BasePermission
from strawberry.types import Info

from geko.audit.v1 import audit_pb2_grpc
from geko.auth.v1 import auth_pb2, auth_pb2_grpc
from geko.billing.v1 import billing_pb2_grpc
from geko.chat.v1 import chat_pb2_grpc
from geko.memory.v1 import memory_pb2_grpc
from geko.model.v1 import model_pb2_grpc
from geko.workspace.v1 import workspace_pb2_grpc
from graphql_gateway.auth.types import User
from services.runtime.clients import Channels
from services.runtime.context import Principal, new_request_id
from services.runtime.errors import GekoError, Unauthenticated
from services.runtime.settings import Settings
from services.runtime.tokens import TokenVerifier

StubT = TypeVar("StubT")


@dataclass(frozen=True, slots=True)
class GatewayDeps:
    """What every request of one app shares: settings, the channels to the services, the token verifier."""

    settings: Settings
    channels: Channels
    token_verifier: TokenVerifier


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` value; UNAUTHENTICATED when missing or malformed."""
    if not authorization:
        raise Unauthenticated("sign in first: send Authorization: Bearer <token>")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("authorization must be 'Bearer <token>'")
    return token


class GatewayContext:
    """`info.context` of every resolver: the connection, the caller, metadata for calls and loaders."""

    def __init__(
        self,
        deps: GatewayDeps,
        connection: HTTPConnection,
        response: Response | WebSocket,
        authorization: str | None,
    ) -> None:
        self.deps = deps
        self.request = connection
        self.response = response
        self.authorization = authorization
        # Strawberry stores the WebSocket connection_init payload here.
        self.connection_params: object = None
        self.request_id: str = connection.scope.get("state", {}).get("request_id") or new_request_id()
        self.peer_ip = connection.client.host if connection.client else None
        self.user_agent = connection.headers.get("user-agent")
        self._principal: Principal | None = None
        self._auth_error: GekoError | None = None
        self.users: DataLoader[str, User | None] = DataLoader(self._load_users)
        # Added to the response's `extensions` (see graphql_gateway.errors.ResultExtensions).
        self.result_extensions: dict[str, object] = {}

    async def principal(self) -> Principal:
        """The verified caller; UNAUTHENTICATED when the credentials are missing or invalid.

        Verified once: a failure is kept too, so thirty aliased fields with a bad API key cost auth one call.
        """
        if self._principal is None and self._auth_error is None:
            try:
                self._principal = await self.deps.token_verifier.verify(bearer_token(self.authorization))
            except GekoError as exc:
                self._auth_error = exc
        if self._auth_error is not None:
            raise self._auth_error
        assert self._principal is not None
        return self._principal

    def http_headers(self) -> MutableHeaders | None:
        """The HTTP response's headers, which a resolver may still set; None over a WebSocket."""
        if isinstance(self.response, WebSocket):
            return None
        return self.response.headers

    @property
    def signed_in(self) -> bool:
        """Whether the caller sent credentials at all (they may still turn out to be invalid)."""
        return bool(self.authorization)

    def act_as(self, access_token: str) -> None:
        """From now on this request acts for the holder of `access_token`: a mutation that signs someone in
        (acceptInvitation) resolves the rest of its answer as the new user."""
        self.authorization = f"Bearer {access_token}"
        self._principal = None
        self._auth_error = None

    def stub(self, service: str, stub_class: type[StubT]) -> StubT:
        return self.deps.channels.stub(service, stub_class)

    @property
    def auth(self) -> auth_pb2_grpc.AuthServiceStub:
        return self.stub("auth", auth_pb2_grpc.AuthServiceStub)

    @property
    def workspace(self) -> workspace_pb2_grpc.WorkspaceServiceStub:
        return self.stub("workspace", workspace_pb2_grpc.WorkspaceServiceStub)

    @property
    def model(self) -> model_pb2_grpc.ModelServiceStub:
        return self.stub("model", model_pb2_grpc.ModelServiceStub)

    @property
    def audit(self) -> audit_pb2_grpc.AuditServiceStub:
        return self.stub("audit", audit_pb2_grpc.AuditServiceStub)

    @property
    def chat(self) -> chat_pb2_grpc.ChatServiceStub:
        return self.stub("chat", chat_pb2_grpc.ChatServiceStub)

    @property
    def memory(self) -> memory_pb2_grpc.MemoryServiceStub:
        return self.stub("memory", memory_pb2_grpc.MemoryServiceStub)

    @property
    def billing(self) -> billing_pb2_grpc.BillingServiceStub:
        return self.stub("billing", billing_pb2_grpc.BillingServiceStub)

    def metadata(self) -> Sequence[tuple[str, str]]:
        """gRPC metadata for calls made for this caller. The token goes only once verified, so a stale
        header in a client does not get in the way of public calls such as `login`."""
        metadata = [("x-request-id", self.request_id)]
        if self._principal is not None:
            metadata.append(("authorization", f"Bearer {self._principal.token}"))
        if self.peer_ip:
            metadata.append(("x-forwarded-for", self.peer_ip))
        if self.user_agent:
            metadata.append(("x-forwarded-user-agent", self.user_agent[:256]))
        return metadata

    async def _load_users(self, ids: list[str]) -> list[User | None]:
        """One `BatchGetUsers` for every user a query asks for; ids outside the caller's tenant are null."""
        response = await self.auth.BatchGetUsers(
            auth_pb2.BatchGetUsersRequest(ids=ids), metadata=self.metadata()
        )
        found = {user.id: User.from_proto(user) for user in response.users}
        return [found.get(user_id) for user_id in ids]


def context_of(info: Info[Any, Any]) -> GatewayContext:
    context = info.context
    assert isinstance(context, GatewayContext)
    return context


class IsAuthenticated(BasePermission):
    """The one permission the gateway checks: a verified caller. Finer rules live in the services."""

    message = "sign in first"

    async def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        await context_of(info).principal()  # raises UNAUTHENTICATED with the precise reason
        return True
