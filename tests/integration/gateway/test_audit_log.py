"""The audit log through the gateway: `auditLogs` filters and cursors, the entry's fields, bad arguments
named as GraphQL calls them, and `GET /export/audit.csv` — its stream, its filter and its refusals as HTTP
statuses with a JSON error."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from db.models.audit import AuditLog
from services.runtime.database import Database
from services.runtime.ids import new_id
from tests.integration.gateway.team import AUDIT_LOGS, Member, TeamGateway, team_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

UPDATE_WORKSPACE = (
    """mutation($id: ID!, $name: String!) { updateWorkspace(id: $id, input: {name: $name}) { id } }"""
)
DELETE_ROLE = "mutation($id: ID!) { deleteRole(id: $id) }"
ME = "{ me { tenant { id } } }"
# More than the audit service puts in one CSV chunk (256 KiB), so the export arrives in several.
BULK_ROWS = 3000


@dataclass
class Story:
    """A workspace whose log holds: created, role created, invited, accepted (+ registered), renamed twice by
    the owner, renamed once by the admin, role deleted."""

    gateway: TeamGateway
    owner: Member
    admin: Member
    viewer: Member
    workspace_id: str
    events: list[dict[str, Any]]  # oldest first


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def story(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> AsyncIterator[Story]:
    use_redis = make_url(database_url).get_backend_name() == "postgresql"
    data_dir: Path = tmp_path_factory.mktemp("audit")
    async with team_gateway(database_url, data_dir, redis_url if use_redis else None) as gateway:
        owner = await gateway.register("Ledger")
        workspace_id = await gateway.create_workspace(owner.token, "Books")
        role_id = await gateway.create_role(owner.token, workspace_id, "temp", [])
        admin = await gateway.join_new(owner.token, workspace_id, "admin", name="Ann Admin")
        viewer = await gateway.join_new(owner.token, workspace_id, "viewer", name="Vic Viewer")
        for name in ("Books 2", "Books 3"):
            await gateway.data(UPDATE_WORKSPACE, owner.token, id=workspace_id, name=name)
        await gateway.data(UPDATE_WORKSPACE, admin.token, id=workspace_id, name="Books by Ann")
        await gateway.data(DELETE_ROLE, owner.token, id=role_id)
        events = await gateway.wait_for_audit(
            owner.token, workspace_id, lambda events: bool(events) and events[-1]["action"] == "ROLE_DELETED"
        )
        yield Story(gateway, owner, admin, viewer, workspace_id, events)


async def page(story: Story, token: str | None = None, **variables: Any) -> dict[str, Any]:
    data = await story.gateway.data(
        AUDIT_LOGS, token or story.owner.token, ws=story.workspace_id, **variables
    )
    result: dict[str, Any] = data["auditLogs"]
    return result


async def test_entries_carry_who_what_on_what_and_when(story: Story) -> None:
    actions = [event["action"] for event in story.events]
    renames = [event for event in story.events if event["action"] == "WORKSPACE_UPDATED"]

    assert actions[0] == "WORKSPACE_CREATED"
    assert actions.count("INVITATION_ACCEPTED") == 2
    assert [event["actor"]["email"] for event in renames] == [story.owner.email] * 2 + [story.admin.email]
    assert {(event["resourceType"], event["resourceId"]) for event in renames} == {
        ("workspace", story.workspace_id)
    }
    assert all(isinstance(event["details"], dict) for event in story.events)
    created = [datetime.fromisoformat(event["createdAt"]) for event in story.events]
    assert created == sorted(created)


async def test_cursors_walk_the_log_newest_first_without_gaps_or_repeats(story: Story) -> None:
    walked: list[str] = []
    after = None
    while True:
        current = await page(story, first=3, after=after)
        walked.extend(edge["node"]["id"] for edge in current["edges"])
        assert current["totalCount"] == len(story.events)
        if not current["pageInfo"]["hasNextPage"]:
            break
        after = current["pageInfo"]["endCursor"]
    # Any edge's cursor resumes right after that edge.
    first_page = await page(story, first=4)
    second_edge = first_page["edges"][1]
    resumed = await page(story, first=2, after=second_edge["cursor"])

    assert walked == [event["id"] for event in reversed(story.events)]
    assert [edge["node"]["id"] for edge in resumed["edges"]] == walked[2:4]


async def test_filters_by_actor_action_and_time(story: Story) -> None:
    admins = await page(story, filter={"userId": story.admin.user_id})
    renames = await page(story, filter={"action": "WORKSPACE_UPDATED"})
    middle = story.events[len(story.events) // 2]
    since = await page(story, filter={"from": middle["createdAt"]})
    until = await page(story, filter={"to": middle["createdAt"]})
    nothing = await page(story, filter={"from": "2001-01-01T00:00:00Z", "to": "2001-01-02T00:00:00Z"})

    assert {edge["node"]["actor"]["id"] for edge in admins["edges"]} == {story.admin.user_id}
    assert admins["totalCount"] >= 2  # registered and accepted, then renamed
    assert [edge["node"]["action"] for edge in renames["edges"]] == ["WORKSPACE_UPDATED"] * 3
    assert since["totalCount"] + until["totalCount"] == len(story.events)
    assert middle["id"] in {edge["node"]["id"] for edge in since["edges"]}
    assert nothing == {"totalCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None}, "edges": []}


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"first": 0}, "first"),
        ({"after": "not-a-cursor"}, "after"),
        ({"after": "MTpub3QtYS10b2tlbg"}, "after"),  # "1:not-a-token": ours in shape, not the service's
        ({"filter": {"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"}}, "filter.to"),
        ({"filter": {"userId": "nobody"}}, "filter.userId"),
    ],
)
async def test_bad_arguments_are_bad_user_input_naming_the_argument(
    story: Story, variables: dict[str, Any], field: str
) -> None:
    body = await story.gateway.graphql(AUDIT_LOGS, story.owner.token, ws=story.workspace_id, **variables)

    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == field


async def test_a_viewer_is_forbidden_and_a_stranger_id_is_not_found(story: Story) -> None:
    viewer = await story.gateway.code(AUDIT_LOGS, story.viewer.token, ws=story.workspace_id)
    unknown = await story.gateway.code(
        AUDIT_LOGS, story.owner.token, ws="0190c0de-0000-7000-8000-000000000000"
    )
    signed_out = await story.gateway.code(AUDIT_LOGS, None, ws=story.workspace_id)

    assert (viewer, unknown, signed_out) == ("FORBIDDEN", "NOT_FOUND", "UNAUTHENTICATED")


async def export(story: Story, token: str | None, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await story.gateway.http.get("/export/audit.csv", params=params, headers=headers)


async def test_the_csv_export_streams_the_log_newest_first(story: Story) -> None:
    response = await export(story, story.admin.token, workspaceId=story.workspace_id)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="audit-{story.workspace_id}.csv"'
    assert "content-length" not in response.headers  # streamed, not buffered
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["id"] for row in rows] == [event["id"] for event in reversed(story.events)]
    assert {row["workspace_id"] for row in rows} == {story.workspace_id}


async def test_the_csv_export_takes_the_same_filter(story: Story) -> None:
    start = datetime.fromisoformat(story.events[0]["createdAt"]).astimezone(UTC)

    response = await export(
        story,
        story.owner.token,
        workspaceId=story.workspace_id,
        action="WORKSPACE_UPDATED",
        userId=story.owner.user_id,
        **{"from": start.isoformat(), "to": (start + timedelta(days=1)).isoformat()},
    )

    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert response.status_code == 200
    assert [(row["action"], row["actor_user_id"]) for row in rows] == [
        ("WORKSPACE_UPDATED", story.owner.user_id)
    ] * 2


@pytest.mark.parametrize(
    ("who", "params", "status", "code", "field"),
    [
        ("nobody", {"workspaceId": "WS"}, 401, "UNAUTHENTICATED", None),
        ("garbage", {"workspaceId": "WS"}, 401, "UNAUTHENTICATED", None),
        ("viewer", {"workspaceId": "WS"}, 403, "FORBIDDEN", None),
        ("owner", {"workspaceId": "0190c0de-0000-7000-8000-000000000000"}, 404, "NOT_FOUND", None),
        ("owner", {"workspaceId": "not-an-id"}, 404, "NOT_FOUND", None),
        ("owner", {}, 400, "BAD_USER_INPUT", "workspaceId"),
        ("owner", {"workspaceId": "WS", "from": "yesterday"}, 400, "BAD_USER_INPUT", "from"),
        ("owner", {"workspaceId": "WS", "to": "2030-01-01T00:00:00"}, 400, "BAD_USER_INPUT", "to"),
        ("owner", {"workspaceId": "WS", "userId": "nobody"}, 400, "BAD_USER_INPUT", "userId"),
    ],
)
async def test_csv_refusals_are_http_statuses_with_a_json_error(
    story: Story, who: str, params: dict[str, str], status: int, code: str, field: str | None
) -> None:
    token = {
        "nobody": None,
        "garbage": "not-a-token",
        "viewer": story.viewer.token,
        "owner": story.owner.token,
    }
    query = {key: story.workspace_id if value == "WS" else value for key, value in params.items()}

    response = await export(story, token[who], **query)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == code
    assert error["extensions"].get("field") == field
    assert ("www-authenticate" in response.headers) == (status == 401)


async def test_a_large_export_arrives_whole_and_in_order_across_chunks(story: Story) -> None:
    gateway = story.gateway
    owner = await gateway.register("Bulk")
    workspace_id = await gateway.create_workspace(owner.token, "Archive")
    tenant_id = (await gateway.data(ME, owner.token))["me"]["tenant"]["id"]
    live = await gateway.wait_for_audit(
        owner.token, workspace_id, lambda events: [e["action"] for e in events] == ["WORKSPACE_CREATED"]
    )
    # Older rows written straight to the table (test setup: the chain is not what this test is about;
    # their seq numbers stay far from the tenant's own).
    start = datetime.fromisoformat(live[0]["createdAt"]) - timedelta(days=1)
    bulk_ids = [new_id() for _ in range(BULK_ROWS)]
    database = Database(gateway.platform.settings.effective_database_url)
    try:
        async with database.transaction() as session:
            await session.execute(
                insert(AuditLog),
                [
                    {
                        "id": row_id,
                        "tenant_id": tenant_id,
                        "seq": 1_000_000 + n,
                        "workspace_id": workspace_id,
                        "actor_user_id": owner.user_id,
                        "action": "BULK_ENTRY",
                        "resource_type": "test",
                        "resource_id": f"row-{n}",
                        "details": {"n": n, "padding": "x" * 40},
                        "user_agent": "bulk-loader/1.0 " + "y" * 40,
                        "prev_hash": "0" * 64,
                        "hash": "0" * 64,
                        "created_at": start + timedelta(milliseconds=n),
                    }
                    for n, row_id in enumerate(bulk_ids)
                ],
            )
    finally:
        await database.dispose()

    response = await export(story, owner.token, workspaceId=workspace_id)

    assert response.status_code == 200
    assert len(response.content) > 256 * 1024
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["id"] for row in rows] == [live[0]["id"], *reversed(bulk_ids)]
    assert rows[-1]["resource_id"] == "row-0"
