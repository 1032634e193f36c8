"""Workspace inputs, invitation states and the cached access record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from db.models.workspace import Invitation
from services.runtime.context import SERVICE_ROLE, Principal
from services.runtime.errors import BadInput
from services.workspace.invitations import hash_token
from services.workspace.permissions import NO_ACCESS, Access
from services.workspace.repository import InvitationState, invitation_state
from services.workspace.workspaces import valid_icon, valid_name

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_names_are_trimmed_required_and_bounded() -> None:
    assert valid_name("  Lab ") == "Lab"
    for raw in ("", "   ", "x" * 101):
        with pytest.raises(BadInput) as caught:
            valid_name(raw)
        assert caught.value.field == "name"


def test_an_empty_icon_is_none_and_a_long_one_refused() -> None:
    assert valid_icon(" ") is None
    assert valid_icon(" 🔬 ") == "🔬"
    with pytest.raises(BadInput) as caught:
        valid_icon("x" * 65)
    assert caught.value.field == "icon"


def _invitation(**changes: datetime) -> Invitation:
    values = {"expires_at": NOW + timedelta(days=1), "accepted_at": None, "revoked_at": None, **changes}
    return Invitation(**values)


@pytest.mark.parametrize(
    ("invitation", "state"),
    [
        (_invitation(), InvitationState.PENDING),
        (_invitation(expires_at=NOW), InvitationState.EXPIRED),
        (_invitation(revoked_at=NOW), InvitationState.REVOKED),
        (_invitation(accepted_at=NOW, expires_at=NOW - timedelta(days=1)), InvitationState.ACCEPTED),
    ],
)
def test_invitation_states(invitation: Invitation, state: InvitationState) -> None:
    assert invitation_state(invitation, NOW) is state


def test_tokens_are_stored_as_their_sha256() -> None:
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_access_round_trips_through_the_cache_encoding() -> None:
    access = Access(
        workspace_id="w1", tenant_id="t1", role="editor", permissions=frozenset({"chat:create", "tool:use"})
    )

    assert Access.from_json(access.to_json()) == access
    assert Access.from_json(NO_ACCESS.to_json()) == NO_ACCESS


def test_a_workspace_is_visible_in_its_tenant_and_to_services_only() -> None:
    access = Access(workspace_id="w1", tenant_id="t1", role="", permissions=frozenset())
    user = Principal(user_id="u", tenant_id="t1", role="owner")
    stranger = Principal(user_id="v", tenant_id="t2", role="owner")
    service = Principal(user_id="", tenant_id="", role=SERVICE_ROLE)

    assert access.visible_to(user)
    assert not access.visible_to(stranger)
    assert access.visible_to(service)
    assert not NO_ACCESS.visible_to(service)
