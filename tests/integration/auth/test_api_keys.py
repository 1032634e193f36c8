"""API keys through real gRPC: shown once, listed without the secret, usable as a bearer token, revocable."""

from __future__ import annotations

import grpc
from sqlalchemy import select

from db.models.auth import ApiKey
from geko.auth.v1 import auth_pb2
from geko.common.v1 import common_pb2
from tests.integration.auth.harness import Platform, db_session, rpc_error


async def test_create_list_use_and_revoke(platform: Platform) -> None:
    owner = (await platform.register()).session
    as_owner = platform.metadata(owner.access_token)

    created = await platform.auth.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(name=" CI deploy ", scopes=["write", "read", "read"]), metadata=as_owner
    )
    key = created.key
    assert key.startswith("gk_")
    assert len(key) > 40
    assert created.api_key.name == "CI deploy"
    assert list(created.api_key.scopes) == ["read", "write"]
    assert created.api_key.prefix == key[:10]
    async with db_session(platform) as db:
        stored = (await db.scalars(select(ApiKey).where(ApiKey.id == created.api_key.id))).one()
    assert key not in (stored.key_hash, stored.prefix)

    listed = await platform.auth.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=as_owner)
    assert [item.id for item in listed.api_keys] == [created.api_key.id]
    assert key not in str(listed)
    assert listed.page_info.total_size == 1

    me = await platform.auth.GetMe(auth_pb2.GetMeRequest(), metadata=platform.metadata(key))
    assert me.user.id == owner.user.id
    verified = await platform.auth.VerifyToken(
        auth_pb2.VerifyTokenRequest(token=key), metadata=platform.metadata()
    )
    assert verified.principal.api_key_id == created.api_key.id
    assert list(verified.principal.scopes) == ["read", "write"]
    assert verified.principal.tenant_id == owner.user.tenant_id
    listed = await platform.auth.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=as_owner)
    assert listed.api_keys[0].HasField("last_used_time")

    revoked = await platform.auth.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(id=created.api_key.id), metadata=as_owner
    )
    assert revoked.api_key.HasField("revoke_time")

    code, _ = await rpc_error(platform.auth.GetMe(auth_pb2.GetMeRequest(), metadata=platform.metadata(key)))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    code, error = await rpc_error(
        platform.auth.VerifyToken(auth_pb2.VerifyTokenRequest(token=key), metadata=platform.metadata())
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert error.message == "API key revoked"


async def test_unknown_api_key_is_unauthenticated(platform: Platform) -> None:
    code, _ = await rpc_error(
        platform.auth.GetMe(auth_pb2.GetMeRequest(), metadata=platform.metadata("gk_" + "x" * 43))
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_another_tenants_key_cannot_be_revoked(platform: Platform) -> None:
    mine = (await platform.register()).session
    theirs = (await platform.register(tenant_name="Other Co")).session
    their_key = await platform.auth.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(name="theirs", scopes=["read"]),
        metadata=platform.metadata(theirs.access_token),
    )

    code, error = await rpc_error(
        platform.auth.RevokeApiKey(
            auth_pb2.RevokeApiKeyRequest(id=their_key.api_key.id),
            metadata=platform.metadata(mine.access_token),
        )
    )

    assert code == grpc.StatusCode.NOT_FOUND
    assert error.code == "NOT_FOUND"
    code, _ = await rpc_error(
        platform.auth.RevokeApiKey(
            auth_pb2.RevokeApiKeyRequest(id="not-an-id"), metadata=platform.metadata(mine.access_token)
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND
    listed = await platform.auth.ListApiKeys(
        auth_pb2.ListApiKeysRequest(), metadata=platform.metadata(mine.access_token)
    )
    assert list(listed.api_keys) == []
    still = await platform.auth.GetMe(auth_pb2.GetMeRequest(), metadata=platform.metadata(their_key.key))
    assert still.user.id == theirs.user.id


async def test_scopes_and_name_are_checked(platform: Platform) -> None:
    metadata = platform.metadata((await platform.register()).session.access_token)
    cases = [
        (auth_pb2.CreateApiKeyRequest(name="k", scopes=["read", "root"]), "scopes"),
        (auth_pb2.CreateApiKeyRequest(name="k", scopes=[]), "scopes"),
        (auth_pb2.CreateApiKeyRequest(name="  ", scopes=["read"]), "name"),
    ]
    for request, field in cases:
        code, error = await rpc_error(platform.auth.CreateApiKey(request, metadata=metadata))
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert error.field == field


async def test_a_key_without_admin_scope_cannot_make_keys(platform: Platform) -> None:
    owner = (await platform.register()).session
    reader = await platform.auth.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(name="reader", scopes=["read"]),
        metadata=platform.metadata(owner.access_token),
    )

    code, error = await rpc_error(
        platform.auth.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(name="more", scopes=["admin"]),
            metadata=platform.metadata(reader.key),
        )
    )

    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert error.code == "FORBIDDEN"


async def test_keys_are_listed_newest_first_in_pages(platform: Platform) -> None:
    metadata = platform.metadata((await platform.register()).session.access_token)
    ids = []
    for index in range(3):
        created = await platform.auth.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(name=f"key {index}", scopes=["read"]), metadata=metadata
        )
        ids.append(created.api_key.id)

    first = await platform.auth.ListApiKeys(
        auth_pb2.ListApiKeysRequest(page=common_pb2.PageRequest(page_size=2)), metadata=metadata
    )
    second = await platform.auth.ListApiKeys(
        auth_pb2.ListApiKeysRequest(
            page=common_pb2.PageRequest(page_size=2, page_token=first.page_info.next_page_token)
        ),
        metadata=metadata,
    )

    assert [key.id for key in first.api_keys] == ids[:0:-1]
    assert [key.id for key in second.api_keys] == ids[:1]
    assert first.page_info.total_size == 3
    assert second.page_info.next_page_token == ""
    code, error = await rpc_error(
        platform.auth.ListApiKeys(
            auth_pb2.ListApiKeysRequest(page=common_pb2.PageRequest(page_token="%%%")), metadata=metadata
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.field == "page.page_token"
