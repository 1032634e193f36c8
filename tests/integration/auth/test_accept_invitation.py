"""AuthService.AcceptInvitation: an invitee without an account joins from the link, inside the inviting
tenant, and is signed in — or nothing is left behind. Real auth and workspace services on one gRPC server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import grpc
from sqlalchemy import select, update

from db.models.auth import User
from db.models.workspace import Invitation
from geko.auth.v1 import auth_pb2
from geko.workspace.v1 import workspace_pb2, workspace_pb2_grpc
from services.auth.service import ACCOUNT_EXISTS_SIGN_IN
from services.runtime.clock import utcnow
from tests.integration.auth.harness import (
    PASSWORD,
    Platform,
    PlatformFactory,
    audit_events,
    db_session,
    rpc_error,
    unique_email,
)

NAME = "Ivy Invitee"


async def _owner(platform: Platform) -> tuple[auth_pb2.Session, str]:
    """A new tenant's owner and their default workspace."""
    registered = await platform.register()
    return registered.session, registered.default_workspace_id


async def _invite(
    platform: Platform, owner: auth_pb2.Session, workspace_id: str, email: str, role: str = "editor"
) -> workspace_pb2.InviteMemberResponse:
    request = workspace_pb2.InviteMemberRequest(workspace_id=workspace_id, email=email, role=role)
    response: workspace_pb2.InviteMemberResponse = await platform.workspace.InviteMember(
        request, metadata=platform.metadata(owner.access_token)
    )
    return response


def _token(invited: workspace_pb2.InviteMemberResponse) -> str:
    return invited.link.rsplit("/", 1)[1]


def _accept(
    platform: Platform, token: str, *, name: str = NAME, password: str = PASSWORD
) -> Awaitable[auth_pb2.AcceptInvitationResponse]:
    request = auth_pb2.AcceptInvitationRequest(token=token, name=name, password=password)
    return platform.auth.AcceptInvitation(request, metadata=platform.metadata())  # public: no token


async def _users_with_email(platform: Platform, email: str) -> list[User]:
    async with db_session(platform) as db:
        return list((await db.scalars(select(User).where(User.email == email))).all())


async def test_a_new_account_joins_the_inviting_tenant_signed_in(platform: Platform) -> None:
    owner, workspace_id = await _owner(platform)
    email = unique_email("ivy")
    invited = await _invite(platform, owner, workspace_id, email.upper(), role="editor")

    accepted = await _accept(platform, _token(invited))

    user = accepted.session.user
    assert accepted.workspace_id == workspace_id
    assert (user.email, user.name, user.tenant_id) == (email, NAME, owner.user.tenant_id)
    assert user.role == "viewer"  # tenant-wide: the least role; the workspace role is the invitation's
    as_invitee = platform.metadata(accepted.session.access_token)
    me = await platform.auth.GetMe(auth_pb2.GetMeRequest(), metadata=as_invitee)
    assert me.user.tenant.id == owner.user.tenant_id
    members = await platform.workspace.ListMembers(
        workspace_pb2.ListMembersRequest(workspace_id=workspace_id),
        metadata=platform.metadata(owner.access_token),
    )
    assert (user.id, "editor") in {(member.user_id, member.role) for member in members.members}
    allowed = await platform.workspace.CheckPermission(
        workspace_pb2.CheckPermissionRequest(workspace_id=workspace_id, permission="chat:create"),
        metadata=as_invitee,
    )
    assert allowed.allowed
    refreshed = await platform.auth.Refresh(
        auth_pb2.RefreshRequest(refresh_token=accepted.session.refresh_token), metadata=platform.metadata()
    )
    assert refreshed.session.user.id == user.id
    login = await platform.auth.Login(
        auth_pb2.LoginRequest(email=email, password=PASSWORD), metadata=platform.metadata()
    )
    assert login.session.user.id == user.id
    registrations = [
        event
        for event in await audit_events(platform, tenant_id=owner.user.tenant_id, service="auth")
        if event["action"] == "USER_REGISTERED" and event["resource_id"] == user.id
    ]
    assert len(registrations) == 1
    assert registrations[0]["actor_user_id"] == user.id
    assert registrations[0]["workspace_id"] == workspace_id
    assert registrations[0]["details"] == {"via": "invitation", "email": email, "role": "viewer"}


async def test_an_email_with_an_account_in_another_tenant_is_a_conflict(platform: Platform) -> None:
    owner, workspace_id = await _owner(platform)
    email = unique_email("taken")
    elsewhere = (await platform.register(email=email, tenant_name="Elsewhere")).session.user
    invited = await _invite(platform, owner, workspace_id, email)

    code, error = await rpc_error(_accept(platform, _token(invited)))

    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert error.code == "CONFLICT"
    assert error.message == ACCOUNT_EXISTS_SIGN_IN
    assert [(user.id, user.tenant_id) for user in await _users_with_email(platform, email)] == [
        (elsewhere.id, elsewhere.tenant_id)
    ]


async def test_bad_input_names_the_field_and_keeps_the_invitation(platform: Platform) -> None:
    owner, workspace_id = await _owner(platform)
    email = unique_email("ivy")
    token = _token(await _invite(platform, owner, workspace_id, email))

    for changes, field in [
        ({"password": "short1"}, "password"),
        ({"password": email}, "password"),
        ({"name": "   "}, "name"),
        ({"token": "  "}, "token"),
    ]:
        values: dict[str, Any] = {"token": token, "name": NAME, "password": PASSWORD, **changes}
        code, error = await rpc_error(_accept(platform, values.pop("token"), **values))
        assert (code, error.code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, "BAD_USER_INPUT", field)

    assert await _users_with_email(platform, email) == []
    accepted = await _accept(platform, token)
    assert accepted.session.user.email == email


async def test_expired_revoked_and_used_tokens_are_refused_with_their_reason(platform: Platform) -> None:
    owner, workspace_id = await _owner(platform)
    expired, revoked, used = (unique_email(name) for name in ("exp", "rev", "used"))
    expired_token = _token(await _invite(platform, owner, workspace_id, expired))
    async with db_session(platform) as db:
        await db.execute(
            update(Invitation)
            .where(Invitation.email == expired)
            .values(expires_at=utcnow() - timedelta(days=1))
        )
        await db.commit()
    revoked_invitation = await _invite(platform, owner, workspace_id, revoked)
    await platform.workspace.RevokeInvitation(
        workspace_pb2.RevokeInvitationRequest(id=revoked_invitation.invitation.id),
        metadata=platform.metadata(owner.access_token),
    )
    used_token = _token(await _invite(platform, owner, workspace_id, used))
    await _accept(platform, used_token)

    for token, reason in [
        (expired_token, "INVITATION_EXPIRED"),
        (_token(revoked_invitation), "INVITATION_REVOKED"),
        (used_token, "INVITATION_USED"),
    ]:
        code, error = await rpc_error(_accept(platform, token, name="Second Try"))
        assert (code, error.field, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "token", reason)

    assert await _users_with_email(platform, expired) == []
    assert await _users_with_email(platform, revoked) == []
    assert [user.name for user in await _users_with_email(platform, used)] == [NAME]


async def test_an_unknown_token_is_not_found(platform: Platform) -> None:
    code, error = await rpc_error(_accept(platform, "no-such-token"))

    assert code == grpc.StatusCode.NOT_FOUND
    assert error.code == "NOT_FOUND"


async def test_accepting_is_rate_limited_per_ip(start_platform: PlatformFactory) -> None:
    platform = await start_platform(login_rate_per_ip=2)

    codes = [(await rpc_error(_accept(platform, f"guess-{attempt}")))[0] for attempt in range(3)]

    assert codes == [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED]


class _Interposer(workspace_pb2_grpc.WorkspaceServiceServicer):
    """A real gRPC hop between auth and the workspace service. It forwards what auth calls, but before
    AcceptInvitation it lets a test change the world (`meanwhile`) or drop the call as unavailable: the
    failures that can strike after auth has made the account."""

    def __init__(self) -> None:
        self.upstream: workspace_pb2_grpc.WorkspaceServiceStub | None = None
        self.meanwhile: Callable[[], Awaitable[None]] | None = None
        self.accept_unavailable = False

    async def CreateWorkspace(
        self, request: workspace_pb2.CreateWorkspaceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> workspace_pb2.CreateWorkspaceResponse:
        assert self.upstream is not None
        response: workspace_pb2.CreateWorkspaceResponse = await self._forward(
            self.upstream.CreateWorkspace, request, context
        )
        return response

    async def ResolveInvitation(
        self, request: workspace_pb2.ResolveInvitationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> workspace_pb2.ResolveInvitationResponse:
        assert self.upstream is not None
        response: workspace_pb2.ResolveInvitationResponse = await self._forward(
            self.upstream.ResolveInvitation, request, context
        )
        return response

    async def AcceptInvitation(
        self, request: workspace_pb2.AcceptInvitationRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> workspace_pb2.AcceptInvitationResponse:
        assert self.upstream is not None
        if self.meanwhile is not None:
            await self.meanwhile()
        if self.accept_unavailable:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "workspace service restarting")
        response: workspace_pb2.AcceptInvitationResponse = await self._forward(
            self.upstream.AcceptInvitation, request, context
        )
        return response

    @staticmethod
    async def _forward(method: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        metadata = tuple(
            (key, value) for key, value in context.invocation_metadata() or () if key == "authorization"
        )
        try:
            return await method(request, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            await context.abort(
                error.code(), error.details() or "", trailing_metadata=tuple(error.trailing_metadata() or ())
            )


@asynccontextmanager
async def _interposed(start_platform: PlatformFactory) -> AsyncIterator[tuple[Platform, _Interposer]]:
    """A platform whose auth reaches the workspace service through an `_Interposer`."""
    interposer = _Interposer()
    server = grpc.aio.server()
    workspace_pb2_grpc.add_WorkspaceServiceServicer_to_server(interposer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel: grpc.aio.Channel | None = None
    try:
        platform = await start_platform(workspace_addr=f"127.0.0.1:{port}")
        channel = grpc.aio.insecure_channel(platform.settings.auth_addr)  # the real one, on the same server
        interposer.upstream = workspace_pb2_grpc.WorkspaceServiceStub(channel)
        yield platform, interposer
    finally:
        if channel is not None:
            await channel.close()
        await server.stop(0)


async def test_a_workspace_outage_after_the_account_was_made_leaves_no_user(
    start_platform: PlatformFactory,
) -> None:
    async with _interposed(start_platform) as (platform, interposer):
        owner, workspace_id = await _owner(platform)
        email = unique_email("ivy")
        token = _token(await _invite(platform, owner, workspace_id, email))
        interposer.accept_unavailable = True

        code, error = await rpc_error(_accept(platform, token))

        assert (code, error.code) == (grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE")
        assert await _users_with_email(platform, email) == []
        registrations = [
            event
            for event in await audit_events(platform, tenant_id=owner.user.tenant_id, service="auth")
            if event["action"] == "USER_REGISTERED" and event["details"].get("email") == email
        ]
        assert registrations == []
        interposer.accept_unavailable = False
        accepted = await _accept(platform, token)  # the invitation is still good
        assert accepted.workspace_id == workspace_id


async def test_a_token_revoked_meanwhile_is_the_workspaces_refusal_and_leaves_no_user(
    start_platform: PlatformFactory,
) -> None:
    async with _interposed(start_platform) as (platform, interposer):
        owner, workspace_id = await _owner(platform)
        email = unique_email("ivy")
        invited = await _invite(platform, owner, workspace_id, email)

        async def revoke() -> None:
            await platform.workspace.RevokeInvitation(
                workspace_pb2.RevokeInvitationRequest(id=invited.invitation.id),
                metadata=platform.metadata(owner.access_token),
            )

        interposer.meanwhile = revoke

        code, error = await rpc_error(_accept(platform, _token(invited)))

        assert (code, error.field, error.reason) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "token",
            "INVITATION_REVOKED",
        )
        assert await _users_with_email(platform, email) == []
