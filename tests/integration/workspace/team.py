"""A tenant's team for the workspace tests: an owner with a workspace, and people of any role who joined it
through real invitations (auth + workspace on one gRPC server: tests/integration/auth/harness.py).

People without a membership are made with the admin API of auth (`geko admin create-user`) and signed in with
a real Login, so GetMe and LookupUsersByEmail answer about real accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from db.models.outbox import OutboxEvent
from geko.auth.v1 import auth_pb2
from geko.workspace.v1 import workspace_pb2
from services.auth.admin import create_user
from services.events.audit import AUDIT_TOPIC
from tests.integration.auth.harness import PASSWORD, Platform, db_session, unique_email


@dataclass(frozen=True)
class Person:
    user_id: str
    email: str
    token: str
    tenant_id: str


@dataclass
class Team:
    """An owner and their workspace; `join` adds people of a given role through invite + accept."""

    platform: Platform
    owner: Person
    workspace_id: str

    @property
    def ws(self) -> Any:
        return self.platform.workspace

    def md(self, person: Person) -> tuple[tuple[str, str], ...]:
        return self.platform.metadata(person.token)

    async def person(self, name: str = "bo") -> Person:
        """A new signed-in account in the team's tenant, member of nothing yet."""
        email = unique_email(name)
        row = await create_user(
            self.platform.deps,
            email=email,
            password=PASSWORD,
            name=name.title(),
            role="viewer",
            tenant_id=self.owner.tenant_id,
        )
        login = await self.platform.auth.Login(
            auth_pb2.LoginRequest(email=email, password=PASSWORD), metadata=self.platform.metadata()
        )
        return Person(user_id=row.id, email=email, token=login.session.access_token, tenant_id=row.tenant_id)

    async def invite(
        self, email: str, role: str, *, by: Person | None = None, workspace_id: str | None = None
    ) -> workspace_pb2.InviteMemberResponse:
        request = workspace_pb2.InviteMemberRequest(
            workspace_id=workspace_id or self.workspace_id, email=email, role=role
        )
        response: workspace_pb2.InviteMemberResponse = await self.ws.InviteMember(
            request, metadata=self.md(by or self.owner)
        )
        return response

    async def accept(self, person: Person, link: str) -> workspace_pb2.AcceptInvitationResponse:
        response: workspace_pb2.AcceptInvitationResponse = await self.ws.AcceptInvitation(
            workspace_pb2.AcceptInvitationRequest(token=token_of(link)), metadata=self.md(person)
        )
        return response

    async def join(self, role: str, *, workspace_id: str | None = None, name: str = "bo") -> Person:
        """A new account that accepted an invitation with `role` from the owner."""
        person = await self.person(name)
        invited = await self.invite(person.email, role, workspace_id=workspace_id)
        await self.accept(person, invited.link)
        return person

    async def check(self, person: Person, permission: str, *, about: Person | None = None) -> bool:
        response = await self.ws.CheckPermission(
            workspace_pb2.CheckPermissionRequest(
                workspace_id=self.workspace_id, permission=permission, user_id=about.user_id if about else ""
            ),
            metadata=self.md(person),
        )
        return bool(response.allowed)

    async def role_of(self, user_id: str) -> str | None:
        listed = await self.ws.ListMembers(
            workspace_pb2.ListMembersRequest(workspace_id=self.workspace_id), metadata=self.md(self.owner)
        )
        return next((m.role for m in listed.members if m.user_id == user_id), None)


async def new_team(platform: Platform, tenant_name: str = "Acme") -> Team:
    registered = await platform.register(tenant_name=tenant_name)
    session = registered.session
    owner = Person(
        user_id=session.user.id,
        email=session.user.email,
        token=session.access_token,
        tenant_id=session.user.tenant_id,
    )
    return Team(platform=platform, owner=owner, workspace_id=registered.default_workspace_id)


def token_of(link: str) -> str:
    return link.rsplit("/", 1)[1]


async def audit_events(platform: Platform, tenant_id: str) -> list[dict[str, Any]]:
    """The audit events the workspace service put in the outbox for the tenant, oldest first (payloads)."""
    async with db_session(platform) as db:
        rows = await db.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.topic == AUDIT_TOPIC, OutboxEvent.service == "workspace")
            .order_by(OutboxEvent.id)
        )
        return [row.payload for row in rows if row.payload["tenant_id"] == tenant_id]


async def audit_actions(platform: Platform, tenant_id: str) -> list[str]:
    return [event["action"] for event in await audit_events(platform, tenant_id)]


async def outbox_size(platform: Platform) -> int:
    async with db_session(platform) as db:
        return int(await db.scalar(select(func.count()).select_from(OutboxEvent)) or 0)
