"""The seed's team flow against the real thing: `geko up` as a child process, driven over HTTP, then checked
with `geko admin audit verify` on the same data dir.

register → create a workspace → invite a member (the link) → the invitee creates their account from the link
→ the owner changes their role → the owner removes them; the audit log holds each step in order (delivered
through the outbox, so it is polled briefly), the CSV export holds the same entries, and the hash chain checks
out — until one row is edited in the SQLite file behind the platform's back.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.processes import (
    GEKO,
    GekoProcess,
    free_port,
    geko_env,
    graphql,
    health_ok,
    start_geko,
    wait_until,
)

pytestmark = pytest.mark.e2e

SESSION = "accessToken refreshToken expiresAt user { id email name role tenant { id name } }"
REGISTER = f"mutation($input: RegisterInput!) {{ register(input: $input) {{ {SESSION} }} }}"
CREATE_WORKSPACE = "mutation($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id name } }"
INVITE = """mutation($input: InviteMemberInput!) {
  inviteMember(input: $input) { invitation { id email role status expiresAt } link }
}"""
ACCEPT = f"""mutation($token: String!, $name: String, $password: String) {{
  acceptInvitation(token: $token, name: $name, password: $password) {{ {SESSION} workspace {{ id name }} }}
}}"""
MEMBERS = """query($id: ID!) { workspace(id: $id) {
  members(first: 10) { totalCount edges { node { role user { id email name } } } }
} }"""
UPDATE_MEMBER_ROLE = """mutation($input: UpdateMemberRoleInput!) {
  updateMemberRole(input: $input) { role user { email } }
}"""
REMOVE_MEMBER = "mutation($ws: ID!, $user: ID!) { removeMember(workspaceId: $ws, userId: $user) }"
WORKSPACES = "{ workspaces { id name } }"
AUDIT_LOGS = """query($ws: ID!, $after: String) {
  auditLogs(workspaceId: $ws, first: 2, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { node { id action actor { id email } resourceType resourceId details createdAt } }
  }
}"""

TEAM_FLOW = [
    "WORKSPACE_CREATED",
    "MEMBER_INVITED",
    "INVITATION_ACCEPTED",
    "USER_REGISTERED",
    "MEMBER_ROLE_CHANGED",
    "MEMBER_REMOVED",
]
OWNER = {"email": "ada@team.example", "password": "correct-horse-9", "name": "Ada", "tenantName": "Engines"}
INVITEE = {"email": "bob@team.example", "name": "Bob", "password": "battery-staple-7"}


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[GekoProcess, str, dict[str, str]]]:
    port = free_port()
    env = geko_env(data_dir=str(tmp_path / "data"), log_json="true", admin_password="first-admin-Passw0rd")
    process = start_geko(["up", "--port", str(port)], env=env, cwd=tmp_path, name="geko-team")
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until(health_ok(base_url), processes=[process], what="healthy")
        yield process, base_url, env
    finally:
        if not process.exited():
            process.stop()


def ok(
    client: httpx.Client, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    body = graphql(client, query, variables, token)
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def audit_log(client: httpx.Client, token: str, workspace_id: str) -> tuple[list[dict[str, Any]], int]:
    """The workspace's whole audit log, oldest first, read in pages of two (the cursors at work), and the
    total the last page counted."""
    events: list[dict[str, Any]] = []
    after = None
    while True:
        page = ok(client, AUDIT_LOGS, {"ws": workspace_id, "after": after}, token)["auditLogs"]
        events.extend(edge["node"] for edge in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            return events[::-1], page["totalCount"]
        after = page["pageInfo"]["endCursor"]


def wait_for_log(client: httpx.Client, token: str, workspace_id: str, last: str) -> list[dict[str, Any]]:
    """Polls until the log's newest entry is `last` (events reach it through the outbox, after the commit)
    and no entry arrived while the pages were read."""
    deadline = time.monotonic() + 20
    while True:
        events, total = audit_log(client, token, workspace_id)
        if events and events[-1]["action"] == last and len(events) == total:
            return events
        assert time.monotonic() < deadline, f"audit log incomplete: {[e['action'] for e in events]}"
        time.sleep(0.1)


def audit_verify(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GEKO), "admin", "audit", "verify"],
        env={**env, "GEKO_LOG_LEVEL": "WARNING"},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_team_flow_is_audited_in_order_and_the_chain_catches_an_edit(
    platform: tuple[GekoProcess, str, dict[str, str]], tmp_path: Path
) -> None:
    process, base_url, env = platform
    with httpx.Client(base_url=base_url, timeout=15) as client:
        # register → create a workspace
        owner = ok(client, REGISTER, {"input": OWNER})["register"]
        token = owner["accessToken"]
        workspace = ok(client, CREATE_WORKSPACE, {"input": {"name": "Difference Engine"}}, token)
        workspace_id = workspace["createWorkspace"]["id"]

        # invite a member: the answer carries the link, which ends with the token
        invited = ok(
            client,
            INVITE,
            {"input": {"workspaceId": workspace_id, "email": INVITEE["email"], "role": "editor"}},
            token,
        )["inviteMember"]
        assert invited["invitation"]["status"] == "PENDING"
        link_token = re.search(r"/invite/([A-Za-z0-9_-]+)$", invited["link"])
        assert link_token, invited["link"]

        # the invitee has no account: it is made from the link, in the owner's tenant, and signed in
        accepted = ok(client, ACCEPT, {"token": link_token.group(1), **INVITEE})["acceptInvitation"]
        bob = accepted["user"]
        assert accepted["workspace"]["id"] == workspace_id
        assert bob["tenant"]["id"] == owner["user"]["tenant"]["id"]
        assert accepted["accessToken"]
        members = ok(client, MEMBERS, {"id": workspace_id}, accepted["accessToken"])["workspace"]["members"]
        assert {e["node"]["user"]["email"]: e["node"]["role"] for e in members["edges"]} == {
            OWNER["email"]: "owner",
            INVITEE["email"]: "editor",
        }

        # the owner changes the member's role, then removes them
        changed = ok(
            client,
            UPDATE_MEMBER_ROLE,
            {"input": {"workspaceId": workspace_id, "userId": bob["id"], "role": "viewer"}},
            token,
        )
        assert changed == {"updateMemberRole": {"role": "viewer", "user": {"email": INVITEE["email"]}}}
        assert ok(client, REMOVE_MEMBER, {"ws": workspace_id, "user": bob["id"]}, token) == {
            "removeMember": True
        }

        # the audit log has each step, in order, by whom
        events = wait_for_log(client, token, workspace_id, "MEMBER_REMOVED")
        assert [event["action"] for event in events] == TEAM_FLOW
        actors = {event["action"]: (event["actor"] or {}).get("email") for event in events}
        assert actors["MEMBER_ROLE_CHANGED"] == actors["MEMBER_REMOVED"] == OWNER["email"]
        changed_event = events[TEAM_FLOW.index("MEMBER_ROLE_CHANGED")]
        assert (changed_event["resourceType"], changed_event["resourceId"]) == ("member", bob["id"])
        assert changed_event["details"]["from"] == "editor"
        assert changed_event["details"]["to"] == "viewer"

        # the owner's own registration is in the log of their default workspace
        default_id = next(
            w["id"] for w in ok(client, WORKSPACES, {}, token)["workspaces"] if w["id"] != workspace_id
        )
        registered = wait_for_log(client, token, default_id, "USER_REGISTERED")
        assert registered[-1]["actor"]["email"] == OWNER["email"]

        # the CSV export holds the same entries, newest first
        export = client.get(
            "/export/audit.csv",
            params={"workspaceId": workspace_id},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert export.status_code == 200, export.text
        assert export.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(export.text)))
        assert [row["id"] for row in rows] == [event["id"] for event in reversed(events)]
        assert [row["action"] for row in rows] == TEAM_FLOW[::-1]

    # the hash chain checks out, read by the CLI on the same data dir while the platform runs
    clean = audit_verify(env, tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "audit chain ok" in clean.stdout

    # an edited row breaks it, and verify names that entry
    with sqlite3.connect(tmp_path / "data" / "geko.db") as db:
        edited = db.execute(
            "UPDATE audit_logs SET details = ? WHERE action = 'MEMBER_ROLE_CHANGED'", ('{"role": "owner"}',)
        )
        assert edited.rowcount == 1
    broken = audit_verify(env, tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert f"BROKEN at entry {changed_event['id']}" in broken.stdout
    assert "Traceback" not in broken.stdout + broken.stderr

    assert process.stop(timeout=15) == 0
