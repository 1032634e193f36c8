"""Provider adapters are shared per (kind, base URL, key), whatever the sealing of the key looks like, and
turns are spread over the pools."""

from __future__ import annotations

from cryptography.fernet import Fernet

from geko.model.v1 import model_pb2
from services.chat.upstreams import MAX_SEALED_KEYS, POOL_SHARDS, Upstreams
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
        assert adapters(upstreams, first) == adapters(upstreams, second)
        assert not adapters(upstreams, route(box, "sk-two")) & adapters(upstreams, first)
        other_url = route(box, "sk-one", "https://other.example.test/v1")
        assert not adapters(upstreams, other_url) & adapters(upstreams, first)
    finally:
        await upstreams.aclose()


async def test_the_remembered_sealed_texts_start_over_when_full_and_still_share_the_adapter() -> None:
    box = SecretBox(Fernet.generate_key())
    upstreams = Upstreams(box)
    try:
        first = route(box, "sk-one")
        shared = adapters(upstreams, first)
        for _ in range(MAX_SEALED_KEYS + 1):
            assert id(upstreams.adapter(route(box, "sk-one"))) in shared
        assert adapters(upstreams, first) == shared
    finally:
        await upstreams.aclose()


async def test_turns_of_one_route_take_each_pool_in_turn() -> None:
    box = SecretBox(Fernet.generate_key())
    upstreams = Upstreams(box)
    try:
        first = route(box, "sk-one")
        taken = [upstreams.adapter(first) for _ in range(2 * POOL_SHARDS)]
        assert len(set(map(id, taken))) == POOL_SHARDS
        assert taken[:POOL_SHARDS] == taken[POOL_SHARDS:]
    finally:
        await upstreams.aclose()


def adapters(upstreams: Upstreams, of: model_pb2.ProviderRoute) -> set[int]:
    """The ids of the adapters the route's turns get, one full round of the pools."""
    return {id(upstreams.adapter(of)) for _ in range(POOL_SHARDS)}
