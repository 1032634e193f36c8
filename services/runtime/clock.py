"""The one place the platform asks for the time, so every timestamp is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, as an aware UTC datetime (naive datetimes compare wrongly and serialise without an offset)."""
    return datetime.now(UTC)
