"""ListAuditEvents and ExportAuditEvents: a workspace's entries newest first, filtered and paged, for callers
holding audit:view / audit:export there (WorkspaceService.CheckPermission decides); another tenant's
workspace is NOT_FOUND. The export streams CSV read in keyset pages."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import grpc
from sqlalchemy import event

from geko.audit.v1 import audit_pb2
from geko.common.v1 import common_pb2
from geko.workspace.v1 import workspace_pb2
from services.runtime.clock import utcnow
from services.runtime.ids import new_id
from services.runtime.messages import timestamp
from tests.integration.audit.harness import AuditPlatform, AuditPlatformFactory
from tests.integration.auth.harness import rpc_error
from tests.integration.workspace.team import Team

T0 = utcnow().replace(microsecond=0) - timedelta(days=1)
HEADER = [
    "id",
    "created_at",
    "actor_user_id",
    "action",
    "resource_type",
    "resource_id",
    "workspace_id",
    "ip",
    "user_agent",
    "request_id",
    "details",
]


async def seed_log(harness: AuditPlatform, team: Team) -> list[str]:
    """Four entries of the team's workspace one second apart (oldest first), plus entries that must never
    show: another workspace of the tenant, and another tenant claiming the same workspace id."""
    tenant, workspace, owner = team.owner.tenant_id, team.workspace_id, team.owner.user_id
    other = new_id()
    ids = [
        await harness.record(
            tenant, workspace_id=workspace, actor_user_id=owner, resource_id=workspace, at=T0
        ),
        await harness.record(
            tenant,
            workspace_id=workspace,
            actor_user_id=other,
            action="MEMBER_INVITED",
            resource_type="invitation",
            resource_id="i-1",
            at=T0 + timedelta(seconds=1),
        ),
        await harness.record(
            tenant,
            workspace_id=workspace,
            actor_user_id=owner,
            action="MEMBER_ROLE_CHANGED",
            resource_type="member",
            resource_id="u-1",
            details={"from": "viewer", "to": "editor"},
            at=T0 + timedelta(seconds=2),
        ),
        await harness.record(
            tenant,
            workspace_id=workspace,
            actor_user_id=owner,
            resource_id=workspace,
            at=T0 + timedelta(seconds=3),
        ),
    ]
    await harness.record(tenant, workspace_id=new_id(), actor_user_id=owner, at=T0)
    await harness.record(new_id(), workspace_id=workspace, actor_user_id=owner, at=T0)
    return ids


async def listed(
    harness: AuditPlatform, team: Team, *, size: int = 0, token: str = "", **filters: Any
) -> audit_pb2.ListAuditEventsResponse:
    response: audit_pb2.ListAuditEventsResponse = await harness.audit.ListAuditEvents(
        audit_pb2.ListAuditEventsRequest(
            workspace_id=team.workspace_id,
            filter=audit_pb2.AuditEventFilter(**filters),
            page=common_pb2.PageRequest(page_size=size, page_token=token),
        ),
        metadata=team.md(team.owner),
    )
    return response


def ids_of(response: audit_pb2.ListAuditEventsResponse) -> list[str]:
    return [entry.id for entry in response.events]


async def test_list_is_newest_first_and_paged(audit_platform: AuditPlatform) -> None:
    team = await audit_platform.team()
    oldest_first = await seed_log(audit_platform, team)

    first = await listed(audit_platform, team, size=3)
    second = await listed(audit_platform, team, size=3, token=first.page_info.next_page_token)

    assert ids_of(first) + ids_of(second) == oldest_first[::-1]
    assert first.page_info.total_size == 4
    assert second.page_info.next_page_token == ""
    changed = first.events[1]
    assert (changed.action, changed.resource_type, changed.resource_id) == (
        "MEMBER_ROLE_CHANGED",
        "member",
        "u-1",
    )
    assert json.loads(changed.details_json) == {"from": "viewer", "to": "editor"}
    assert (changed.actor_user_id, changed.ip, changed.user_agent) == (
        team.owner.user_id,
        "192.0.2.10",
        "pytest",
    )
    assert changed.create_time.ToDatetime().replace(tzinfo=T0.tzinfo) == T0 + timedelta(seconds=2)
    assert changed.seq > 0
    assert len(changed.hash) == 64


async def test_list_filters_by_actor_action_resource_and_time(audit_platform: AuditPlatform) -> None:
    team = await audit_platform.team()
    e1, e2, e3, e4 = await seed_log(audit_platform, team)

    by_actor = await listed(audit_platform, team, actor_user_id=team.owner.user_id)
    by_action = await listed(audit_platform, team, action="MEMBER_INVITED")
    by_resource = await listed(audit_platform, team, resource_type="member", resource_id="u-1")
    by_time = await listed(
        audit_platform,
        team,
        start_time=timestamp(T0 + timedelta(seconds=1)),
        end_time=timestamp(T0 + timedelta(seconds=3)),
    )

    assert ids_of(by_actor) == [e4, e3, e1]
    assert by_actor.page_info.total_size == 3
    assert ids_of(by_action) == [e2]
    assert ids_of(by_resource) == [e3]
    assert ids_of(by_time) == [e3, e2]  # [start, end)


async def test_reading_needs_the_permission_and_the_tenant(audit_platform: AuditPlatform) -> None:
    team = await audit_platform.team()
    await seed_log(audit_platform, team)
    viewer = await team.join("viewer")
    outsider = await team.person("cy")  # same tenant, no membership
    stranger = await audit_platform.team("Other Co")
    audit = audit_platform.audit

    def list_request(workspace_id: str, **fields: Any) -> audit_pb2.ListAuditEventsRequest:
        return audit_pb2.ListAuditEventsRequest(workspace_id=workspace_id, **fields)

    denied = await rpc_error(audit.ListAuditEvents(list_request(team.workspace_id), metadata=team.md(viewer)))
    export_denied = await rpc_error(
        anext(
            aiter(
                audit.ExportAuditEvents(
                    audit_pb2.ExportAuditEventsRequest(workspace_id=team.workspace_id),
                    metadata=team.md(viewer),
                )
            )
        )
    )
    foreign = await rpc_error(
        audit.ListAuditEvents(list_request(team.workspace_id), metadata=stranger.md(stranger.owner))
    )
    not_member = await rpc_error(
        audit.ListAuditEvents(list_request(team.workspace_id), metadata=team.md(outsider))
    )
    malformed = await rpc_error(audit.ListAuditEvents(list_request("nope"), metadata=team.md(team.owner)))
    missing = await rpc_error(audit.ListAuditEvents(list_request(""), metadata=team.md(team.owner)))
    bad_token = await rpc_error(
        audit.ListAuditEvents(
            list_request(team.workspace_id, page=common_pb2.PageRequest(page_token=new_id())),
            metadata=team.md(team.owner),
        )
    )
    backwards = await rpc_error(
        audit.ListAuditEvents(
            list_request(
                team.workspace_id,
                filter=audit_pb2.AuditEventFilter(start_time=timestamp(T0), end_time=timestamp(T0)),
            ),
            metadata=team.md(team.owner),
        )
    )
    anonymous = await rpc_error(audit.ListAuditEvents(list_request(team.workspace_id)))

    assert denied[0] == export_denied[0] == grpc.StatusCode.PERMISSION_DENIED
    assert foreign[0] == not_member[0] == malformed[0] == grpc.StatusCode.NOT_FOUND
    assert (missing[0], missing[1].field) == (grpc.StatusCode.INVALID_ARGUMENT, "workspace_id")
    assert (bad_token[0], bad_token[1].field) == (grpc.StatusCode.INVALID_ARGUMENT, "page.page_token")
    assert (backwards[0], backwards[1].field) == (grpc.StatusCode.INVALID_ARGUMENT, "filter.end_time")
    assert anonymous[0] == grpc.StatusCode.UNAUTHENTICATED


async def test_view_without_export(audit_platform: AuditPlatform) -> None:
    team = await audit_platform.team()
    await seed_log(audit_platform, team)
    await team.ws.CreateRole(
        workspace_pb2.CreateRoleRequest(
            workspace_id=team.workspace_id,
            name="auditor",
            description="reads the log",
            permissions=["audit:view"],
        ),
        metadata=team.md(team.owner),
    )
    auditor = await team.join("auditor")
    request = audit_pb2.ExportAuditEventsRequest(workspace_id=team.workspace_id)

    seen = await audit_platform.audit.ListAuditEvents(
        audit_pb2.ListAuditEventsRequest(workspace_id=team.workspace_id), metadata=team.md(auditor)
    )
    code, _ = await rpc_error(
        anext(aiter(audit_platform.audit.ExportAuditEvents(request, metadata=team.md(auditor))))
    )

    assert len(seen.events) == 4
    assert code == grpc.StatusCode.PERMISSION_DENIED


async def test_export_streams_csv_read_in_pages(start_audit: AuditPlatformFactory) -> None:
    harness = await start_audit(export_page_size=3)
    team = await harness.team()
    tenant, workspace = team.owner.tenant_id, team.workspace_id
    ids = [
        await harness.record(
            tenant,
            workspace_id=workspace,
            resource_id=f"r-{i}",
            details={"i": i, "note": 'quote " and, comma'},
            at=T0 + timedelta(seconds=i),
        )
        for i in range(10)
    ]
    formula = await harness.record(
        tenant, workspace_id=workspace, resource_id="=HYPERLINK(1)", at=T0 - timedelta(seconds=1)
    )
    page_queries: list[str] = []

    def count_pages(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM audit_logs" in statement:
            page_queries.append(statement)

    event.listen(harness.database.engine.sync_engine, "before_cursor_execute", count_pages)
    try:
        chunks = [
            response.csv_chunk
            async for response in harness.audit.ExportAuditEvents(
                audit_pb2.ExportAuditEventsRequest(workspace_id=workspace), metadata=team.md(team.owner)
            )
        ]
    finally:
        event.remove(harness.database.engine.sync_engine, "before_cursor_execute", count_pages)

    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8"))))
    assert rows[0] == HEADER
    assert [row[0] for row in rows[1:]] == [*ids[::-1], formula]
    assert len(page_queries) == 4  # 11 rows in pages of 3, never one query for everything
    newest = dict(zip(HEADER, rows[1], strict=True))
    assert json.loads(newest["details"]) == {"i": 9, "note": 'quote " and, comma'}
    assert (newest["resource_id"], newest["workspace_id"], newest["ip"]) == ("r-9", workspace, "192.0.2.10")
    assert newest["created_at"] == (T0 + timedelta(seconds=9)).isoformat(timespec="microseconds")
    assert rows[-1][5] == "'=HYPERLINK(1)"  # not a formula when opened in a spreadsheet
