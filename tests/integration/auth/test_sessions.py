"""Register, login, who-am-I, refresh-token rotation with reuse detection, logout — through real gRPC."""

from __future__ import annotations

import socket

import grpc
from sqlalchemy import select

from db.models.auth import RefreshToken, Tenant, User
from geko.auth.v1 import auth_pb2
from geko.common.v1 import common_pb2
from services.auth.admin import create_user
from services.auth.opaque_tokens import hash_secret
from tests.integration.auth.harness import (
    PASSWORD,
    Platform,
    PlatformFactory,
    db_session,
    rpc_error,
    unique_email,
)


async def test_register_login_me_refresh_reuse_logout(platform: Platform) -> None:
    email = unique_email()
    registered = await platform.register(email=email.upper(), tenant_name="Acme Labs")
    session = registered.session
    assert session.user.email == email
    assert session.user.role == "owner"
    assert session.user.tenant.name == "Acme Labs"
    assert session.user.tenant.plan == common_pb2.PLAN_FREE
    assert session.refresh_token.startswith("gkr_")
    assert registered.default_workspace_id

    login = await platform.auth.Login(
        auth_pb2.LoginRequest(email=f"  {email} ", password=PASSWORD), metadata=platform.metadata()
    )
    assert login.session.user.id == session.user.id
    lifetime = login.session.access_token_expire_time.seconds - _now_seconds()
    assert 0 < lifetime <= 900

    me = await platform.auth.GetMe(
        auth_pb2.GetMeRequest(), metadata=platform.metadata(login.session.access_token)
    )
    assert me.user.id == session.user.id
    assert me.user.tenant.id == session.user.tenant_id

    first = login.session.refresh_token
    refreshed = await platform.auth.Refresh(
        auth_pb2.RefreshRequest(refresh_token=first), metadata=platform.metadata()
    )
    second = refreshed.session.refresh_token
    assert second != first
    assert refreshed.session.user.id == session.user.id
    me_again = await platform.auth.GetMe(
        auth_pb2.GetMeRequest(), metadata=platform.metadata(refreshed.session.access_token)
    )
    assert me_again.user.email == email

    # The rotated token presented again: the whole family goes, the child too.
    code, error = await rpc_error(
        platform.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first), metadata=platform.metadata())
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert error.message == "refresh token reused; session revoked"
    code, _ = await rpc_error(
        platform.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=second), metadata=platform.metadata())
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED
    async with db_session(platform) as db:
        family = (
            await db.scalars(
                select(RefreshToken).where(
                    RefreshToken.token_hash.in_([hash_secret(first), hash_secret(second)])
                )
            )
        ).all()
    assert len(family) == 2
    assert all(token.revoked_at is not None for token in family)
    assert {token.revoke_reason for token in family} == {"reuse"}
    assert {token.ip for token in family} == {platform.ip}

    # The register session is another family, untouched by the reuse; logout revokes it, twice is fine.
    await platform.auth.Logout(
        auth_pb2.LogoutRequest(refresh_token=session.refresh_token), metadata=platform.metadata()
    )
    await platform.auth.Logout(
        auth_pb2.LogoutRequest(refresh_token=session.refresh_token), metadata=platform.metadata()
    )
    code, error = await rpc_error(
        platform.auth.Refresh(
            auth_pb2.RefreshRequest(refresh_token=session.refresh_token), metadata=platform.metadata()
        )
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_login_records_last_login(platform: Platform) -> None:
    email = unique_email()
    await platform.register(email=email)

    await platform.auth.Login(
        auth_pb2.LoginRequest(email=email, password=PASSWORD), metadata=platform.metadata()
    )

    async with db_session(platform) as db:
        user = (await db.scalars(select(User).where(User.email == email))).one()
    assert user.last_login_at is not None


async def test_refresh_with_an_unknown_or_expired_token_is_unauthenticated(platform: Platform) -> None:
    registered = await platform.register()
    async with platform.deps.database.transaction() as db:
        token = (
            await db.scalars(
                select(RefreshToken).where(
                    RefreshToken.token_hash == hash_secret(registered.session.refresh_token)
                )
            )
        ).one()
        token.expires_at = token.created_at

    code, error = await rpc_error(
        platform.auth.Refresh(
            auth_pb2.RefreshRequest(refresh_token=registered.session.refresh_token),
            metadata=platform.metadata(),
        )
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in error.message
    code, _ = await rpc_error(
        platform.auth.Refresh(auth_pb2.RefreshRequest(refresh_token="gkr_nope"), metadata=platform.metadata())
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_logout_of_an_unknown_token_is_quietly_fine(platform: Platform) -> None:
    response = await platform.auth.Logout(
        auth_pb2.LogoutRequest(refresh_token="gkr_unknown"), metadata=platform.metadata()
    )
    assert response == auth_pb2.LogoutResponse()


async def test_duplicate_email_is_a_conflict_whatever_its_case(platform: Platform) -> None:
    email = unique_email()
    await platform.register(email=email)

    code, error = await rpc_error(platform.register(email=email.upper(), tenant_name="Other"))

    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert error.code == "CONFLICT"
    assert error.message == "an account with this email already exists"


async def test_wrong_password_and_unknown_email_answer_alike(platform: Platform) -> None:
    email = unique_email()
    await platform.register(email=email)

    wrong = await rpc_error(
        platform.auth.Login(
            auth_pb2.LoginRequest(email=email, password="wrong horse 42"), metadata=platform.metadata()
        )
    )
    unknown = await rpc_error(
        platform.auth.Login(
            auth_pb2.LoginRequest(email=unique_email("nobody"), password=PASSWORD),
            metadata=platform.metadata(),
        )
    )

    assert wrong[0] == unknown[0] == grpc.StatusCode.UNAUTHENTICATED
    assert wrong[1].message == unknown[1].message == "invalid email or password"
    assert wrong[1].to_detail() == unknown[1].to_detail()
    huge = await rpc_error(
        platform.auth.Login(
            auth_pb2.LoginRequest(email=email, password="x1" * 5000), metadata=platform.metadata()
        )
    )
    assert huge[1].to_detail() == wrong[1].to_detail()


async def test_bad_input_names_the_field(platform: Platform) -> None:
    cases = [
        (
            auth_pb2.RegisterRequest(email="not-an-email", password=PASSWORD, name="A", tenant_name="T"),
            "email",
        ),
        (
            auth_pb2.RegisterRequest(email=unique_email(), password="short1", name="A", tenant_name="T"),
            "password",
        ),
        (
            auth_pb2.RegisterRequest(email=unique_email(), password=PASSWORD, name=" ", tenant_name="T"),
            "name",
        ),
        (
            auth_pb2.RegisterRequest(
                email=unique_email(), password=PASSWORD, name="A", tenant_name="T" * 101
            ),
            "tenant_name",
        ),
    ]
    for request, field in cases:
        code, error = await rpc_error(platform.auth.Register(request, metadata=platform.metadata()))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, field
        assert error.code == "BAD_USER_INPUT"
        assert error.field == field

    code, error = await rpc_error(
        platform.auth.Login(
            auth_pb2.LoginRequest(email="ann@", password=PASSWORD), metadata=platform.metadata()
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.field == "email"


async def test_login_is_rate_limited_per_email_and_per_ip(start_platform: PlatformFactory) -> None:
    platform = await start_platform(login_rate_per_ip=5, login_rate_per_email=2)
    email = unique_email()
    request = auth_pb2.LoginRequest(email=email, password="wrong horse 42")
    for _ in range(2):
        code, _ = await rpc_error(platform.auth.Login(request, metadata=platform.metadata()))
        assert code == grpc.StatusCode.UNAUTHENTICATED

    code, error = await rpc_error(platform.auth.Login(request, metadata=platform.metadata()))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.code == "RATE_LIMITED"
    assert error.retry_after_seconds is not None
    assert error.retry_after_seconds > 0

    # Other emails from the same address: 3 attempts so far, the IP allows 5.
    for attempt in range(2):
        other = auth_pb2.LoginRequest(email=unique_email(f"other{attempt}"), password="wrong horse 42")
        code, _ = await rpc_error(platform.auth.Login(other, metadata=platform.metadata()))
        assert code == grpc.StatusCode.UNAUTHENTICATED
    code, error = await rpc_error(
        platform.auth.Login(
            auth_pb2.LoginRequest(email=unique_email("third"), password="x"), metadata=platform.metadata()
        )
    )
    assert error.code == "RATE_LIMITED"


async def test_register_is_rate_limited_per_ip(start_platform: PlatformFactory) -> None:
    platform = await start_platform(login_rate_per_ip=1)
    await platform.register()

    code, error = await rpc_error(platform.register())

    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.code == "RATE_LIMITED"
    assert error.retry_after_seconds is not None
    assert error.retry_after_seconds > 0


async def test_batch_get_users_sees_only_the_callers_tenant(platform: Platform) -> None:
    mine = await platform.register()
    theirs = await platform.register(tenant_name="Other Co")
    token = mine.session.access_token

    response = await platform.auth.BatchGetUsers(
        auth_pb2.BatchGetUsersRequest(ids=[theirs.session.user.id, "not-an-id", mine.session.user.id]),
        metadata=platform.metadata(token),
    )

    assert [user.id for user in response.users] == [mine.session.user.id]
    assert response.users[0].tenant.id == mine.session.user.tenant_id


async def test_lookup_users_by_email_sees_only_the_callers_tenant(platform: Platform) -> None:
    mine = await platform.register()
    colleague = await create_user(
        platform.deps,
        email=unique_email("col"),
        password=PASSWORD,
        name="Col League",
        role="viewer",
        tenant_id=mine.session.user.tenant_id,
    )
    theirs = await platform.register(tenant_name="Other Co")
    emails = [
        f"  {colleague.email.upper()} ",
        theirs.session.user.email,
        "not an email",
        unique_email("nobody"),
        mine.session.user.email,
        colleague.email,
    ]

    response = await platform.auth.LookupUsersByEmail(
        auth_pb2.LookupUsersByEmailRequest(emails=emails),
        metadata=platform.metadata(mine.session.access_token),
    )

    assert [user.id for user in response.users] == [colleague.id, mine.session.user.id]
    assert {user.tenant.id for user in response.users} == {mine.session.user.tenant_id}


async def test_lookup_users_by_email_is_bounded_and_needs_a_caller(platform: Platform) -> None:
    token = (await platform.register()).session.access_token
    too_many = auth_pb2.LookupUsersByEmailRequest(emails=[unique_email() for _ in range(501)])

    code, error = await rpc_error(
        platform.auth.LookupUsersByEmail(too_many, metadata=platform.metadata(token))
    )
    assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, "emails")
    code, _ = await rpc_error(
        platform.auth.LookupUsersByEmail(auth_pb2.LookupUsersByEmailRequest(), metadata=platform.metadata())
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_get_me_without_a_token_is_unauthenticated(platform: Platform) -> None:
    code, _ = await rpc_error(platform.auth.GetMe(auth_pb2.GetMeRequest(), metadata=platform.metadata()))
    assert code == grpc.StatusCode.UNAUTHENTICATED


def _now_seconds() -> int:
    from services.runtime.clock import utcnow

    return int(utcnow().timestamp())


async def test_register_leaves_nothing_behind_when_the_workspace_service_is_down(
    start_platform: PlatformFactory,
) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    broken = await start_platform(workspace_addr=closed)
    email = unique_email()

    code, error = await rpc_error(broken.register(email=email, tenant_name=f"Ghost {email}"))

    assert code == grpc.StatusCode.UNAVAILABLE
    assert error.code == "UPSTREAM_UNAVAILABLE"
    async with db_session(broken) as db:
        assert (await db.scalars(select(User).where(User.email == email))).all() == []
        assert (await db.scalars(select(Tenant).where(Tenant.name == f"Ghost {email}"))).all() == []
    working = await start_platform()
    registered = await working.register(email=email)
    assert registered.session.user.email == email


async def test_an_oversized_forwarded_address_is_kept_short(platform: Platform) -> None:
    platform.ip = "2001:db8::" + "f" * 200
    registered = await platform.register()

    async with db_session(platform) as db:
        token = (
            await db.scalars(
                select(RefreshToken).where(
                    RefreshToken.token_hash == hash_secret(registered.session.refresh_token)
                )
            )
        ).one()
    assert token.ip == platform.ip[:64]
