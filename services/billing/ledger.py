"""Quotas, reservations and the usage ledger of the billing service, over its own tables.

Atomicity: a reservation is one conditional UPDATE of the workspace's quota row
(`... WHERE tokens_used + tokens_reserved + :estimate <= tokens_limit`), so concurrent reserves can never hold
more than the limit: PostgreSQL re-checks the condition under the row lock, and on SQLite
`Database.transaction()` takes the write lock up front. A reservation also counts its request at once
(`requests_used + 1`); a commit keeps that request, a release or expiry gives it back.

Cost: `(input * input_price_per_1k + output * output_price_per_1k) // 1000` micros, integer math, rounded
down once per turn (fractions of a micro are never billed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models.billing import UNLIMITED, CostTracking, Quota, Reservation, TokenUsage
from db.seed import PLAN_QUOTAS
from services.runtime.database import Database
from services.runtime.errors import Conflict, NotFound, QuotaExceeded
from services.runtime.ids import new_id

RESERVATION_TTL = timedelta(minutes=10)
WARNING_RATIO = 0.8


def month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month_start(moment: datetime) -> datetime:
    """The first instant of the month after `moment`'s (UTC): when a quota window resets."""
    return datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)


def month_key(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def turn_cost(input_tokens: int, output_tokens: int, input_per_1k: int, output_per_1k: int) -> int:
    """Micros for one turn; the one rounding (down) happens here."""
    return (input_tokens * input_per_1k + output_tokens * output_per_1k) // 1000


def _within(
    used: SQLColumnExpression[int], limit: SQLColumnExpression[int], amount: int
) -> ColumnElement[bool]:
    return or_(limit == UNLIMITED, used + amount <= limit)


@dataclass(frozen=True, slots=True)
class Caller:
    """Whose quota a call reads. `plan` is None when the caller cannot know it (a service delivering for a
    user, who has no token to ask AuthService.GetMe with): the quota row keeps its plan, a new row is free."""

    tenant_id: str
    workspace_id: str
    plan: str | None


@dataclass(frozen=True, slots=True)
class Settled:
    record: TokenUsage
    quota: Quota
    duplicate: bool


class Ledger:
    """Every change runs in one transaction; rows of another tenant are NOT_FOUND."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def _current_quota(self, session: AsyncSession, caller: Caller, now: datetime) -> Quota:
        """The workspace's quota row for this month: created from the plan on first use, counts reset (and
        limits refreshed from the plan) once its window has passed or the plan changed."""
        terms = PLAN_QUOTAS[caller.plan or "free"]
        insert = pg_insert if self._database.dialect == "postgresql" else sqlite_insert
        await session.execute(
            insert(Quota)
            .values(
                id=new_id(),
                tenant_id=caller.tenant_id,
                workspace_id=caller.workspace_id,
                plan=caller.plan or "free",
                tokens_limit=terms.tokens_limit,
                requests_limit=terms.requests_limit,
                tokens_used=0,
                tokens_reserved=0,
                requests_used=0,
                reset_at=next_month_start(now),
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["workspace_id"])
        )
        quota = (
            await session.execute(
                select(Quota).where(Quota.workspace_id == caller.workspace_id).with_for_update()
            )
        ).scalar_one()
        if quota.tenant_id != caller.tenant_id:
            raise NotFound("workspace not found")
        await self.expire_held(session, quota, now)
        if quota.reset_at <= now:
            quota.tokens_used = quota.requests_used = 0
            quota.reset_at = next_month_start(now)
        if caller.plan is not None and quota.plan != caller.plan:
            quota.plan = caller.plan
            quota.tokens_limit, quota.requests_limit = terms.tokens_limit, terms.requests_limit
        await session.flush()
        return quota

    async def expire_held(self, session: AsyncSession, quota: Quota, now: datetime) -> int:
        """Gives back the reservations of `quota`'s (locked) workspace past their expiry; how many. Run
        whenever a quota is read, so a crashed turn never blocks the limit even between sweeps."""
        expired = (
            (
                await session.execute(
                    select(Reservation).where(
                        Reservation.workspace_id == quota.workspace_id,
                        Reservation.status == "held",
                        Reservation.expires_at <= now,
                    )
                )
            )
            .scalars()
            .all()
        )
        if expired:
            for reservation in expired:
                await self.give_back(session, reservation, "expired", now)
            await session.refresh(quota)
        return len(expired)

    async def quota(self, caller: Caller) -> Quota:
        async with self._database.transaction() as session:
            return await self._current_quota(session, caller, datetime.now(UTC))

    async def reserve(
        self,
        caller: Caller,
        user_id: str,
        model_id: str,
        estimate: int,
        key: str,
        upgrade_url: str,
        model_free_cap: int = 0,
    ) -> tuple[Reservation, Quota]:
        """Holds `estimate` tokens and one request, or raises QUOTA_EXCEEDED with nothing held; the same key
        answers the same reservation. On the free plan a positive `model_free_cap` also bounds the model's
        tokens this month (committed + held + estimate)."""
        now = datetime.now(UTC)
        async with self._database.transaction() as session:
            quota = await self._current_quota(session, caller, now)
            existing = (
                await session.execute(select(Reservation).where(Reservation.idempotency_key == key))
            ).scalar_one_or_none()
            if existing is not None:
                if existing.tenant_id != caller.tenant_id or existing.workspace_id != caller.workspace_id:
                    raise NotFound("reservation not found")
                if existing.status != "held":
                    # A settled turn's key: answering its old reservation would let a new call run unbilled.
                    raise Conflict(
                        "this turn id was already used by a finished turn", field="idempotency_key"
                    )
                return existing, quota
            if model_free_cap > 0 and quota.plan == "free":
                used = await self._model_tokens(session, quota.workspace_id, model_id, now)
                if used + estimate > model_free_cap:
                    raise QuotaExceeded(
                        f"the free plan allows {model_free_cap} tokens of {model_id} a month: {used} are "
                        f"used or held, and this turn may need {estimate}",
                        upgrade_url=upgrade_url,
                        reason="MODEL_FREE_CAP",
                    )
            held = await session.execute(
                update(Quota)
                .where(
                    Quota.id == quota.id,
                    _within(Quota.tokens_used + Quota.tokens_reserved, Quota.tokens_limit, estimate),
                    _within(Quota.requests_used, Quota.requests_limit, 1),
                )
                .values(
                    tokens_reserved=Quota.tokens_reserved + estimate,
                    requests_used=Quota.requests_used + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if held.rowcount != 1:  # type: ignore[attr-defined]
                tokens_full = quota.tokens_limit != UNLIMITED and (
                    quota.tokens_used + quota.tokens_reserved + estimate > quota.tokens_limit
                )
                raise QuotaExceeded(
                    "the workspace's monthly "
                    + ("token" if tokens_full else "request")
                    + " limit would be passed",
                    upgrade_url=upgrade_url,
                    reason="TOKENS" if tokens_full else "REQUESTS",
                )
            reservation = Reservation(
                id=new_id(),
                tenant_id=caller.tenant_id,
                workspace_id=caller.workspace_id,
                user_id=user_id,
                model_id=model_id,
                tokens=estimate,
                idempotency_key=key,
                status="held",
                expires_at=now + RESERVATION_TTL,
            )
            session.add(reservation)
            await session.flush()
            await session.refresh(quota)
            return reservation, quota

    @staticmethod
    async def _model_tokens(session: AsyncSession, workspace_id: str, model_id: str, now: datetime) -> int:
        """The workspace's tokens of one model this month: committed plus held. Exact only under the quota
        row's lock (every reserve and commit of the workspace takes it first), which the caller holds."""
        start = month_start(now)
        committed = await session.scalar(
            select(func.coalesce(func.sum(TokenUsage.input_tokens + TokenUsage.output_tokens), 0)).where(
                TokenUsage.workspace_id == workspace_id,
                TokenUsage.model_id == model_id,
                TokenUsage.used_at >= start,
                TokenUsage.used_at < next_month_start(now),
            )
        )
        held = await session.scalar(
            select(func.coalesce(func.sum(Reservation.tokens), 0)).where(
                Reservation.workspace_id == workspace_id,
                Reservation.model_id == model_id,
                Reservation.status == "held",
            )
        )
        return int(committed or 0) + int(held or 0)

    async def give_back(
        self, session: AsyncSession, reservation: Reservation, status: str, now: datetime
    ) -> None:
        """Returns a held reservation's tokens, and unless committed its request, to the quota. A request
        reserved in an earlier month is not returned: that month's counts were already reset."""
        same_month = reservation.created_at >= month_start(now)
        returned_requests = 1 if status != "committed" and same_month else 0
        await session.execute(
            update(Quota)
            .where(Quota.workspace_id == reservation.workspace_id)
            .values(
                tokens_reserved=Quota.tokens_reserved - reservation.tokens,
                requests_used=Quota.requests_used - returned_requests,
            )
            .execution_options(synchronize_session=False)
        )
        reservation.status = status

    async def _owned_reservation(
        self, session: AsyncSession, tenant_id: str, reservation_id: str
    ) -> Reservation:
        reservation = (
            await session.execute(
                select(Reservation)
                .where(Reservation.id == reservation_id, Reservation.tenant_id == tenant_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if reservation is None:
            raise NotFound("reservation not found")
        return reservation

    async def reservation_owner(self, tenant_id: str, reservation_id: str) -> tuple[str, str]:
        """The (workspace id, user id) a reservation of the tenant was made for; NOT_FOUND otherwise."""
        async with self._database.session() as session:
            reservation = await self._owned_reservation(session, tenant_id, reservation_id)
            return reservation.workspace_id, reservation.user_id

    async def release(self, caller: Caller, reservation_id: str) -> Quota:
        """Idempotent: only a held reservation gives anything back. `caller` is the reservation's workspace:
        its quota row is locked first, the order every path takes (no deadlock with a reserve or a sweep)."""
        now = datetime.now(UTC)
        async with self._database.transaction() as session:
            quota = await self._current_quota(session, caller, now)
            reservation = await self._owned_reservation(session, caller.tenant_id, reservation_id)
            if reservation.status == "held":
                await self.give_back(session, reservation, "released", now)
                await session.refresh(quota)
            return quota

    async def commit(
        self,
        caller: Caller,
        *,
        reservation_id: str,
        key: str,
        user_id: str,
        model_id: str,
        input_tokens: int,
        output_tokens: int,
        cost_micros: int,
        currency: str,
        used_at: datetime,
    ) -> Settled:
        """Settles a turn once per key; a reservation that expired or is gone still records the usage."""
        now = datetime.now(UTC)
        async with self._database.transaction() as session:
            previous = (
                await session.execute(select(TokenUsage).where(TokenUsage.idempotency_key == key))
            ).scalar_one_or_none()
            if previous is not None:
                if previous.tenant_id != caller.tenant_id:
                    raise NotFound("usage not found")
                return Settled(previous, await self._current_quota(session, caller, now), duplicate=True)
            quota = await self._current_quota(session, caller, now)
            request_counted = False
            if reservation_id:
                reservation = await self._owned_reservation(session, caller.tenant_id, reservation_id)
                if reservation.status == "held":
                    await self.give_back(session, reservation, "committed", now)
                    request_counted = True
                else:
                    reservation.status = "committed"
            await session.execute(
                update(Quota)
                .where(Quota.id == quota.id)
                .values(
                    tokens_used=Quota.tokens_used + input_tokens + output_tokens,
                    requests_used=Quota.requests_used + (0 if request_counted else 1),
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            record = TokenUsage(
                id=new_id(),
                tenant_id=caller.tenant_id,
                workspace_id=caller.workspace_id,
                user_id=user_id,
                model_id=model_id,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost_micros=cost_micros,
                currency=currency,
                idempotency_key=key,
                used_at=used_at,
                created_at=now,
            )
            session.add(record)
            await self._track_cost(session, caller, month_key(used_at), cost_micros, now)
            await session.flush()
            await session.refresh(quota)
            return Settled(record, quota, duplicate=False)

    async def _track_cost(
        self, session: AsyncSession, caller: Caller, month: str, cost_micros: int, now: datetime
    ) -> None:
        insert = pg_insert if self._database.dialect == "postgresql" else sqlite_insert
        await session.execute(
            insert(CostTracking)
            .values(
                id=new_id(),
                tenant_id=caller.tenant_id,
                workspace_id=caller.workspace_id,
                month=month,
                total_cost_micros=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "month"])
        )
        await session.execute(
            update(CostTracking)
            .where(and_(CostTracking.workspace_id == caller.workspace_id, CostTracking.month == month))
            .values(total_cost_micros=CostTracking.total_cost_micros + cost_micros, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def usage(
        self, tenant_id: str, workspace_id: str, start: datetime, user_id: str
    ) -> list[TokenUsage]:
        """The ledger rows of one month (from `start`), optionally of one user."""
        query = select(TokenUsage).where(
            TokenUsage.tenant_id == tenant_id,
            TokenUsage.workspace_id == workspace_id,
            TokenUsage.used_at >= start,
            TokenUsage.used_at < next_month_start(start),
        )
        if user_id:
            query = query.where(TokenUsage.user_id == user_id)
        async with self._database.session() as session:
            return list((await session.execute(query)).scalars())


async def sweep_expired(database: Database, now: datetime | None = None) -> int:
    """Releases held reservations past their expiry (crashed turns) in every workspace; how many. Each
    workspace in a transaction of its own that locks its quota row first, like every other path; a quota
    locked right now is skipped (PostgreSQL): whoever holds it gives the expired ones back itself."""
    moment = now or datetime.now(UTC)
    ledger = Ledger(database)
    async with database.session() as session:
        workspaces = list(
            await session.scalars(
                select(Reservation.workspace_id)
                .where(Reservation.status == "held", Reservation.expires_at <= moment)
                .distinct()
            )
        )
    swept = 0
    for workspace_id in workspaces:
        async with database.transaction() as session:
            quota = (
                await session.execute(
                    select(Quota).where(Quota.workspace_id == workspace_id).with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if quota is not None:
                swept += await ledger.expire_held(session, quota, moment)
    return swept
