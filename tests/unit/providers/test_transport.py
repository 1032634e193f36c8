"""decode_object reads with orjson, yet accepts exactly the JSON objects the standard library accepted."""

from __future__ import annotations

import math

import pytest

from services.providers.errors import PROVIDER_ERROR
from services.providers.transport import decode_object
from services.runtime.errors import ErrorCode, GekoError


def test_an_object_reads_from_text_or_bytes() -> None:
    assert decode_object('{"a": [1, "é"]}') == decode_object('{"a": [1, "é"]}'.encode()) == {"a": [1, "é"]}


def test_what_only_the_standard_library_reads_is_still_read() -> None:
    assert math.isnan(decode_object('{"a": NaN}')["a"])
    assert decode_object('{"a": "\\ud800"}') == {"a": "\ud800"}  # a lone surrogate
    assert decode_object('{"a": 1}'.encode("utf-16")) == {"a": 1}


@pytest.mark.parametrize("data", ["[1]", '"text"', "{", "", b"\xff{}"])
def test_anything_but_an_object_is_a_malformed_answer(data: str | bytes) -> None:
    with pytest.raises(GekoError) as raised:
        decode_object(data)

    assert (raised.value.code, raised.value.reason) == (ErrorCode.UPSTREAM_UNAVAILABLE, PROVIDER_ERROR)
