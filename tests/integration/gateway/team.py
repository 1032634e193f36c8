"""The whole platform in this process (`run_embedded`: every service on one real gRPC server, the outbox
relay, the gateway under uvicorn on a free port) and a client that speaks GraphQL to it as a team would.

Shared by the workspace and audit tests of the gateway: they need auth, workspace and audit together, with
audit events delivered through the outbox exactly as in `geko up`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from services.embedded import Platform, run_embedded
from services.runtime.settings import Settings
from tests.integration.auth.harness import SECRET_KEY, unique_email

PASSWORD = "correct horse 42"
SESSION = "accessToken refreshToken expiresAt user { id email name role tenant { id name } }"
REGISTER = f"mutation($input: RegisterInput!) {{ register(input: $input) {{ {SESSION} }} }}"
CREATE_WORKSPACE = (
    "mutation($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id name icon } }"
)
CREATE_ROLE = """mutation($input: CreateRoleInput!) {
  createRole(input: $input) { id name description permissions isSystem }
}"""
INVITE = """mutation($input: InviteMemberInput!) {
  inviteMember(input: $input) { invitation { id email role status expiresAt } link emailSent }
}"""
ACCEPT = f"""mutation($token: String!, $name: String, $password: String) {{
  acceptInvitation(token: $token, name: $name, password: $password) {{ {SESSION} workspace {{ id name }} }}
}}"""
AUDIT_LOGS = """query($ws: ID!, $filter: AuditLogFilter, $first: Int, $after: String) {
  auditLogs(workspaceId: $ws, filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id action actor { id email } resourceType resourceId details createdAt } }
  }
}"""


def link_token(link: str) -> str:
    """The invitation token at the end of an invite link."""
    match = re.search(r"([A-Za-z0-9_-]{16,})$", link)
    assert match, f"the link does not end with a token: {link}"
    return match.group(1)


@dataclass
class Member:
    """A signed-in user of a tenant."""

    token: str
    user_id: str
    email: str


@dataclass
class TeamGateway:
    platform: Platform
    http: httpx.AsyncClient

    async def graphql(self, query: str, auth: str | None = None, **variables: Any) -> dict[str, Any]:
        """POSTs one operation, as the holder of the access token `auth` (anonymous when None)."""
        headers = {"Authorization": f"Bearer {auth}"} if auth else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, auth: str | None = None, **variables: Any) -> dict[str, Any]:
        """The data of an operation that must succeed."""
        body = await self.graphql(query, auth, **variables)
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]
        return result

    async def code(self, query: str, auth: str | None = None, **variables: Any) -> str:
        """The error code of an operation that must fail."""
        body = await self.graphql(query, auth, **variables)
        assert body.get("errors"), body
        code: str = body["errors"][0]["extensions"]["code"]
        return code

    async def register(self, tenant_name: str = "Acme") -> Member:
        email = unique_email("owner")
        session = (
            await self.data(
                REGISTER,
                input={"email": email, "password": PASSWORD, "name": "Olga Owner", "tenantName": tenant_name},
            )
        )["register"]
        return Member(session["accessToken"], session["user"]["id"], email)

    async def create_workspace(self, token: str, name: str = "Team") -> str:
        created = await self.data(CREATE_WORKSPACE, token, input={"name": name, "icon": "🦎"})
        workspace_id: str = created["createWorkspace"]["id"]
        return workspace_id

    async def create_role(self, token: str, workspace_id: str, name: str, permissions: list[str]) -> str:
        created = await self.data(
            CREATE_ROLE,
            token,
            input={
                "workspaceId": workspace_id,
                "name": name,
                "description": name,
                "permissions": permissions,
            },
        )
        role_id: str = created["createRole"]["id"]
        return role_id

    async def invite(self, token: str, workspace_id: str, email: str, role: str) -> tuple[str, str]:
        """Invites `email`; the invitation id and the token of its link."""
        invited = (
            await self.data(INVITE, token, input={"workspaceId": workspace_id, "email": email, "role": role})
        )["inviteMember"]
        return invited["invitation"]["id"], link_token(invited["link"])

    async def join_new(self, inviter: str, workspace_id: str, role: str, name: str = "Nia New") -> Member:
        """A new account in the inviter's tenant, joined to the workspace with `role` from its link."""
        email = unique_email(role.replace(":", "-"))
        _, token = await self.invite(inviter, workspace_id, email, role)
        accepted = (await self.data(ACCEPT, token=token, name=name, password=PASSWORD))["acceptInvitation"]
        assert accepted["workspace"]["id"] == workspace_id
        return Member(accepted["accessToken"], accepted["user"]["id"], email)

    async def join(self, inviter: str, workspace_id: str, member: Member, role: str) -> None:
        """An existing user of the tenant joins another workspace, signed in."""
        _, token = await self.invite(inviter, workspace_id, member.email, role)
        accepted = (await self.data(ACCEPT, member.token, token=token))["acceptInvitation"]
        assert accepted["workspace"]["id"] == workspace_id
        assert accepted["accessToken"] is None

    async def audit_events(self, token: str, workspace_id: str) -> list[dict[str, Any]]:
        """Every audit event of a workspace, oldest first, following the pages."""
        events: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            page = (await self.data(AUDIT_LOGS, token, ws=workspace_id, first=100, after=after))["auditLogs"]
            events.extend(edge["node"] for edge in page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                return events[::-1]
            after = page["pageInfo"]["endCursor"]

    async def wait_for_audit(
        self,
        token: str,
        workspace_id: str,
        done: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 20.0,
    ) -> list[dict[str, Any]]:
        """Polls the audit log until `done(events)`: events travel through the outbox, after the commit."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            events = await self.audit_events(token, workspace_id)
            if done(events):
                return events
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"audit log still incomplete: {[e['action'] for e in events]}")
            await asyncio.sleep(0.1)


def team_settings(database_url: str, data_dir: Path, redis_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "redis_url": redis_url,
        "secret_key": SecretStr(SECRET_KEY),
        "host": "127.0.0.1",
        "port": 0,
        "admin_email": unique_email("admin"),
        "login_rate_per_ip": 100_000,
        "login_rate_per_email": 100_000,
        "grpc_deadline_seconds": 10.0,
        "log_level": "WARNING",
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def team_gateway(
    database_url: str, data_dir: Path, redis_url: str | None = None, **overrides: Any
) -> AsyncIterator[TeamGateway]:
    """The embedded platform over `database_url` (migrated and seeded on start), Redis when given."""
    data_dir.mkdir(parents=True, exist_ok=True)
    async with (
        run_embedded(team_settings(database_url, data_dir, redis_url, **overrides)) as platform,
        httpx.AsyncClient(base_url=platform.url, timeout=30) as http,
    ):
        yield TeamGateway(platform, http)
