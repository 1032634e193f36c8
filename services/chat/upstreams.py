"""Provider adapters for the routes the model service hands out, over one pooled HTTP client.

The route's key arrives sealed (services.runtime.secrets.SecretBox) and is opened only here, right before use;
adapters are kept per (kind, base URL, key) so a busy route reuses its connections. They are keyed by a digest
of the opened key: sealing is randomised, so the same key sealed twice is two texts. The model service seals
each route once per process, so the sealed text seen last is remembered too (a turn opens no seal), in a
bounded map: a sender that sealed afresh per call would otherwise grow it by one entry per turn.

Every adapter shares one client over `services.providers.http11`, whose pool takes and returns a connection
in O(1) and reuses the most recently released one first (so a user who chats every second or so finds a
connection still alive; a new one costs the turn ~5 ms). httpcore's pool scanned all of its connections per
request and per close (~19% of the CPU at 128 concurrent turns), which is why turns used to be spread over
several clients.
"""

from __future__ import annotations

import hashlib

import httpx

from geko.model.v1 import model_pb2
from services.providers.base import ProviderAdapter, ProviderConfig, ProviderKind, create_adapter
from services.providers.transport import pooled_client
from services.runtime.secrets import SecretBox

_KINDS: dict[int, ProviderKind] = {
    model_pb2.PROVIDER_KIND_OPENAI: "openai",
    model_pb2.PROVIDER_KIND_ANTHROPIC: "anthropic",
    model_pb2.PROVIDER_KIND_OLLAMA: "ollama",
}
# Sealed texts remembered (one per route and model process, in practice); the map starts over when full.
MAX_SEALED_KEYS = 1024
# Connections per upstream origin: enough for every turn of a busy process at once.
MAX_CONNECTIONS = 1000
READ_TIMEOUT_SECONDS = 120.0


class Upstreams:
    def __init__(self, secret_box: SecretBox) -> None:
        self._secret_box = secret_box
        self._client = pooled_client(
            timeout=httpx.Timeout(connect=5.0, read=READ_TIMEOUT_SECONDS, write=5.0, pool=5.0),
            tls=httpx.create_ssl_context(),
            max_connections=MAX_CONNECTIONS,
        )
        self._adapters: dict[tuple[str, str, str], ProviderAdapter] = {}
        self._sealed: dict[tuple[int, str, bytes], ProviderAdapter] = {}

    def adapter(self, route: model_pb2.ProviderRoute) -> ProviderAdapter:
        """The route's adapter (shared by every turn of the same kind, base URL and key)."""
        sealed_key = (route.kind, route.base_url, route.sealed_api_key)
        adapter = self._sealed.get(sealed_key)
        if adapter is None:
            adapter = self._open(route)
            if len(self._sealed) >= MAX_SEALED_KEYS:
                self._sealed.clear()
            self._sealed[sealed_key] = adapter
        return adapter

    def _open(self, route: model_pb2.ProviderRoute) -> ProviderAdapter:
        kind = _KINDS.get(route.kind)
        if kind is None:
            raise ValueError(f"unknown provider kind {route.kind}")
        api_key = (
            self._secret_box.decrypt(route.sealed_api_key.decode()).decode() if route.sealed_api_key else None
        )
        key_id = hashlib.sha256(api_key.encode()).hexdigest() if api_key is not None else ""
        cache_key = (kind, route.base_url, key_id)
        adapter = self._adapters.get(cache_key)
        if adapter is None:
            config = ProviderConfig(
                kind=kind, base_url=route.base_url, api_key=api_key, read_timeout=READ_TIMEOUT_SECONDS
            )
            adapter = self._adapters[cache_key] = create_adapter(config, self._client)
        return adapter

    async def aclose(self) -> None:
        await self._client.aclose()
