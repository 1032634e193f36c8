"""Relay-style connections over the services' cursor pages (AIP-158), shared by every domain's lists.

A service answers a page and an opaque `next_page_token` that only resumes at the page's end, while Relay
gives every edge a cursor. An edge's cursor here is the page token its page started from plus how many items
of that page come up to and including the edge; resuming from it asks that page again (a little larger) and
drops the leading items. The last edge of a page (and so `endCursor`) carries the service's next token
itself, so paging through a list with `endCursor` costs what the service's own paging costs.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import strawberry

from geko.common.v1 import common_pb2
from services.runtime.errors import BadInput, GekoError
from services.runtime.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

T = TypeVar("T")

# The service's names of the paging fields, as the GraphQL arguments call them.
_ARGUMENT_OF_FIELD = {"page.page_size": "first", "page.page_token": "after"}


@strawberry.type(description="Where a page of a connection ends and whether more follow.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(description="Pass as `after` to get the next page.")


@strawberry.type
class Edge(Generic[T]):
    cursor: str = strawberry.field(description="Pass as `after` to continue right after this item.")
    node: T


@dataclass(frozen=True, slots=True)
class Window:
    """Which service page to ask for, and how many of its leading items were already seen."""

    token: str
    skip: int
    first: int

    def page_request(self) -> common_pb2.PageRequest:
        return common_pb2.PageRequest(page_size=self.skip + self.first, page_token=self.token)


def encode_cursor(token: str, skip: int) -> str:
    return base64.urlsafe_b64encode(f"{skip}:{token}".encode()).decode().rstrip("=")


def window(first: int | None, after: str | None) -> Window:
    """The window of `first` items after the cursor `after`; BAD_USER_INPUT naming the argument at fault."""
    if first is not None and not 1 <= first <= MAX_PAGE_SIZE:
        raise BadInput(f"first must be between 1 and {MAX_PAGE_SIZE}", field="first")
    size = first or DEFAULT_PAGE_SIZE
    if not after:
        return Window(token="", skip=0, first=size)
    try:
        skip, _, token = base64.urlsafe_b64decode(after + "=" * (-len(after) % 4)).decode().partition(":")
        skipped = int(skip)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadInput("after is not a cursor of this list", field="after") from None
    if not 0 <= skipped <= MAX_PAGE_SIZE:
        raise BadInput("after is not a cursor of this list", field="after")
    return Window(token=token, skip=skipped, first=size)


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Items in the whole list, not just this page.")

    @classmethod
    def from_page(cls, nodes: Sequence[T], page_info: common_pb2.PageInfo, seen: Window) -> Connection[T]:
        """The connection of the service page `seen` asked for: its items after the skipped ones."""
        next_token = page_info.next_page_token
        edges = [
            Edge(cursor=encode_cursor(seen.token, index + 1), node=node)
            for index, node in enumerate(nodes)
            if index >= seen.skip
        ]
        if edges and next_token:
            edges[-1].cursor = encode_cursor(next_token, 0)
        end_cursor = edges[-1].cursor if edges else None
        return cls(
            edges=edges,
            page_info=PageInfo(has_next_page=bool(next_token), end_cursor=end_cursor),
            total_count=page_info.total_size,
        )


@contextmanager
def paging_arguments(more: Mapping[str, str] | None = None) -> Iterator[None]:
    """Names the field of a service's BAD_USER_INPUT as the GraphQL arguments do: `page.page_size` is
    `first`, `page.page_token` is `after`, plus `more` (service field → argument path)."""
    try:
        yield
    except GekoError as error:
        renames = {**_ARGUMENT_OF_FIELD, **(more or {})}
        if error.field in renames:
            error.field = renames[error.field]
        raise
