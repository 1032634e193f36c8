"""Operator actions (`geko admin …`): same rules as the RPCs, straight on the database."""

from __future__ import annotations

import pytest

from geko.auth.v1 import auth_pb2
from services.auth import admin
from services.runtime.errors import BadInput, Conflict, NotFound
from tests.integration.auth.harness import PASSWORD, Platform, unique_email


async def test_create_users_set_plan_and_list(platform: Platform) -> None:
    deps = platform.deps
    owner_email = unique_email("owner")
    owner = await admin.create_user(
        deps, email=owner_email.upper(), password=PASSWORD, name="Olga", tenant_name="Ops Co"
    )
    member = await admin.create_user(
        deps,
        email=unique_email("eve"),
        password=PASSWORD,
        name="Eve",
        role="editor",
        tenant_id=owner.tenant_id,
    )

    assert owner.email == owner_email
    assert owner.role == "owner"
    assert owner.plan == "free"
    assert member.tenant_id == owner.tenant_id
    assert member.role == "editor"

    assert (await admin.set_plan(deps, owner_email, "PRO")).plan == "pro"
    listed = await admin.list_users(deps, tenant=owner.tenant_id)
    assert [row.email for row in listed] == [owner.email, member.email]
    assert {row.plan for row in listed} == {"pro"}

    login = await platform.auth.Login(
        auth_pb2.LoginRequest(email=member.email, password=PASSWORD), metadata=platform.metadata()
    )
    assert login.session.user.role == "editor"


async def test_operator_actions_keep_the_rules(platform: Platform) -> None:
    deps = platform.deps
    email = unique_email()
    await admin.create_user(deps, email=email, password=PASSWORD, name="Ann", tenant_name="T")

    with pytest.raises(Conflict):
        await admin.create_user(deps, email=email, password=PASSWORD, name="Ann", tenant_name="T2")
    with pytest.raises(BadInput) as weak:
        await admin.create_user(deps, email=unique_email(), password="password", name="A", tenant_name="T")
    assert weak.value.field == "password"
    with pytest.raises(BadInput) as role:
        await admin.create_user(
            deps, email=unique_email(), password=PASSWORD, name="A", tenant_name="T", role="god"
        )
    assert role.value.field == "role"
    with pytest.raises(BadInput) as plan:
        await admin.set_plan(deps, email, "platinum")
    assert plan.value.field == "plan"
    with pytest.raises(NotFound):
        await admin.set_plan(deps, unique_email("nobody"), "pro")
    with pytest.raises(BadInput):
        await admin.create_user(
            deps,
            email=unique_email(),
            password=PASSWORD,
            name="A",
            tenant_id="00000000-0000-0000-0000-000000000000",
        )


async def test_rotate_signing_key_returns_the_new_kid(platform: Platform) -> None:
    kid = await admin.rotate_signing_key(platform.deps)

    jwks = (await platform.auth.GetJwks(auth_pb2.GetJwksRequest())).jwks_json

    assert kid in jwks
