"""Provider connections (bring your own key) and where each model is called.

A connection is a tenant resource, managed by the tenant's owners and admins. Its API key is encrypted with
the platform SecretBox before it reaches the database, never returned (answers say `has_api_key`), never
logged and never put in an audit entry. Catalog models without a connection use the platform defaults from
settings (GEKO_OPENAI_*, GEKO_ANTHROPIC_*, GEKO_DEEPSEEK_* — an OpenAI-compatible API — and GEKO_OLLAMA_URL).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.model import PROVIDER_KINDS, ModelCatalog, ProviderConnection
from services.events.audit import AuditAction, record_audit
from services.model.catalog_cache import CatalogCache
from services.model.repository import ModelRepository, duplicates_as_conflict
from services.runtime.access import require_tenant_admin
from services.runtime.database import Database
from services.runtime.errors import BadInput, Conflict, InternalError, NotFound
from services.runtime.ids import parse_id
from services.runtime.paging import Page, decode_page_token, encode_page_token, page_size
from services.runtime.secrets import SecretBox
from services.runtime.settings import Settings

SERVICE = "model"
MAX_NAME_LENGTH = 64
MAX_URL_LENGTH = 1024
NOT_FOUND_MESSAGE = "provider connection not found"
NAME_TAKEN = "a provider connection with this name exists"


@dataclass(frozen=True, slots=True)
class Route:
    """How to call a model: wire protocol, base URL and the key sealed with the SecretBox (empty when the
    provider needs none); the upstream model name is the model's `name`; only chat opens the seal."""

    kind: str
    base_url: str
    sealed_api_key: bytes


@dataclass(frozen=True, slots=True)
class ConnectionChanges:
    """UpdateProviderConnection's fields; None leaves a field as it is, an empty api_key removes the key."""

    name: str | None = None
    base_url: str | None = None
    api_key: str | None = None


def keyed_platform_providers(settings: Settings) -> frozenset[str]:
    """Catalog providers whose platform default has an API key configured (GEKO_<PROVIDER>_API_KEY)."""
    keyed = set()
    for provider in ("openai", "anthropic", "deepseek"):
        default = platform_route(settings, provider)
        if default is not None and default[2] is not None and default[2].get_secret_value().strip():
            keyed.add(provider)
    return frozenset(keyed)


def platform_route(settings: Settings, provider: str) -> tuple[str, str, SecretStr | None] | None:
    """The platform default (kind, base URL, key) of a catalog provider; None for an unknown provider."""
    defaults: dict[str, tuple[str, str, SecretStr | None]] = {
        "openai": ("openai", settings.openai_base_url, settings.openai_api_key),
        "anthropic": ("anthropic", settings.anthropic_base_url, settings.anthropic_api_key),
        "deepseek": ("openai", settings.deepseek_base_url, settings.deepseek_api_key),
        "ollama": ("ollama", settings.ollama_url, None),
    }
    return defaults.get(provider)


def check_base_url(url: str) -> str:
    value = url.strip()
    parts = urlsplit(value)
    if len(value) > MAX_URL_LENGTH or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput("base_url must be an http:// or https:// URL with a host", field="base_url")
    return value.rstrip("/")


def check_connection_name(name: str) -> str:
    value = name.strip()
    if not value:
        raise BadInput("name is required", field="name")
    if len(value) > MAX_NAME_LENGTH:
        raise BadInput(f"name is longer than {MAX_NAME_LENGTH} characters", field="name")
    return value


def check_kind(kind: str) -> str:
    if kind not in PROVIDER_KINDS:
        raise BadInput(f"kind must be one of {', '.join(PROVIDER_KINDS)}", field="kind")
    return kind


class ConnectionService:
    """Connections, and the routes to call models by. A write commits, then drops the cached catalog
    (catalog_cache.py), whose entries carry their model's connection."""

    def __init__(
        self, database: Database, secret_box: SecretBox, settings: Settings, catalog: CatalogCache
    ) -> None:
        self._db = database
        self._box = secret_box
        self._settings = settings
        self._catalog = catalog
        self._keyed = keyed_platform_providers(settings)
        # Settings are fixed for the process: each platform route is sealed once, so a turn pays no
        # encryption and chat gets the same sealed text on every turn.
        self._platform_routes: dict[str, Route] = {}

    async def create(self, *, kind: str, name: str, base_url: str, api_key: str) -> ProviderConnection:
        principal = require_tenant_admin()
        kind = check_kind(kind)
        name = check_connection_name(name)
        base_url = check_base_url(base_url)
        with duplicates_as_conflict(NAME_TAKEN, "name"):
            row = await self._add(principal.tenant_id, kind, name, base_url, api_key)
        await self._catalog.invalidate()
        return row

    async def _add(
        self, tenant_id: str, kind: str, name: str, base_url: str, api_key: str
    ) -> ProviderConnection:
        async with self._db.transaction() as session:
            repository = ModelRepository(session)
            if await repository.connection_named(tenant_id, name) is not None:
                raise Conflict(NAME_TAKEN, field="name")
            row = await repository.add_connection(
                ProviderConnection(
                    tenant_id=tenant_id,
                    kind=kind,
                    name=name,
                    base_url=base_url,
                    api_key_encrypted=self._seal(api_key),
                )
            )
            await self._audit(session, AuditAction.PROVIDER_CONNECTION_CREATED, row)
            return row

    async def list(self, *, size: int, token: str) -> Page[ProviderConnection]:
        principal = require_tenant_admin()
        limit = page_size(size)
        async with self._db.session() as session:
            repository = ModelRepository(session)
            rows = await repository.connections(
                principal.tenant_id, after_id=decode_page_token(token), limit=limit + 1
            )
            total = await repository.count_connections(principal.tenant_id)
        items = rows[:limit]
        next_token = encode_page_token(items[-1].id) if len(rows) > limit else ""
        return Page(items=items, next_page_token=next_token, total_size=total)

    async def update(self, connection_id: str, changes: ConnectionChanges) -> ProviderConnection:
        principal = require_tenant_admin()
        with duplicates_as_conflict(NAME_TAKEN, "name"):
            async with self._db.transaction() as session:
                repository = ModelRepository(session)
                row = await self._own(repository, principal.tenant_id, connection_id)
                changed: list[str] = []
                if changes.name is not None and check_connection_name(changes.name) != row.name:
                    name = check_connection_name(changes.name)
                    if await repository.connection_named(principal.tenant_id, name) is not None:
                        raise Conflict(NAME_TAKEN, field="name")
                    row.name = name
                    changed.append("name")
                if changes.base_url is not None and check_base_url(changes.base_url) != row.base_url:
                    row.base_url = check_base_url(changes.base_url)
                    changed.append("base_url")
                if changes.api_key is not None:
                    row.api_key_encrypted = self._seal(changes.api_key)
                    changed.append("api_key")  # the fact, never the value
                if changed:
                    await session.flush()
                    await self._audit(session, AuditAction.PROVIDER_CONNECTION_UPDATED, row, changed=changed)
        await self._catalog.invalidate()
        return row

    async def delete(self, connection_id: str) -> None:
        principal = require_tenant_admin()
        async with self._db.transaction() as session:
            repository = ModelRepository(session)
            row = await self._own(repository, principal.tenant_id, connection_id)
            if await repository.count_models_of_connection(row.id):
                raise Conflict(
                    "models of the tenant still use this connection; remove them first", field="id"
                )
            await self._audit(session, AuditAction.PROVIDER_CONNECTION_DELETED, row)
            await repository.delete_connection(row)
        await self._catalog.invalidate()

    def keyed_platform_providers(self) -> frozenset[str]:
        return self._keyed

    def route(self, model: ModelCatalog, connection: ProviderConnection | None) -> Route:
        """Where to call `model`: its tenant connection (as loaded with it), else the platform default for
        its provider."""
        if model.connection_id is not None:
            if connection is None:
                raise InternalError("the model's provider connection is gone")
            sealed = (connection.api_key_encrypted or "").encode("ascii")
            return Route(connection.kind, connection.base_url, sealed)
        route = self._platform_routes.get(model.provider)
        if route is None:
            route = self._platform_routes[model.provider] = self._platform_route(model.provider)
        return route

    def _platform_route(self, provider: str) -> Route:
        default = platform_route(self._settings, provider)
        if default is None:
            raise InternalError(f"no platform connection for provider {provider!r}")
        kind, base_url, key = default
        secret = key.get_secret_value() if key is not None else ""
        sealed = self._box.encrypt(secret).encode("ascii") if secret else b""
        return Route(kind, base_url.rstrip("/"), sealed)

    def _seal(self, api_key: str) -> str | None:
        key = api_key.strip()
        return self._box.encrypt(key) if key else None

    @staticmethod
    async def _own(repository: ModelRepository, tenant_id: str, connection_id: str) -> ProviderConnection:
        canonical = parse_id(connection_id)
        row = await repository.connection(tenant_id, canonical) if canonical else None
        if row is None:
            raise NotFound(NOT_FOUND_MESSAGE)
        return row

    @staticmethod
    async def _audit(
        session: AsyncSession, action: AuditAction, row: ProviderConnection, **extra: object
    ) -> None:
        await record_audit(
            session,
            service=SERVICE,
            action=action,
            tenant_id=row.tenant_id,
            resource_type="provider_connection",
            resource_id=row.id,
            details={
                "name": row.name,
                "kind": row.kind,
                "base_url": row.base_url,
                "has_api_key": row.api_key_encrypted is not None,
                **extra,
            },
        )
