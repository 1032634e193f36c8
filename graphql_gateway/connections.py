"""Relay-style connections over the services' cursor pages (AIP-158), shared by every domain's lists.

A service answers a page of items and an opaque `next_page_token`; the gateway hands that token out as
`pageInfo.endCursor` and each edge's cursor as the token that points just after its item (the services' page
tokens encode the last id seen, see `services.runtime.paging`), so `after: <any edge's cursor>` resumes
right behind that edge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Generic, TypeVar

import strawberry

from geko.common.v1 import common_pb2
from services.runtime.errors import GekoError
from services.runtime.paging import encode_page_token

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


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Items in the whole list, not just this page.")

    @classmethod
    def from_page(
        cls, nodes: Sequence[T], key: Callable[[T], str], page_info: common_pb2.PageInfo
    ) -> Connection[T]:
        """A connection of one service page; `key` is the id the service pages by."""
        edges = [Edge(cursor=encode_page_token(key(node)), node=node) for node in nodes]
        next_token = page_info.next_page_token
        end_cursor = next_token or (edges[-1].cursor if edges else None)
        return cls(
            edges=edges,
            page_info=PageInfo(has_next_page=bool(next_token), end_cursor=end_cursor),
            total_count=page_info.total_size,
        )


def page_request(first: int | None, after: str | None) -> common_pb2.PageRequest:
    """The service page request of `first` / `after` (unset: the service's default size, first page)."""
    return common_pb2.PageRequest(page_size=first or 0, page_token=after or "")


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
