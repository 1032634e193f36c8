"""Operator actions for `geko admin …`: trusted (run on the server, no sign-in) but bound by the same rules as
the RPCs — the email is normalised, the password policy holds, a duplicate email is a CONFLICT.

They work on the database directly, so they need no running service; accounts made here get no workspace
(their owner creates one after signing in; Register is the path that makes a default one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from db.models.auth import Tenant, User
from services.auth.repository import AuthRepository
from services.auth.service import create_account
from services.auth.signing_keys import SigningKeyRing
from services.runtime.emails import normalize_email
from services.runtime.errors import BadInput, NotFound
from services.runtime.ids import parse_id
from services.runtime.plan_cache import PlanCache
from services.runtime.plans import PLANS
from services.runtime.server import ServiceDeps

DEFAULT_LIST_LIMIT = 100


@dataclass(frozen=True, slots=True)
class UserRow:
    """What the CLI prints about a user (never the password hash)."""

    id: str
    email: str
    name: str
    role: str
    tenant_id: str
    tenant_name: str
    plan: str
    is_active: bool
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class TenantRow:
    id: str
    name: str
    plan: str


async def create_user(
    deps: ServiceDeps,
    *,
    email: str,
    password: str,
    name: str,
    role: str = "owner",
    tenant_name: str | None = None,
    tenant_id: str | None = None,
) -> UserRow:
    """A user in a new tenant (`tenant_name`, free plan) or in an existing one (`tenant_id`)."""
    if (tenant_name is None) == (tenant_id is None):
        raise BadInput("give either a new tenant's name or an existing tenant's id", field="tenant")
    if tenant_id is not None:
        tenant_id = _parse_id(tenant_id, field="tenant_id")
    user, tenant = await create_account(
        deps.database,
        email=email,
        password=password,
        name=name,
        role=role,
        tenant_name=tenant_name,
        tenant_id=tenant_id,
        record_registration_as="admin",
    )
    return _row(user, tenant)


async def set_plan(deps: ServiceDeps, tenant: str, plan: str) -> TenantRow:
    """Sets the plan of a tenant named by its id or by the email of one of its users; every service's cached
    plan of the tenant is dropped right after the commit (services/runtime/plan_cache.py: how far that
    reaches from another process)."""
    plan = plan.strip().lower()
    if plan not in PLANS:
        raise BadInput(f"plan must be one of {', '.join(PLANS)}", field="plan")
    async with deps.database.transaction() as session:
        repository = AuthRepository(session)
        found = await _find_tenant(repository, tenant)
        await repository.set_plan(found.id, plan)
    await PlanCache(deps.backends.cache).invalidate(found.id)
    return TenantRow(id=found.id, name=found.name, plan=plan)


async def list_users(
    deps: ServiceDeps, *, tenant: str | None = None, limit: int = DEFAULT_LIST_LIMIT
) -> Sequence[UserRow]:
    """Users, oldest first; of one tenant (id or a member's email) when `tenant` is given."""
    async with deps.database.session() as session:
        repository = AuthRepository(session)
        tenant_id = (await _find_tenant(repository, tenant)).id if tenant else None
        users = await repository.list_users(tenant_id=tenant_id, limit=limit)
        tenants = {user.tenant_id: await repository.tenant(user.tenant_id) for user in users}
    return [_row(user, found) for user in users if (found := tenants[user.tenant_id]) is not None]


async def rotate_signing_key(deps: ServiceDeps) -> str:
    """Starts signing with a new key (its kid is returned); tokens signed by the old one stay valid."""
    return await SigningKeyRing(deps.database, deps.secret_box, deps.settings).rotate()


async def _find_tenant(repository: AuthRepository, tenant: str) -> Tenant:
    """A tenant by id, or the tenant of the user with that email."""
    found = (
        await repository.tenant_of_email(normalize_email(tenant))
        if "@" in tenant
        else await repository.tenant(_parse_id(tenant, field="tenant"))
    )
    if found is None:
        raise NotFound(f"no tenant {tenant!r}")
    return found


def _parse_id(value: str, *, field: str) -> str:
    known = parse_id(value)
    if known is None:
        raise BadInput(f"{field} must be a tenant id (a UUID) or a user's email", field=field)
    return known


def _row(user: User, tenant: Tenant) -> UserRow:
    return UserRow(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        tenant_id=tenant.id,
        tenant_name=tenant.name,
        plan=tenant.plan,
        is_active=user.is_active,
        last_login_at=user.last_login_at,
    )
