"""Identity queries: the caller, users of the caller's tenant, and the caller's API keys."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from geko.auth.v1 import auth_pb2
from graphql_gateway.auth.types import ApiKey, User
from graphql_gateway.context import IsAuthenticated, context_of


@strawberry.type
class AuthQueries:
    @strawberry.field(description="The signed-in caller.", permission_classes=[IsAuthenticated])
    async def me(self, info: Info) -> User:
        ctx = context_of(info)
        response = await ctx.auth.GetMe(auth_pb2.GetMeRequest(), metadata=ctx.metadata())
        return User.from_proto(response.user)

    @strawberry.field(
        description="A user of the caller's tenant, or null when there is none with this id.",
        permission_classes=[IsAuthenticated],
    )
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        return await context_of(info).users.load(str(id))

    @strawberry.field(
        description="The caller's API keys, newest first.", permission_classes=[IsAuthenticated]
    )
    async def api_keys(self, info: Info) -> list[ApiKey]:
        ctx = context_of(info)
        response = await ctx.auth.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=ctx.metadata())
        return [ApiKey.from_proto(key) for key in response.api_keys]
