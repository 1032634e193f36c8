"""Request field checks: names, API key scopes, ids, page tokens and the opaque secrets we hand out."""

from __future__ import annotations

import pytest

from services.auth.inputs import API_KEY_SCOPES, api_key_scopes, required_name
from services.auth.opaque_tokens import (
    display_prefix,
    hash_secret,
    is_api_key,
    new_api_key,
    new_refresh_token,
)
from services.runtime.errors import BadInput
from services.runtime.ids import new_id, parse_id
from services.runtime.paging import MAX_PAGE_SIZE, decode_page_token, encode_page_token, page_size


def test_required_name_trims_and_bounds() -> None:
    assert required_name("  Acme  ", field="tenant_name") == "Acme"
    with pytest.raises(BadInput) as empty:
        required_name(" \t", field="tenant_name")
    assert empty.value.field == "tenant_name"
    with pytest.raises(BadInput) as long:
        required_name("x" * 101, field="name")
    assert long.value.field == "name"
    assert "100" in long.value.message


def test_scopes_are_deduplicated_in_catalogue_order() -> None:
    assert api_key_scopes([" Write", "read", "read"]) == ("read", "write")
    assert api_key_scopes(API_KEY_SCOPES) == API_KEY_SCOPES


@pytest.mark.parametrize("scopes", [[], ["read", "sudo"], [""]])
def test_unknown_or_missing_scopes_are_refused(scopes: list[str]) -> None:
    with pytest.raises(BadInput) as caught:
        api_key_scopes(scopes)
    assert caught.value.field == "scopes"


def test_parse_id_accepts_uuids_only() -> None:
    value = new_id()
    assert parse_id(value) == value
    assert parse_id(value.upper()) == value
    assert parse_id(f" {{{value}}}\n") == value
    assert parse_id(value.replace("-", "")) == value
    assert parse_id(value + "0") is None
    assert parse_id("nope") is None
    assert parse_id("") is None


def test_page_tokens_round_trip_and_reject_garbage() -> None:
    value = new_id()
    assert decode_page_token(encode_page_token(value)) == value
    assert decode_page_token("") is None
    with pytest.raises(BadInput) as caught:
        decode_page_token("!!not base64!!")
    assert caught.value.field == "page.page_token"


def test_page_size_defaults_and_caps() -> None:
    assert page_size(0) == 50
    assert page_size(10_000) == MAX_PAGE_SIZE
    with pytest.raises(BadInput):
        page_size(-1)


def test_secrets_are_random_prefixed_and_stored_only_as_hashes() -> None:
    key, refresh = new_api_key(), new_refresh_token()

    assert key.startswith("gk_")
    assert is_api_key(key)
    assert refresh.startswith("gkr_")
    assert not is_api_key(refresh)
    assert new_api_key() != key
    assert display_prefix(key) == key[:10]
    assert hash_secret(key) == hash_secret(key)
    assert len(hash_secret(key)) == 64
    assert key not in hash_secret(key)
