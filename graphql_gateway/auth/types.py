"""GraphQL types of identity, each built from its `geko.auth.v1` message."""

from __future__ import annotations

from datetime import datetime

import strawberry

from geko.auth.v1 import auth_pb2
from graphql_gateway.common import Plan, plan_from_proto, to_datetime, to_optional_datetime


@strawberry.type(description="An organisation using GEKO; every user belongs to exactly one.")
class Tenant:
    id: strawberry.ID
    name: str
    plan: Plan

    @classmethod
    def from_proto(cls, tenant: auth_pb2.Tenant) -> Tenant:
        return cls(id=strawberry.ID(tenant.id), name=tenant.name, plan=plan_from_proto(tenant.plan))


@strawberry.type(description="A person signed up in a tenant.")
class User:
    id: strawberry.ID
    email: str
    name: str
    role: str = strawberry.field(description="Tenant-level role: owner, admin, editor or viewer.")
    tenant: Tenant
    created_at: datetime

    @classmethod
    def from_proto(cls, user: auth_pb2.User) -> User:
        return cls(
            id=strawberry.ID(user.id),
            email=user.email,
            name=user.name,
            role=user.role,
            tenant=Tenant.from_proto(user.tenant),
            created_at=to_datetime(user.create_time),
        )


@strawberry.type(description="A signed-in session: a short-lived access token and a refresh token.")
class AuthPayload:
    access_token: str = strawberry.field(description="Send as `Authorization: Bearer <accessToken>`.")
    refresh_token: str = strawberry.field(description="Trade for a new session with `refreshToken`; one use.")
    expires_at: datetime = strawberry.field(description="When the access token stops working.")
    user: User

    @classmethod
    def from_proto(cls, session: auth_pb2.Session) -> AuthPayload:
        return cls(
            access_token=session.access_token,
            refresh_token=session.refresh_token,
            expires_at=to_datetime(session.access_token_expire_time),
            user=User.from_proto(session.user),
        )


@strawberry.type(description="A key for scripts and services; the secret itself is shown only at creation.")
class ApiKey:
    id: strawberry.ID
    name: str
    scopes: list[str]
    prefix: str = strawberry.field(description="The first characters of the key, to recognise it.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_proto(cls, key: auth_pb2.ApiKey) -> ApiKey:
        return cls(
            id=strawberry.ID(key.id),
            name=key.name,
            scopes=list(key.scopes),
            prefix=key.prefix,
            created_at=to_datetime(key.create_time),
            last_used_at=to_optional_datetime(key.last_used_time),
            revoked_at=to_optional_datetime(key.revoke_time),
        )


@strawberry.type
class CreateApiKeyPayload:
    key: str = strawberry.field(description="The whole key. Store it now: it is never shown again.")
    api_key: ApiKey


@strawberry.type(description="A tick of the heartbeat subscription.")
class Heartbeat:
    time: datetime
    user_id: strawberry.ID = strawberry.field(description="Who the connection is signed in as.")


@strawberry.input
class RegisterInput:
    email: str
    password: str
    name: str
    tenant_name: str


@strawberry.input
class LoginInput:
    email: str
    password: str


@strawberry.input
class CreateApiKeyInput:
    name: str
    scopes: list[str] = strawberry.field(default_factory=list)
