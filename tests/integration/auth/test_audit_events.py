"""Auth's audit events land in the outbox with the change they describe: who, which tenant, on what, and never
a secret. Through real gRPC, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import socket
from typing import Any

from sqlalchemy import select, update

from db.models.auth import RefreshToken, User
from geko.auth.v1 import auth_pb2
from services.auth.opaque_tokens import hash_secret
from tests.integration.auth.harness import (
    PASSWORD,
    Platform,
    PlatformFactory,
    audit_events,
    db_session,
    rpc_error,
    unique_email,
)


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str | None, str, str | None]]:
    return [
        (event["action"], event["actor_user_id"], event["resource_type"], event["resource_id"])
        for event in events
    ]


async def _family_of(platform: Platform, refresh_token: str) -> str:
    async with db_session(platform) as db:
        query = select(RefreshToken.family_id).where(RefreshToken.token_hash == hash_secret(refresh_token))
        return str((await db.scalars(query)).one())


async def test_register_records_user_registered_acted_by_the_new_user(platform: Platform) -> None:
    registered = await platform.register()
    user = registered.session.user

    events = await audit_events(platform, tenant_id=user.tenant_id, service="auth")

    assert _summary(events) == [("USER_REGISTERED", user.id, "user", user.id)]
    assert events[0]["workspace_id"] == registered.default_workspace_id
    assert events[0]["details"] == {"via": "register", "email": user.email, "role": "owner"}
    assert events[0]["ip"] == platform.ip
    assert PASSWORD not in json.dumps(events)


async def test_login_and_failed_logins_of_a_known_account(platform: Platform) -> None:
    email = unique_email()
    user = (await platform.register(email=email)).session.user

    login = await platform.auth.Login(
        auth_pb2.LoginRequest(email=email, password=PASSWORD), metadata=platform.metadata()
    )
    await rpc_error(
        platform.auth.Login(
            auth_pb2.LoginRequest(email=email, password="wrong horse 42"), metadata=platform.metadata()
        )
    )
    async with db_session(platform) as db:
        await db.execute(update(User).where(User.id == user.id).values(is_active=False))
        await db.commit()
    await rpc_error(
        platform.auth.Login(
            auth_pb2.LoginRequest(email=email, password=PASSWORD), metadata=platform.metadata()
        )
    )

    events = await audit_events(platform, tenant_id=user.tenant_id, service="auth")
    assert _summary(events) == [
        ("USER_REGISTERED", user.id, "user", user.id),
        ("USER_LOGIN", user.id, "session", await _family_of(platform, login.session.refresh_token)),
        ("LOGIN_FAILED", user.id, "user", user.id),
        ("LOGIN_FAILED", user.id, "user", user.id),
    ]
    reasons = [event["details"] for event in events[2:]]
    assert reasons == [{"reason": "wrong_password"}, {"reason": "disabled"}]
    assert "wrong horse" not in json.dumps(events)
    assert PASSWORD not in json.dumps(events)


async def test_a_login_attempt_for_an_unknown_email_records_nothing(platform: Platform) -> None:
    before = await audit_events(platform)

    await rpc_error(
        platform.auth.Login(
            auth_pb2.LoginRequest(email=unique_email("nobody"), password=PASSWORD),
            metadata=platform.metadata(),
        )
    )

    assert await audit_events(platform) == before


async def test_token_reuse_is_recorded_once_when_it_ends_the_session(platform: Platform) -> None:
    session = (await platform.register()).session
    first = session.refresh_token
    await platform.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first), metadata=platform.metadata())

    for _ in range(2):  # the reuse revokes the family; presenting it again finds nothing left to revoke
        await rpc_error(
            platform.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=first), metadata=platform.metadata())
        )

    events = await audit_events(platform, tenant_id=session.user.tenant_id, service="auth")
    reuse = [event for event in events if event["action"] == "TOKEN_REUSE_DETECTED"]
    family_id = await _family_of(platform, first)
    assert _summary(reuse) == [("TOKEN_REUSE_DETECTED", session.user.id, "session", family_id)]
    assert reuse[0]["details"] == {"family_id": family_id}
    assert first not in json.dumps(events)


async def test_a_logged_out_token_presented_again_is_not_reuse(platform: Platform) -> None:
    session = (await platform.register()).session
    token = session.refresh_token
    await platform.auth.Logout(auth_pb2.LogoutRequest(refresh_token=token), metadata=platform.metadata())

    await rpc_error(
        platform.auth.Refresh(auth_pb2.RefreshRequest(refresh_token=token), metadata=platform.metadata())
    )

    events = await audit_events(platform, tenant_id=session.user.tenant_id, service="auth")
    assert [event["action"] for event in events] == ["USER_REGISTERED"]


async def test_api_keys_made_and_revoked_are_recorded_without_the_key(platform: Platform) -> None:
    owner = (await platform.register()).session
    as_owner = platform.metadata(owner.access_token)
    created = await platform.auth.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(name="CI deploy", scopes=["read", "chat"]), metadata=as_owner
    )

    for _ in range(2):  # revoking is idempotent, and so is its record
        await platform.auth.RevokeApiKey(
            auth_pb2.RevokeApiKeyRequest(id=created.api_key.id), metadata=as_owner
        )

    events = await audit_events(platform, tenant_id=owner.user.tenant_id, service="auth")
    key_events = [event for event in events if event["resource_type"] == "api_key"]
    assert _summary(key_events) == [
        ("APIKEY_CREATED", owner.user.id, "api_key", created.api_key.id),
        ("APIKEY_REVOKED", owner.user.id, "api_key", created.api_key.id),
    ]
    details = {"name": "CI deploy", "scopes": ["read", "chat"]}
    assert [event["details"] for event in key_events] == [details, details]
    assert created.key not in json.dumps(events)
    assert created.api_key.prefix not in json.dumps(events)


async def test_a_failed_register_records_no_registration(start_platform: PlatformFactory) -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{probe.getsockname()[1]}"
    broken = await start_platform(workspace_addr=closed)
    email = unique_email()

    _, error = await rpc_error(broken.register(email=email))

    assert error.code == "UPSTREAM_UNAVAILABLE"
    registrations = [
        event
        for event in await audit_events(broken, service="auth")
        if event["action"] == "USER_REGISTERED" and event["details"].get("email") == email
    ]
    assert registrations == []
