"""Identity mutations: sign-up, sign-in, session refresh and sign-out, API keys. Rules live in auth."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from geko.auth.v1 import auth_pb2
from graphql_gateway.auth.types import (
    ApiKey,
    AuthPayload,
    CreateApiKeyInput,
    CreateApiKeyPayload,
    LoginInput,
    RegisterInput,
)
from graphql_gateway.context import IsAuthenticated, context_of


@strawberry.type
class AuthMutations:
    @strawberry.mutation(
        description="Creates a tenant, its owner and a default workspace; signs the owner in."
    )
    async def register(self, info: Info, input: RegisterInput) -> AuthPayload:
        ctx = context_of(info)
        request = auth_pb2.RegisterRequest(
            email=input.email, password=input.password, name=input.name, tenant_name=input.tenant_name
        )
        response = await ctx.auth.Register(request, metadata=ctx.metadata())
        return AuthPayload.from_proto(response.session)

    @strawberry.mutation(description="Signs in with email and password.")
    async def login(self, info: Info, input: LoginInput) -> AuthPayload:
        ctx = context_of(info)
        request = auth_pb2.LoginRequest(email=input.email, password=input.password)
        response = await ctx.auth.Login(request, metadata=ctx.metadata())
        return AuthPayload.from_proto(response.session)

    @strawberry.mutation(description="Trades a refresh token for a new session; the old token stops working.")
    async def refresh_token(self, info: Info, refresh_token: str) -> AuthPayload:
        ctx = context_of(info)
        request = auth_pb2.RefreshRequest(refresh_token=refresh_token)
        response = await ctx.auth.Refresh(request, metadata=ctx.metadata())
        return AuthPayload.from_proto(response.session)

    @strawberry.mutation(description="Ends the session of this refresh token.")
    async def logout(self, info: Info, refresh_token: str) -> bool:
        ctx = context_of(info)
        request = auth_pb2.LogoutRequest(refresh_token=refresh_token)
        await ctx.auth.Logout(request, metadata=ctx.metadata())
        return True

    @strawberry.mutation(
        description="Creates an API key for the caller; the key is in this answer only.",
        permission_classes=[IsAuthenticated],
    )
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        ctx = context_of(info)
        request = auth_pb2.CreateApiKeyRequest(name=input.name, scopes=input.scopes)
        response = await ctx.auth.CreateApiKey(request, metadata=ctx.metadata())
        return CreateApiKeyPayload(key=response.key, api_key=ApiKey.from_proto(response.api_key))

    @strawberry.mutation(
        description="Revokes one of the caller's API keys.", permission_classes=[IsAuthenticated]
    )
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> ApiKey:
        ctx = context_of(info)
        response = await ctx.auth.RevokeApiKey(
            auth_pb2.RevokeApiKeyRequest(id=str(id)), metadata=ctx.metadata()
        )
        return ApiKey.from_proto(response.api_key)
