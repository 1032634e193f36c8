"""The escalation guards and the input rules of custom roles."""

from __future__ import annotations

import pytest

from db.models.workspace import WorkspaceRole
from db.seed import DEFAULT_ROLE_PERMISSIONS
from services.runtime.errors import BadInput, Forbidden
from services.workspace.permissions import Access
from services.workspace.repository import RoleRow
from services.workspace.roles import (
    ensure_assignable,
    ensure_grantable,
    valid_description,
    valid_permissions,
    valid_role_name,
)


def _access(role: str) -> Access:
    return Access(workspace_id="w", tenant_id="t", role=role, permissions=DEFAULT_ROLE_PERMISSIONS[role])


def _system(name: str) -> RoleRow:
    return RoleRow(
        role=WorkspaceRole(name=name, workspace_id=None), permissions=DEFAULT_ROLE_PERMISSIONS[name]
    )


def _custom(name: str, permissions: set[str]) -> RoleRow:
    return RoleRow(role=WorkspaceRole(name=name, workspace_id="w"), permissions=frozenset(permissions))


@pytest.mark.parametrize(
    ("giver", "role", "allowed"),
    [
        ("owner", "owner", True),
        ("owner", "admin", True),
        ("admin", "owner", False),
        ("admin", "admin", True),
        ("admin", "viewer", True),
        ("editor", "admin", False),
        ("editor", "editor", True),
        ("viewer", "editor", False),
    ],
)
def test_a_system_role_is_given_only_by_someone_holding_all_of_it(
    giver: str, role: str, allowed: bool
) -> None:
    if allowed:
        ensure_assignable(_access(giver), _system(role))
    else:
        with pytest.raises(Forbidden):
            ensure_assignable(_access(giver), _system(role))


def test_a_custom_role_with_a_permission_the_giver_lacks_is_refused_naming_it() -> None:
    with pytest.raises(Forbidden, match="billing:view"):
        ensure_assignable(_access("admin"), _custom("Treasurer", {"billing:view", "member:view"}))
    ensure_assignable(_access("owner"), _custom("Treasurer", {"billing:view", "member:view"}))


def test_grants_must_be_held_by_the_granter() -> None:
    ensure_grantable(_access("editor"), {"chat:create", "tool:use"})
    with pytest.raises(Forbidden, match="member:invite, role:create"):
        ensure_grantable(_access("editor"), {"chat:create", "role:create", "member:invite"})


@pytest.mark.parametrize("name", ["", "  ", "owner", "Admin", " EDITOR ", "viewer", "x" * 65])
def test_role_names_are_required_bounded_and_not_a_system_name(name: str) -> None:
    with pytest.raises(BadInput) as caught:
        valid_role_name(name)
    assert caught.value.field == "name"


def test_role_inputs_are_trimmed() -> None:
    assert valid_role_name("  Support ") == "Support"
    assert valid_description("  helps ") == "helps"
    assert valid_permissions([" chat:create", "chat:create"]) == {"chat:create"}
    with pytest.raises(BadInput) as caught:
        valid_description("x" * 501)
    assert caught.value.field == "description"


def test_unknown_permissions_are_named() -> None:
    with pytest.raises(BadInput, match="chat:fly, zz") as caught:
        valid_permissions(["zz", "chat:create", "chat:fly"])
    assert caught.value.field == "permissions"
