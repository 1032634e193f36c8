"""Provider adapters for the routes the model service hands out, over a few pooled HTTP clients.

The route's key arrives sealed (services.runtime.secrets.SecretBox) and is opened only here, right before use;
adapters are kept per (kind, base URL, key) so a busy route reuses its connections. They are keyed by a digest
of the opened key: sealing is randomised, so the same key sealed twice is two texts. The model service seals
each route once per process, so the sealed text seen last is remembered too (a turn opens no seal), in a
bounded map: a sender that sealed afresh per call would otherwise grow it by one entry per turn.

Turns are spread over a few clients (`POOL_SHARDS`): httpcore's pool scans all of its connections whenever
a request starts and whenever a response is closed, so one pool holding every streaming turn costs O(turns)
per turn — at 128 concurrent turns that scan was ~19% of the process's CPU. A turn takes the least busy
client, the first of equals: taking them in rotation sent a user who chats every second or so to a client
whose kept-alive connection had expired, a new TCP connection per turn (+5 ms to the first token, +3 ms of
CPU). The clients share one TLS context (one copy of the CA store, not one per client).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from geko.model.v1 import model_pb2
from services.providers.base import ProviderAdapter, ProviderConfig, ProviderKind, create_adapter
from services.providers.transport import KEEPALIVE_EXPIRY_SECONDS
from services.runtime.secrets import SecretBox

_KINDS: dict[int, ProviderKind] = {
    model_pb2.PROVIDER_KIND_OPENAI: "openai",
    model_pb2.PROVIDER_KIND_ANTHROPIC: "anthropic",
    model_pb2.PROVIDER_KIND_OLLAMA: "ollama",
}
# Sealed texts remembered (one per route and model process, in practice); the map starts over when full.
MAX_SEALED_KEYS = 1024
# Pools the turns are spread over, and connections per pool: enough for every turn of a busy process at once.
POOL_SHARDS = 8
MAX_CONNECTIONS = 1000 // POOL_SHARDS
READ_TIMEOUT_SECONDS = 120.0


class Upstreams:
    def __init__(self, secret_box: SecretBox) -> None:
        self._secret_box = secret_box
        tls = httpx.create_ssl_context()
        self._clients = tuple(
            httpx.AsyncClient(
                verify=tls,
                timeout=httpx.Timeout(connect=5.0, read=READ_TIMEOUT_SECONDS, write=5.0, pool=5.0),
                limits=httpx.Limits(
                    max_connections=MAX_CONNECTIONS,
                    max_keepalive_connections=MAX_CONNECTIONS,
                    keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
                ),
            )
            for _ in range(POOL_SHARDS)
        )
        self._busy = [0] * POOL_SHARDS  # turns streaming on each client
        self._adapters: dict[tuple[str, str, str], tuple[ProviderAdapter, ...]] = {}
        self._sealed: dict[tuple[int, str, bytes], tuple[ProviderAdapter, ...]] = {}

    @contextmanager
    def lease(self, route: model_pb2.ProviderRoute) -> Iterator[ProviderAdapter]:
        """The route's adapter on the least busy client, for one turn: hold it until the stream is closed."""
        sealed_key = (route.kind, route.base_url, route.sealed_api_key)
        adapters = self._sealed.get(sealed_key)
        if adapters is None:
            adapters = self._open(route)
            if len(self._sealed) >= MAX_SEALED_KEYS:
                self._sealed.clear()
            self._sealed[sealed_key] = adapters
        shard = min(range(POOL_SHARDS), key=self._busy.__getitem__)
        self._busy[shard] += 1
        try:
            yield adapters[shard]
        finally:
            self._busy[shard] -= 1

    def _open(self, route: model_pb2.ProviderRoute) -> tuple[ProviderAdapter, ...]:
        kind = _KINDS.get(route.kind)
        if kind is None:
            raise ValueError(f"unknown provider kind {route.kind}")
        api_key = (
            self._secret_box.decrypt(route.sealed_api_key.decode()).decode() if route.sealed_api_key else None
        )
        key_id = hashlib.sha256(api_key.encode()).hexdigest() if api_key is not None else ""
        cache_key = (kind, route.base_url, key_id)
        adapters = self._adapters.get(cache_key)
        if adapters is None:
            config = ProviderConfig(
                kind=kind, base_url=route.base_url, api_key=api_key, read_timeout=READ_TIMEOUT_SECONDS
            )
            adapters = tuple(create_adapter(config, client) for client in self._clients)
            self._adapters[cache_key] = adapters
        return adapters

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
