"""Relay cursors over service pages: every edge's cursor resumes right after it, `endCursor` is the service's
own next token, and cursors that are not ours are BAD_USER_INPUT naming the argument."""

from __future__ import annotations

import pytest

from geko.common.v1 import common_pb2
from graphql_gateway.connections import Connection, Window, paging_arguments, window
from services.runtime.errors import BadInput, GekoError
from services.runtime.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

ITEMS = [f"item-{n}" for n in range(7)]


def service_page(request: common_pb2.PageRequest) -> tuple[list[str], common_pb2.PageInfo]:
    """A stand-in for a service list: page tokens are decimal offsets, sizes capped as services cap them."""
    start = int(request.page_token or 0)
    size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    items = ITEMS[start : start + size]
    more = start + size < len(ITEMS)
    return items, common_pb2.PageInfo(
        next_page_token=str(start + size) if more else "", total_size=len(ITEMS)
    )


def fetch(first: int | None, after: str | None) -> Connection[str]:
    seen = window(first, after)
    items, info = service_page(seen.page_request())
    return Connection.from_page(items, info, seen)


def test_paging_with_end_cursors_visits_every_item_once() -> None:
    seen: list[str] = []
    after = None
    while True:
        page = fetch(3, after)
        seen.extend(edge.node for edge in page.edges)
        assert page.total_count == len(ITEMS)
        if not page.page_info.has_next_page:
            break
        after = page.page_info.end_cursor

    assert seen == ITEMS
    assert page.page_info.end_cursor == page.edges[-1].cursor


def test_every_edge_cursor_resumes_right_after_its_edge() -> None:
    first_page = fetch(4, None)

    for index, edge in enumerate(first_page.edges):
        resumed = fetch(2, edge.cursor)
        assert [e.node for e in resumed.edges] == ITEMS[index + 1 : index + 3]


def test_the_last_edge_of_a_page_carries_the_services_next_token() -> None:
    page = fetch(3, None)

    assert window(None, page.page_info.end_cursor) == Window(token="3", skip=0, first=DEFAULT_PAGE_SIZE)


def test_an_empty_list_has_no_end_cursor() -> None:
    empty = Connection[str].from_page([], common_pb2.PageInfo(), window(None, None))

    assert empty.edges == []
    assert empty.page_info.end_cursor is None
    assert not empty.page_info.has_next_page


@pytest.mark.parametrize(
    ("first", "after", "field"),
    [
        (0, None, "first"),
        (-1, None, "first"),
        (MAX_PAGE_SIZE + 1, None, "first"),
        (5, "%%%", "after"),
        (5, "bm90LWEtbnVtYmVy", "after"),
    ],
)
def test_arguments_out_of_range_name_the_argument(first: int, after: str | None, field: str) -> None:
    with pytest.raises(BadInput) as caught:
        window(first, after)

    assert caught.value.field == field


def test_service_paging_fields_are_renamed_to_the_arguments() -> None:
    with pytest.raises(GekoError) as caught, paging_arguments({"filter.start_time": "filter.from"}):
        raise BadInput("page_token is not valid", field="page.page_token")
    with pytest.raises(GekoError) as filtered, paging_arguments({"filter.start_time": "filter.from"}):
        raise BadInput("bad time", field="filter.start_time")

    assert caught.value.field == "after"
    assert filtered.value.field == "filter.from"
