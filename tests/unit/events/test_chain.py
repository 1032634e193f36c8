"""The hash chain's canonical form: every field counts, key order and time zone do not, and the walk names
the first entry that does not link."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from db.models.audit import AuditLog
from services.audit.chain import GENESIS_HASH, ChainWalk, canonical_bytes, canonical_timestamp, entry_hash

AT = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def entry(seq: int = 1, prev_hash: str = GENESIS_HASH, **changes: object) -> AuditLog:
    fields: dict[str, object] = {
        "id": f"0195{seq:04d}-0000-7000-8000-000000000000",
        "tenant_id": "01950000-0000-7000-8000-00000000000a",
        "seq": seq,
        "workspace_id": None,
        "actor_user_id": "01950000-0000-7000-8000-00000000000b",
        "action": "MEMBER_ROLE_CHANGED",
        "resource_type": "member",
        "resource_id": "u-1",
        "details": {"to": "editor", "from": "viewer"},
        "ip": "192.0.2.1",
        "user_agent": "ua",
        "request_id": "r-1",
        "created_at": AT,
        "prev_hash": prev_hash,
        **changes,
    }
    row = AuditLog(**fields)
    row.hash = entry_hash(row)
    return row


def test_the_canonical_form_is_sorted_compact_json_of_every_field() -> None:
    text = canonical_bytes(entry()).decode()
    decoded = json.loads(text)

    assert list(decoded) == sorted(decoded)
    assert set(decoded) == {
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
    }
    assert ", " not in text
    assert ": " not in text
    assert '"details":{"from":"viewer","to":"editor"}' in text
    assert decoded["created_at"] == "2025-03-01T12:00:00.123456+00:00"
    assert decoded["workspace_id"] is None


def test_the_same_instant_in_another_zone_hashes_alike() -> None:
    elsewhere = AT.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert canonical_timestamp(elsewhere) == canonical_timestamp(AT)
    assert entry_hash(entry(created_at=elsewhere)) == entry_hash(entry())
    assert entry_hash(entry(details={"from": "viewer", "to": "editor"})) == entry().hash  # key order


def test_every_field_changes_the_hash() -> None:
    base = entry().hash
    changes: dict[str, object] = {
        "id": "01959999-0000-7000-8000-000000000000",
        "tenant_id": "01950000-0000-7000-8000-0000000000ff",
        "seq": 2,
        "workspace_id": "01950000-0000-7000-8000-0000000000cc",
        "actor_user_id": None,
        "action": "MEMBER_REMOVED",
        "resource_type": "role",
        "resource_id": "u-2",
        "details": {"to": "admin", "from": "viewer"},
        "ip": "192.0.2.2",
        "user_agent": "ub",
        "request_id": "r-2",
        "created_at": AT + timedelta(microseconds=1),
        "prev_hash": "f" * 64,
    }
    for name, value in changes.items():
        assert entry(**{name: value}).hash != base, name
    assert len(base) == 64


def test_the_walk_names_the_first_entry_that_does_not_link() -> None:
    first = entry(1)
    second = entry(2, prev_hash=first.hash)
    third = entry(3, prev_hash=second.hash)

    clean = ChainWalk()
    assert clean.feed([first, second])
    assert clean.feed([third])
    assert (clean.checked, clean.broken) == (3, None)

    second.details = {"to": "owner"}
    edited = ChainWalk()
    assert not edited.feed([first, second, third])
    assert edited.broken is not None
    assert (edited.broken.event_id, edited.broken.seq, edited.checked) == (second.id, 2, 1)
    assert edited.broken.reason.startswith("hash mismatch")

    gap = ChainWalk()
    assert not gap.feed([first, third])
    assert gap.broken is not None
    assert (gap.broken.seq, gap.broken.reason) == (3, "gap: entry seq 2 is missing (next found is seq 3)")
