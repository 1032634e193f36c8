"""Email normalisation: one canonical form per address, malformed input named as the email field."""

from __future__ import annotations

import pytest

from services.runtime.emails import normalize_email
from services.runtime.errors import BadInput


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  Ann.Lee@Example.COM \n", "ann.lee@example.com"),
        ("BOB+tag@Sub.Example.org", "bob+tag@sub.example.org"),
    ],
)
def test_normalises_case_and_whitespace(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


MALFORMED = [
    "",
    "   ",
    "not-an-email",
    "ann@",
    "@example.com",
    "ann@localhost",
    "a b@example.com",
    "x" * 250 + "@e.co",
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_rejects_malformed_addresses_naming_the_field(raw: str) -> None:
    with pytest.raises(BadInput) as caught:
        normalize_email(raw)

    assert caught.value.field == "email"
    assert caught.value.message.startswith("email")
