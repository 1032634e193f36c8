"""The audit log's rules: appending to a tenant's hash chain, reading it for those allowed, checking it.

Appends (an event or a batch of several tenants', in one transaction) to one tenant run one at a time (a
PostgreSQL advisory lock per tenant; in-process with SQLite, which has one writer anyway); UNIQUE(tenant_id,
seq) is the backstop, answered by a retry. Reads need a workspace permission, which the workspace service
decides (`CheckPermission`, over gRPC); a workspace the caller is no member of (another tenant's included) is
NOT_FOUND, as everywhere.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from db.models.audit import AuditLog
from geko.workspace.v1 import workspace_pb2, workspace_pb2_grpc
from services.audit.chain import GENESIS_HASH, Break, ChainWalk, canonical_timestamp, fields_hash
from services.audit.repository import AuditQuery, AuditRepository, ChainAppender, Cursor
from services.runtime.clients import Channels
from services.runtime.context import require_principal
from services.runtime.database import Database
from services.runtime.errors import BadInput, Conflict, Forbidden, NotFound
from services.runtime.logging import get_logger
from services.runtime.paging import Page, decode_page_token, encode_page_token, page_size

VIEW_PERMISSION = "audit:view"
EXPORT_PERMISSION = "audit:export"
EXPORT_PAGE_SIZE = 1000
CHAIN_PAGE_SIZE = 1000
# A CSV chunk is sent once it holds this much (a page of wide rows still fits well within a message).
CSV_CHUNK_BYTES = 256 * 1024
CSV_HEADER = (
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
)
APPEND_ATTEMPTS = 5
# Spreadsheet programs run a cell starting with one of these as a formula (CSV injection): quote it.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An event to append, as validated from the request (the chain fields are the service's to set)."""

    id: str
    tenant_id: str
    workspace_id: str | None
    actor_user_id: str | None
    action: str
    resource_type: str
    resource_id: str | None
    details: dict[str, Any]
    ip: str | None
    user_agent: str | None
    request_id: str | None
    created_at: datetime

    def row(self, seq: int, prev_hash: str) -> dict[str, Any]:
        """The audit_logs row of this entry as number `seq` of its tenant's chain after `prev_hash`, hash
        included: column values, hashed as the walk will hash the row read back (chain.py)."""
        row: dict[str, Any] = {
            "id": self.id,
            "tenant_id": self.tenant_id,
            "seq": seq,
            "workspace_id": self.workspace_id,
            "actor_user_id": self.actor_user_id,
            "action": self.action,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "details": self.details,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "request_id": self.request_id,
            "created_at": self.created_at,
            "prev_hash": prev_hash,
        }
        row["hash"] = fields_hash(row)
        return row


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    checked: int
    broken: Break | None = None


class AuditService:
    def __init__(
        self,
        database: Database,
        channels: Channels,
        *,
        export_page_size: int = EXPORT_PAGE_SIZE,
        chain_page_size: int = CHAIN_PAGE_SIZE,
    ) -> None:
        self._database = database
        self._channels = channels
        self._export_page_size = export_page_size
        self._chain_page_size = chain_page_size
        # SQLite: one writer per file, so appends queue here rather than fail on a busy database.
        self._sqlite_lock = asyncio.Lock() if database.dialect == "sqlite" else None

    # ---- appending ----

    async def record(self, entries: Sequence[NewEntry]) -> None:
        """Appends `entries`, each to its tenant's chain in the order given, in one transaction. An entry
        whose id is recorded already (before, or earlier in `entries`) is skipped, so a redelivery records
        nothing twice."""
        if not entries:
            return
        lock: AbstractAsyncContextManager[Any] = self._sqlite_lock or nullcontext()
        async with lock:
            for attempt in range(APPEND_ATTEMPTS):
                try:
                    # A redelivery is rare: the first try leaves recorded ids to the primary key.
                    await self._append(entries, look_up=attempt > 0)
                    return
                except IntegrityError:
                    # An id recorded already (then `_append` skips it next time), or a taken seq.
                    log.info("audit_append_retry", first_event_id=entries[0].id, attempt=attempt + 1)
        raise Conflict("the audit log is busy, try again")

    async def _append(self, entries: Sequence[NewEntry], *, look_up: bool) -> None:
        """Appends `entries` but those recorded before (looked up when `look_up`) or earlier in them."""
        async with self._database.core_transaction() as connection:
            appender = ChainAppender(connection)
            tenant_ids = sorted({entry.tenant_id for entry in entries})
            if self._database.dialect == "postgresql":
                await appender.lock_chains(tenant_ids)
            recorded = await appender.existing_ids([entry.id for entry in entries]) if look_up else set()
            heads = {tenant: await appender.head(tenant) or (0, GENESIS_HASH) for tenant in tenant_ids}
            rows: list[dict[str, Any]] = []
            for entry in entries:
                if entry.id in recorded:
                    continue
                recorded.add(entry.id)
                seq, prev_hash = heads[entry.tenant_id]
                row = entry.row(seq + 1, prev_hash)
                heads[entry.tenant_id] = (row["seq"], row["hash"])
                rows.append(row)
            await appender.insert(rows)

    # ---- reading ----

    async def list_events(self, query: AuditQuery, *, size: int, token: str) -> Page[AuditLog]:
        """A newest-first page of a workspace's entries; needs audit:view there."""
        await self._require(query.workspace_id, VIEW_PERMISSION)
        limit = page_size(size)
        after_id = decode_page_token(token)
        async with self._database.session() as session:
            repository = AuditRepository(session)
            after: Cursor | None = None
            if after_id is not None:
                after = await repository.cursor_of(tenant_id=query.tenant_id, event_id=after_id)
                if after is None:
                    raise BadInput("page_token is not valid for this list", field="page.page_token")
            rows = await repository.page(query, after=after, limit=limit + 1)
            total = await repository.count(query)
        items = rows[:limit]
        next_token = encode_page_token(items[-1].id) if len(rows) > limit else ""
        return Page(items=items, next_page_token=next_token, total_size=total)

    async def export_csv(self, query: AuditQuery) -> AsyncIterator[bytes]:
        """The entries as UTF-8 CSV (header first), read in keyset pages: memory stays bounded whatever
        the size. Needs audit:export; the check runs before the first chunk."""
        await self._require(query.workspace_id, EXPORT_PERMISSION)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        after: Cursor | None = None
        while True:
            async with self._database.session() as session:
                rows = await AuditRepository(session).export_rows(
                    query, after=after, limit=self._export_page_size
                )
            for row in rows:
                writer.writerow(_csv_cells(row))
                if buffer.tell() >= CSV_CHUNK_BYTES:
                    yield _take(buffer)
            if len(rows) < self._export_page_size:
                break
            after = (rows[-1].created_at, rows[-1].id)
        if buffer.tell():
            yield _take(buffer)

    async def _require(self, workspace_id: str, permission: str) -> None:
        principal = require_principal()
        if not principal.user_id:
            raise Forbidden("only a signed-in user can read the audit log")
        workspaces = self._channels.stub("workspace", workspace_pb2_grpc.WorkspaceServiceStub)
        answer = await workspaces.CheckPermission(
            workspace_pb2.CheckPermissionRequest(
                user_id=principal.user_id, workspace_id=workspace_id, permission=permission
            )
        )
        if answer.allowed:
            return
        if not answer.role:  # not a member: a workspace one cannot see does not exist (another tenant's too)
            raise NotFound("workspace not found")
        raise Forbidden(f"you need the {permission} permission in this workspace")

    # ---- checking ----

    async def verify(self, tenant_id: str | None = None) -> ChainReport:
        """Walks one tenant's chain (every tenant's when None), page by page; the first broken link."""
        if tenant_id is None:
            async with self._database.session() as session:
                tenant_ids: Sequence[str] = await AuditRepository(session).tenant_ids()
        else:
            tenant_ids = [tenant_id]
        checked = 0
        for tenant in tenant_ids:
            walk = await self._walk(tenant)
            checked += walk.checked
            if walk.broken is not None:
                return ChainReport(ok=False, checked=checked, broken=walk.broken)
        return ChainReport(ok=True, checked=checked)

    async def _walk(self, tenant_id: str) -> ChainWalk:
        walk = ChainWalk()
        after_seq = 0
        while True:
            async with self._database.session() as session:
                entries = await AuditRepository(session).chain_page(
                    tenant_id, after_seq=after_seq, limit=self._chain_page_size
                )
            if not walk.feed(entries) or len(entries) < self._chain_page_size:
                return walk
            after_seq = entries[-1].seq


def _csv_cells(row: Any) -> list[str]:
    (
        event_id,
        created_at,
        actor,
        action,
        resource_type,
        resource_id,
        workspace_id,
        ip,
        agent,
        request_id,
        details,
    ) = row
    cells = [
        event_id,
        canonical_timestamp(created_at),
        actor or "",
        action,
        resource_type,
        resource_id or "",
        workspace_id or "",
        ip or "",
        agent or "",
        request_id or "",
        json.dumps(details or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
    ]
    return [f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell for cell in cells]


def _take(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data
