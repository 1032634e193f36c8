"""The hash chain: how an entry's hash is computed, and the walk that finds the first broken link.

Each tenant's entries are numbered 1, 2, 3 … (`seq`, no gaps); an entry's `prev_hash` is the previous entry's
`hash` (64 zeros for the first), and its `hash` is SHA-256 over a canonical serialisation of its fields plus
`prev_hash`. Editing a row changes its recomputed hash; removing one leaves a gap in `seq`. Removing the
newest entries leaves no trace in the chain itself (a known limit of any hash chain without an external
anchor).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from db.models.audit import AuditLog

GENESIS_HASH = "0" * 64


def canonical_timestamp(value: datetime) -> str:
    """ISO-8601 in UTC with microseconds: the precision both databases keep, so a reread hashes alike."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


# The fields an entry's hash covers: every column but `hash` itself.
HASHED_FIELDS = (
    "id",
    "tenant_id",
    "seq",
    "workspace_id",
    "actor_user_id",
    "action",
    "resource_type",
    "resource_id",
    "details",
    "ip",
    "user_agent",
    "request_id",
    "created_at",
    "prev_hash",
)
# Sorted-key, whitespace-free JSON; built once (`json.dumps` with options builds an encoder per call).
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_fields_bytes(fields: Mapping[str, Any]) -> bytes:
    """HASHED_FIELDS of `fields` (an entry's column values; others are ignored) as sorted-key,
    whitespace-free JSON (UTF-8): what the entry's hash covers."""
    canonical = {name: fields[name] for name in HASHED_FIELDS}
    canonical["created_at"] = canonical_timestamp(fields["created_at"])
    return _CANONICAL_JSON.encode(canonical).encode("utf-8")


def fields_hash(fields: Mapping[str, Any]) -> str:
    """Hex SHA-256 of `canonical_fields_bytes(fields)`: the hash of an entry about to be written as a row."""
    return hashlib.sha256(canonical_fields_bytes(fields)).hexdigest()


def canonical_bytes(entry: AuditLog) -> bytes:
    """The entry's fields as sorted-key, whitespace-free JSON (UTF-8): what its hash covers."""
    return canonical_fields_bytes({name: getattr(entry, name) for name in HASHED_FIELDS})


def entry_hash(entry: AuditLog) -> str:
    """Hex SHA-256 of the entry's canonical serialisation (its `prev_hash` included)."""
    return hashlib.sha256(canonical_bytes(entry)).hexdigest()


@dataclass(frozen=True, slots=True)
class Break:
    """The first entry that does not link: which one and why."""

    event_id: str
    seq: int
    tenant_id: str
    reason: str


class ChainWalk:
    """Checks one tenant's entries fed in `seq` order, page by page, remembering only the last link."""

    def __init__(self) -> None:
        self.checked = 0
        self.broken: Break | None = None
        self._expected_seq = 1
        self._prev_hash = GENESIS_HASH

    def feed(self, entries: Iterable[AuditLog]) -> bool:
        """Checks the next entries; False once a link is broken (the rest need not be read)."""
        for entry in entries:
            reason = self._fault(entry)
            if reason is not None:
                self.broken = Break(entry.id, entry.seq, entry.tenant_id, reason)
                return False
            self.checked += 1
            self._expected_seq += 1
            self._prev_hash = entry.hash
        return True

    def _fault(self, entry: AuditLog) -> str | None:
        if entry.seq != self._expected_seq:
            return f"gap: entry seq {self._expected_seq} is missing (next found is seq {entry.seq})"
        if entry.prev_hash != self._prev_hash:
            return "prev_hash mismatch: it is not the hash of the previous entry"
        if entry_hash(entry) != entry.hash:
            return "hash mismatch: the entry was altered after it was recorded"
        return None
