"""Invitations through real gRPC: invite, resolve, accept, expiry, revoke, resend, replace, list; the email
through the fake SMTP server of tests/fakes."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import grpc
from sqlalchemy import select, update

from db.models.workspace import Invitation, WorkspaceMember
from geko.workspace.v1 import workspace_pb2
from services.runtime.clock import utcnow
from tests.fakes.smtp_server import SmtpServer
from tests.integration.auth.harness import Platform, PlatformFactory, db_session, rpc_error
from tests.integration.workspace.team import Team, audit_events, new_team, outbox_size, token_of


def _resolve(team: Team, link: str) -> object:
    return team.ws.ResolveInvitation(
        workspace_pb2.ResolveInvitationRequest(token=token_of(link)), metadata=team.platform.metadata()
    )


async def _expire(platform: Platform, invitation_id: str) -> None:
    async with db_session(platform) as db:
        await db.execute(
            update(Invitation)
            .where(Invitation.id == invitation_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()


async def test_an_invitation_carries_a_link_whose_token_is_stored_only_hashed(platform: Platform) -> None:
    team = await new_team(platform)
    admin = await team.join("admin")
    before = utcnow()

    invited = await team.invite("  New.Person@Example.COM ", "editor", by=admin)

    invitation = invited.invitation
    assert (invitation.email, invitation.role) == ("new.person@example.com", "editor")
    assert invitation.status == workspace_pb2.INVITATION_STATUS_PENDING
    assert invitation.inviter_user_id == admin.user_id
    assert invitation.workspace_id == team.workspace_id
    expires = invitation.expire_time.ToDatetime().replace(tzinfo=before.tzinfo)
    assert timedelta(days=7) <= expires - before < timedelta(days=7, minutes=1)
    assert invited.link.startswith(f"{platform.settings.effective_public_url}/invite/")
    token = token_of(invited.link)
    assert len(token) >= 40
    assert not invited.email_sent
    async with db_session(platform) as db:
        stored = await db.scalar(select(Invitation.token_hash).where(Invitation.id == invitation.id))
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    event = (await audit_events(platform, team.owner.tenant_id))[-1]
    assert (event["action"], event["resource_type"], event["resource_id"]) == (
        "MEMBER_INVITED",
        "invitation",
        invitation.id,
    )
    assert event["details"] == {"email": "new.person@example.com", "role": "editor"}
    assert token not in json.dumps(event)


async def test_invite_refusals_name_the_field(platform: Platform) -> None:
    team = await new_team(platform)
    admin = await team.join("admin")
    editor = await team.join("editor")
    before = await outbox_size(platform)

    for email, role, field in (
        ("not an email", "editor", "email"),
        ("a@example.com", "boss", "role"),
        ("a@example.com", "", "role"),
    ):
        code, error = await rpc_error(team.invite(email, role))
        assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, field)
    code, error = await rpc_error(team.invite(editor.email.upper(), "viewer"))
    assert (code, error.field) == (grpc.StatusCode.ALREADY_EXISTS, "email")
    code, _ = await rpc_error(team.invite("b@example.com", "owner", by=admin))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, error = await rpc_error(team.invite("b@example.com", "viewer", by=editor))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "member:invite" in error.message
    assert await outbox_size(platform) == before


async def test_the_invitee_resolves_then_accepts_and_the_token_is_used_up(platform: Platform) -> None:
    team = await new_team(platform, "Acme Labs")
    invitee = await team.person("cy")
    invited = await team.invite(invitee.email, "editor")

    resolved = await _resolve(team, invited.link)

    assert resolved.invitation.id == invited.invitation.id
    assert resolved.tenant_id == team.owner.tenant_id
    assert resolved.workspace_name == "Acme Labs"

    accepted = await team.accept(invitee, invited.link)

    assert accepted.workspace.id == team.workspace_id
    assert (accepted.member.user_id, accepted.member.role) == (invitee.user_id, "editor")
    assert accepted.member.status == workspace_pb2.MEMBER_STATUS_ACTIVE
    assert await team.check(invitee, "chat:create")
    for call in (_resolve(team, invited.link), team.accept(invitee, invited.link)):
        code, error = await rpc_error(call)
        assert (code, error.field, error.reason) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            "token",
            "INVITATION_USED",
        )
    listed = await team.ws.ListInvitations(
        workspace_pb2.ListInvitationsRequest(
            workspace_id=team.workspace_id, statuses=[workspace_pb2.INVITATION_STATUS_ACCEPTED]
        ),
        metadata=team.md(team.owner),
    )
    assert [i.id for i in listed.invitations] == [invited.invitation.id]
    assert listed.invitations[0].HasField("accept_time")
    event = (await audit_events(platform, team.owner.tenant_id))[-1]
    assert (event["action"], event["actor_user_id"]) == ("INVITATION_ACCEPTED", invitee.user_id)


async def test_unknown_and_empty_tokens(platform: Platform) -> None:
    team = await new_team(platform)
    metadata = team.md(team.owner)

    code, _ = await rpc_error(
        team.ws.ResolveInvitation(workspace_pb2.ResolveInvitationRequest(token="nope"), metadata=metadata)
    )
    assert code == grpc.StatusCode.NOT_FOUND
    code, error = await rpc_error(
        team.ws.AcceptInvitation(workspace_pb2.AcceptInvitationRequest(token=" "), metadata=metadata)
    )
    assert (code, error.field) == (grpc.StatusCode.INVALID_ARGUMENT, "token")
    code, _ = await rpc_error(
        team.ws.AcceptInvitation(
            workspace_pb2.AcceptInvitationRequest(token="x"), metadata=platform.metadata()
        )
    )
    assert code == grpc.StatusCode.UNAUTHENTICATED


async def test_only_the_invited_email_of_the_inviting_tenant_may_accept(platform: Platform) -> None:
    team = await new_team(platform)
    invitee = await team.person("cy")
    someone_else = await team.person("di")
    stranger = (await new_team(platform, "Other Co")).owner
    invited = await team.invite(invitee.email, "viewer")

    code, _ = await rpc_error(team.accept(someone_else, invited.link))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    code, _ = await rpc_error(team.accept(stranger, invited.link))
    assert code == grpc.StatusCode.NOT_FOUND

    async with db_session(platform) as db:
        joined = await db.scalars(
            select(WorkspaceMember.user_id).where(WorkspaceMember.workspace_id == team.workspace_id)
        )
        assert set(joined) == {team.owner.user_id}
    assert (await _resolve(team, invited.link)).invitation.status == workspace_pb2.INVITATION_STATUS_PENDING


async def test_an_expired_invitation_is_refused_and_not_listed_as_pending(platform: Platform) -> None:
    team = await new_team(platform)
    invitee = await team.person("cy")
    invited = await team.invite(invitee.email, "viewer")
    await _expire(platform, invited.invitation.id)

    for call in (_resolve(team, invited.link), team.accept(invitee, invited.link)):
        code, error = await rpc_error(call)
        assert (code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVITATION_EXPIRED")

    pending = await team.ws.ListInvitations(
        workspace_pb2.ListInvitationsRequest(workspace_id=team.workspace_id), metadata=team.md(team.owner)
    )
    assert list(pending.invitations) == []
    expired = await team.ws.ListInvitations(
        workspace_pb2.ListInvitationsRequest(
            workspace_id=team.workspace_id, statuses=[workspace_pb2.INVITATION_STATUS_EXPIRED]
        ),
        metadata=team.md(team.owner),
    )
    assert [(i.id, i.status) for i in expired.invitations] == [
        (invited.invitation.id, workspace_pb2.INVITATION_STATUS_EXPIRED)
    ]
    assert await team.role_of(invitee.user_id) is None


async def test_revoke_kills_the_link(platform: Platform) -> None:
    team = await new_team(platform)
    admin = await team.join("admin")
    editor = await team.join("editor")
    invitee = await team.person("cy")
    invited = await team.invite(invitee.email, "viewer")
    request = workspace_pb2.RevokeInvitationRequest(id=invited.invitation.id)

    code, error = await rpc_error(team.ws.RevokeInvitation(request, metadata=team.md(editor)))
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "invitation:revoke" in error.message
    revoked = await team.ws.RevokeInvitation(request, metadata=team.md(admin))

    assert revoked.invitation.status == workspace_pb2.INVITATION_STATUS_REVOKED
    assert revoked.invitation.HasField("revoke_time")
    for call in (_resolve(team, invited.link), team.accept(invitee, invited.link)):
        code, error = await rpc_error(call)
        assert (code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVITATION_REVOKED")
    code, _ = await rpc_error(team.ws.RevokeInvitation(request, metadata=team.md(admin)))
    assert code == grpc.StatusCode.ALREADY_EXISTS
    code, _ = await rpc_error(
        team.ws.ResendInvitation(
            workspace_pb2.ResendInvitationRequest(id=invited.invitation.id), metadata=team.md(admin)
        )
    )
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert (await audit_events(platform, team.owner.tenant_id))[-1]["action"] == "INVITATION_REVOKED"


async def test_resend_issues_a_new_token_and_the_old_link_dies(platform: Platform) -> None:
    team = await new_team(platform)
    invitee = await team.person("cy")
    invited = await team.invite(invitee.email, "editor")
    await _expire(platform, invited.invitation.id)

    resent = await team.ws.ResendInvitation(
        workspace_pb2.ResendInvitationRequest(id=invited.invitation.id), metadata=team.md(team.owner)
    )

    assert resent.link != invited.link
    assert resent.invitation.id == invited.invitation.id
    assert resent.invitation.status == workspace_pb2.INVITATION_STATUS_PENDING
    code, _ = await rpc_error(_resolve(team, invited.link))
    assert code == grpc.StatusCode.NOT_FOUND
    accepted = await team.accept(invitee, resent.link)
    assert accepted.member.role == "editor"
    assert (await audit_events(platform, team.owner.tenant_id))[-2]["action"] == "INVITATION_RESENT"


async def test_inviting_again_replaces_the_pending_invitation(platform: Platform) -> None:
    team = await new_team(platform)
    invitee = await team.person("cy")
    first = await team.invite(invitee.email, "viewer")

    second = await team.invite(invitee.email, "editor")

    code, error = await rpc_error(_resolve(team, first.link))
    assert (code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVITATION_REVOKED")
    pending = await team.ws.ListInvitations(
        workspace_pb2.ListInvitationsRequest(workspace_id=team.workspace_id), metadata=team.md(team.owner)
    )
    assert [(i.id, i.role) for i in pending.invitations] == [(second.invitation.id, "editor")]
    actions = [e["action"] for e in await audit_events(platform, team.owner.tenant_id)]
    assert actions[-2:] == ["INVITATION_REVOKED", "MEMBER_INVITED"]


async def test_pending_invitations_are_listed_newest_first_in_pages(platform: Platform) -> None:
    team = await new_team(platform)
    viewer = await team.join("viewer")
    ids = [
        (await team.invite(f"p{n}.{team.owner.user_id[-6:]}@example.com", "viewer")).invitation.id
        for n in range(3)
    ]
    metadata = team.md(team.owner)

    first = await team.ws.ListInvitations(
        workspace_pb2.ListInvitationsRequest(workspace_id=team.workspace_id, page={"page_size": 2}),
        metadata=metadata,
    )
    rest = await team.ws.ListInvitations(
        workspace_pb2.ListInvitationsRequest(
            workspace_id=team.workspace_id,
            page={"page_size": 2, "page_token": first.page_info.next_page_token},
        ),
        metadata=metadata,
    )

    assert [i.id for i in [*first.invitations, *rest.invitations]] == ids[::-1]
    assert first.page_info.total_size == 3
    code, _ = await rpc_error(
        team.ws.ListInvitations(
            workspace_pb2.ListInvitationsRequest(workspace_id=team.workspace_id), metadata=team.md(viewer)
        )
    )
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_a_deleted_workspace_invitation_is_not_found(platform: Platform) -> None:
    team = await new_team(platform)
    invited = await team.invite("cy@example.com", "viewer")
    await team.ws.DeleteWorkspace(
        workspace_pb2.DeleteWorkspaceRequest(id=team.workspace_id), metadata=team.md(team.owner)
    )

    code, _ = await rpc_error(_resolve(team, invited.link))

    assert code == grpc.StatusCode.NOT_FOUND


async def test_with_smtp_the_invitee_gets_one_email_with_the_link(
    start_platform: PlatformFactory, smtp_server: SmtpServer
) -> None:
    platform = await start_platform(
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_starttls=False,
        public_url="https://geko.example",
    )
    team = await new_team(platform, "Acme Labs")

    invited = await team.invite("cy@example.com", "editor")

    assert invited.email_sent
    assert invited.link.startswith("https://geko.example/invite/")
    received = await smtp_server.wait_for_message()
    assert received.rcpt_to == ("cy@example.com",)
    body = received.message.get_content()
    assert invited.link in body
    assert "Acme Labs" in str(received.message["Subject"])
    resent = await team.ws.ResendInvitation(
        workspace_pb2.ResendInvitationRequest(id=invited.invitation.id), metadata=team.md(team.owner)
    )
    assert resent.link in (await smtp_server.wait_for_message()).message.get_content()
    assert len(smtp_server.messages) == 2


async def test_a_failed_send_keeps_the_invitation(start_platform: PlatformFactory) -> None:
    smtp = await SmtpServer(failure="reject").start()
    try:
        platform = await start_platform(smtp_host=smtp.host, smtp_port=smtp.port, smtp_starttls=False)
        team = await new_team(platform)

        invited = await team.invite("cy@example.com", "editor")
    finally:
        await smtp.stop()

    assert not invited.email_sent
    resolved = await _resolve(team, invited.link)
    assert resolved.invitation.status == workspace_pb2.INVITATION_STATUS_PENDING
