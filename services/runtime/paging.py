"""Cursor pagination (AIP-158) over time-ordered ids: the page token is the last id seen, opaque outside."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.runtime.errors import BadInput

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_page_token: str  # empty on the last page
    total_size: int


def page_size(requested: int) -> int:
    """The requested size within 1..MAX_PAGE_SIZE; 0 (unset) means the default."""
    if requested < 0:
        raise BadInput("page_size must not be negative", field="page.page_size")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode_page_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(uuid.UUID(last_id).bytes).decode().rstrip("=")


def decode_page_token(token: str) -> str | None:
    """The id a page token points after, or None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return str(uuid.UUID(bytes=raw))
    except (ValueError, binascii.Error):
        raise BadInput(
            "page_token is not valid; pass the next_page_token of a previous page", field="page.page_token"
        ) from None
