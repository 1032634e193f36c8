"""Provider adapters are shared per (kind, base URL, key), whatever the sealing of the key looks like; each
turn takes the least busy of the pooled clients, the first of equals."""

from __future__ import annotations

from contextlib import ExitStack

from cryptography.fernet import Fernet

from geko.model.v1 import model_pb2
from services.chat.upstreams import MAX_SEALED_KEYS, POOL_SHARDS, Upstreams
from services.providers.base import ProviderAdapter
from services.runtime.secrets import SecretBox

BASE_URL = "https://api.example.test/v1"


def route(box: SecretBox, key: str, base_url: str = BASE_URL) -> model_pb2.ProviderRoute:
    """A route as ResolveModel hands it out: the key sealed afresh (Fernet is randomised)."""
    return model_pb2.ProviderRoute(
        kind=model_pb2.PROVIDER_KIND_OPENAI, base_url=base_url, sealed_api_key=box.encrypt(key).encode()
    )


def leased(upstreams: Upstreams, of: model_pb2.ProviderRoute) -> ProviderAdapter:
    """The adapter one turn of `of` gets when no other turn is streaming."""
    with upstreams.lease(of) as adapter:
        return adapter


async def test_a_key_sealed_afresh_for_every_turn_reuses_one_adapter() -> None:
    box = SecretBox(Fernet.generate_key())
    upstreams = Upstreams(box)
    try:
        first, second = route(box, "sk-one"), route(box, "sk-one")
        assert first.sealed_api_key != second.sealed_api_key
        assert leased(upstreams, first) is leased(upstreams, second)
        assert leased(upstreams, route(box, "sk-two")) is not leased(upstreams, first)
        other_url = route(box, "sk-one", "https://other.example.test/v1")
        assert leased(upstreams, other_url) is not leased(upstreams, first)
    finally:
        await upstreams.aclose()


async def test_the_remembered_sealed_texts_start_over_when_full_and_still_share_the_adapter() -> None:
    box = SecretBox(Fernet.generate_key())
    upstreams = Upstreams(box)
    try:
        first = route(box, "sk-one")
        adapter = leased(upstreams, first)
        for _ in range(MAX_SEALED_KEYS + 1):
            assert leased(upstreams, route(box, "sk-one")) is adapter
        assert leased(upstreams, first) is adapter
    finally:
        await upstreams.aclose()


async def test_concurrent_turns_spread_over_the_clients_and_a_lone_turn_takes_the_first() -> None:
    box = SecretBox(Fernet.generate_key())
    upstreams = Upstreams(box)
    try:
        first = route(box, "sk-one")
        lone = leased(upstreams, first)
        with ExitStack() as streaming:
            together = [streaming.enter_context(upstreams.lease(first)) for _ in range(POOL_SHARDS + 1)]
        assert len({id(adapter) for adapter in together[:POOL_SHARDS]}) == POOL_SHARDS
        assert together[0] is lone
        assert together[POOL_SHARDS] is lone  # all equally busy: the first again
        with upstreams.lease(first), upstreams.lease(first) as second:
            assert second is together[1]
        assert leased(upstreams, first) is lone  # every turn done: a lone turn reuses the first client
    finally:
        await upstreams.aclose()
