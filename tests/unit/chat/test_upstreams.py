"""Provider adapters are shared per (kind, base URL, key), whatever the sealing of the key looks like."""

from __future__ import annotations

from cryptography.fernet import Fernet

from geko.model.v1 import model_pb2
from services.chat.upstreams import MAX_SEALED_KEYS, Upstreams
from services.runtime.secrets import SecretBox

BASE_URL = "https://api.example.test/v1"


def route(box: SecretBox, key: str, base_url: str = BASE_URL) -> model_pb2.ProviderRoute:
    """A route as ResolveModel hands it out: the key sealed afresh (Fernet is randomised)."""
    return model_pb2.ProviderRoute(
        kind=model_pb2.PROVIDER_KIND_OPENAI, base_url=base_url, sealed_api_key=box.encrypt(key).encode()
    )


async def test_a_key_sealed_afresh_for_every_turn_reuses_one_adapter() -> None:
    box = SecretBox(Fernet.generate_key())
    upstreams = Upstreams(box)
    try:
        first, second = route(box, "sk-one"), route(box, "sk-one")
        assert first.sealed_api_key != second.sealed_api_key
        assert upstreams.adapter(first) is upstreams.adapter(second)
        assert upstreams.adapter(route(box, "sk-two")) is not upstreams.adapter(first)
        other_url = route(box, "sk-one", "https://other.example.test/v1")
        assert upstreams.adapter(other_url) is not upstreams.adapter(first)
    finally:
        await upstreams.aclose()


async def test_the_remembered_sealed_texts_start_over_when_full_and_still_share_the_adapter() -> None:
    box = SecretBox(Fernet.generate_key())
    upstreams = Upstreams(box)
    try:
        first = route(box, "sk-one")
        adapter = upstreams.adapter(first)
        for _ in range(MAX_SEALED_KEYS + 1):
            assert upstreams.adapter(route(box, "sk-one")) is adapter
        assert upstreams.adapter(first) is adapter
    finally:
        await upstreams.aclose()
