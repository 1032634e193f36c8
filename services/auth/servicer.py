"""AuthService over gRPC: proto messages in, the service's rules, proto messages out.

Errors are `GekoError`s raised by the rules; the runtime interceptor turns them into statuses. The process
hosting auth verifies callers with `local_token_verifier`, which reads the keys here, never calling itself.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from db.models.auth import ApiKey, Tenant, User
from geko.auth.v1 import auth_pb2, auth_pb2_grpc
from geko.common.v1 import common_pb2
from geko.workspace.v1 import workspace_pb2, workspace_pb2_grpc
from services.auth.api_keys import ApiKeyService
from services.auth.opaque_tokens import is_api_key
from services.auth.service import AuthService, InvitationTarget, SignedIn
from services.auth.signing_keys import SigningKeyRing
from services.runtime.context import Principal
from services.runtime.messages import timestamp
from services.runtime.plans import PLAN_OF_NAME
from services.runtime.secrets import load_secret_key
from services.runtime.server import ServiceDeps, ServiceRegistration
from services.runtime.tokens import JwksTokenVerifier, TokenVerifier
from services.runtime.types import ServicerContext

SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name


def tenant_message(tenant: Tenant) -> auth_pb2.Tenant:
    return auth_pb2.Tenant(
        id=tenant.id,
        name=tenant.name,
        plan=PLAN_OF_NAME.get(tenant.plan, common_pb2.PLAN_UNSPECIFIED),
        create_time=timestamp(tenant.created_at),
    )


def user_message(user: User, tenant: Tenant | None) -> auth_pb2.User:
    return auth_pb2.User(
        id=user.id,
        tenant_id=user.tenant_id,
        email=user.email,
        name=user.name,
        role=user.role,
        tenant=tenant_message(tenant) if tenant is not None else None,
        create_time=timestamp(user.created_at),
    )


def session_message(signed_in: SignedIn) -> auth_pb2.Session:
    return auth_pb2.Session(
        access_token=signed_in.access_token.token,
        refresh_token=signed_in.refresh_token,
        access_token_expire_time=timestamp(signed_in.access_token.expires_at),
        refresh_token_expire_time=timestamp(signed_in.refresh_expires_at),
        user=user_message(signed_in.user, signed_in.tenant),
    )


def api_key_message(key: ApiKey) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        id=key.id,
        name=key.name,
        scopes=list(key.scopes),
        prefix=key.prefix,
        create_time=timestamp(key.created_at),
        last_used_time=timestamp(key.last_used_at),
        revoke_time=timestamp(key.revoked_at),
    )


def principal_message(principal: Principal, expire_time: datetime | None) -> auth_pb2.Principal:
    return auth_pb2.Principal(
        user_id=principal.user_id,
        tenant_id=principal.tenant_id,
        role=principal.role,
        api_key_id=principal.api_key_id or "",
        scopes=list(principal.scopes),
        expire_time=timestamp(expire_time),
    )


def _jwt_expiry(token: str) -> datetime | None:
    """`exp` of a JWT that was already verified (only read here, to fill Principal.expire_time)."""
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
        return datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (IndexError, KeyError, ValueError, TypeError, binascii.Error):
        return None


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(
        self, auth: AuthService, api_keys: ApiKeyService, keys: SigningKeyRing, verifier: TokenVerifier
    ) -> None:
        self._auth = auth
        self._api_keys = api_keys
        self._keys = keys
        self._verifier = verifier

    async def Register(
        self, request: auth_pb2.RegisterRequest, context: ServicerContext
    ) -> auth_pb2.RegisterResponse:
        registered = await self._auth.register(
            email=request.email, password=request.password, name=request.name, tenant_name=request.tenant_name
        )
        return auth_pb2.RegisterResponse(
            session=session_message(registered.session), default_workspace_id=registered.workspace_id
        )

    async def AcceptInvitation(
        self, request: auth_pb2.AcceptInvitationRequest, context: ServicerContext
    ) -> auth_pb2.AcceptInvitationResponse:
        joined = await self._auth.accept_invitation(
            token=request.token, name=request.name, password=request.password
        )
        return auth_pb2.AcceptInvitationResponse(
            session=session_message(joined.session), workspace_id=joined.workspace_id
        )

    async def Login(self, request: auth_pb2.LoginRequest, context: ServicerContext) -> auth_pb2.LoginResponse:
        signed_in = await self._auth.login(email=request.email, password=request.password)
        return auth_pb2.LoginResponse(session=session_message(signed_in))

    async def Refresh(
        self, request: auth_pb2.RefreshRequest, context: ServicerContext
    ) -> auth_pb2.RefreshResponse:
        return auth_pb2.RefreshResponse(
            session=session_message(await self._auth.refresh(request.refresh_token))
        )

    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: ServicerContext
    ) -> auth_pb2.LogoutResponse:
        await self._auth.logout(request.refresh_token)
        return auth_pb2.LogoutResponse()

    async def GetMe(self, request: auth_pb2.GetMeRequest, context: ServicerContext) -> auth_pb2.GetMeResponse:
        user, tenant = await self._auth.me()
        return auth_pb2.GetMeResponse(user=user_message(user, tenant))

    async def VerifyToken(
        self, request: auth_pb2.VerifyTokenRequest, context: ServicerContext
    ) -> auth_pb2.VerifyTokenResponse:
        if is_api_key(request.token):
            # Straight to the database, never a cache: callers cache the answer themselves, briefly.
            verified = await self._api_keys.verify(request.token)
            message = principal_message(verified.principal, verified.api_key.expires_at)
        else:
            principal = await self._verifier.verify(request.token)
            message = principal_message(principal, _jwt_expiry(request.token))
        return auth_pb2.VerifyTokenResponse(principal=message)

    async def GetJwks(
        self, request: auth_pb2.GetJwksRequest, context: ServicerContext
    ) -> auth_pb2.GetJwksResponse:
        return auth_pb2.GetJwksResponse(jwks_json=await self._keys.jwks_json())

    async def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: ServicerContext
    ) -> auth_pb2.CreateApiKeyResponse:
        created = await self._api_keys.create(name=request.name, scopes=list(request.scopes))
        return auth_pb2.CreateApiKeyResponse(key=created.key, api_key=api_key_message(created.api_key))

    async def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: ServicerContext
    ) -> auth_pb2.ListApiKeysResponse:
        page = await self._api_keys.list(size=request.page.page_size, token=request.page.page_token)
        return auth_pb2.ListApiKeysResponse(
            api_keys=[api_key_message(key) for key in page.items],
            page_info=common_pb2.PageInfo(next_page_token=page.next_page_token, total_size=page.total_size),
        )

    async def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: ServicerContext
    ) -> auth_pb2.RevokeApiKeyResponse:
        return auth_pb2.RevokeApiKeyResponse(api_key=api_key_message(await self._api_keys.revoke(request.id)))

    async def BatchGetUsers(
        self, request: auth_pb2.BatchGetUsersRequest, context: ServicerContext
    ) -> auth_pb2.BatchGetUsersResponse:
        users, tenant = await self._auth.users(list(request.ids))
        return auth_pb2.BatchGetUsersResponse(users=[user_message(user, tenant) for user in users])

    async def LookupUsersByEmail(
        self, request: auth_pb2.LookupUsersByEmailRequest, context: ServicerContext
    ) -> auth_pb2.LookupUsersByEmailResponse:
        users, tenant = await self._auth.users_by_email(list(request.emails))
        return auth_pb2.LookupUsersByEmailResponse(users=[user_message(user, tenant) for user in users])


def local_token_verifier(deps: ServiceDeps) -> JwksTokenVerifier:
    """The verifier for the process hosting auth: keys and API keys read locally, so auth never calls itself.

    API key answers are not cached (a revoked key stops working at once); the lookup is one indexed query.
    """
    keys = SigningKeyRing(deps.database, deps.secret_box, deps.settings)
    api_keys = ApiKeyService(deps.database)

    async def verify_api_key(token: str) -> Principal:
        return (await api_keys.verify(token)).principal

    return JwksTokenVerifier(
        keys.jwks_json,
        verify_api_key,
        deps.settings,
        api_key_cache_seconds=0.0,
        service_key=load_secret_key(deps.settings),
    )


class GrpcWorkspaces:
    """`services.auth.service.Workspaces` over gRPC: WorkspaceService, acting as the user whose access token
    it is given (ResolveInvitation is public: the token is the capability)."""

    def __init__(self, deps: ServiceDeps) -> None:
        self._channels = deps.channels

    @property
    def _stub(self) -> workspace_pb2_grpc.WorkspaceServiceStub:
        return self._channels.stub("workspace", workspace_pb2_grpc.WorkspaceServiceStub)

    async def create_workspace(self, name: str, access_token: str) -> str:
        response = await self._stub.CreateWorkspace(
            workspace_pb2.CreateWorkspaceRequest(name=name), metadata=_bearer(access_token)
        )
        return str(response.workspace.id)

    async def resolve_invitation(self, token: str) -> InvitationTarget:
        response = await self._stub.ResolveInvitation(workspace_pb2.ResolveInvitationRequest(token=token))
        invitation = response.invitation
        return InvitationTarget(
            email=invitation.email, tenant_id=response.tenant_id, workspace_id=invitation.workspace_id
        )

    async def accept_invitation(self, token: str, access_token: str) -> str:
        response = await self._stub.AcceptInvitation(
            workspace_pb2.AcceptInvitationRequest(token=token), metadata=_bearer(access_token)
        )
        return str(response.workspace.id)


def _bearer(access_token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {access_token}"),)


def create(deps: ServiceDeps) -> ServiceRegistration:
    keys = SigningKeyRing(deps.database, deps.secret_box, deps.settings)
    auth = AuthService(
        db=deps.database,
        settings=deps.settings,
        keys=keys,
        rate_limiter=deps.backends.rate_limiter,
        workspaces=GrpcWorkspaces(deps),
    )
    servicer = AuthServicer(auth, ApiKeyService(deps.database), keys, local_token_verifier(deps))
    return ServiceRegistration(
        name=SERVICE_NAME, servicer=servicer, add_to_server=auth_pb2_grpc.add_AuthServiceServicer_to_server
    )
