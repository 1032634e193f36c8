"""Quotas, reservations and the usage ledger of the billing service, over its own tables.

Atomicity: a reservation is one conditional UPDATE of the workspace's quota row
(`... WHERE tokens_used + tokens_reserved + :estimate <= tokens_limit`), so concurrent reserves can never hold
more than the limit: PostgreSQL re-checks the condition under the row lock, and on SQLite
`Database.core_transaction()` takes the write lock up front. A reservation also counts its request at once
(`requests_used + 1`); a commit keeps that request, a release or expiry gives it back.

Cost: `(input * input_price_per_1k + output * output_price_per_1k) // 1000` micros, integer math, rounded
down once per turn (fractions of a micro are never billed).

Speed (every chat turn reserves and commits): the statements are prebuilt Core (statements.py), a quota comes
back from the UPDATE that changed it (RETURNING), a key's INSERT conflict tells a retry apart instead of a
SELECT first, and the locking read of a quota says whether any hold has expired, so a reserve is 3 statements
and a commit 6 on the common path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, select, update

from db.models.billing import UNLIMITED, TokenUsage
from db.seed import PLAN_QUOTAS
from services.billing.statements import QUOTA_COLUMNS, QUOTAS, RESERVATIONS, Statements, statements
from services.runtime.database import Database
from services.runtime.errors import Conflict, NotFound, QuotaExceeded
from services.runtime.ids import new_id

T = TypeVar("T")

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


@dataclass(frozen=True, slots=True)
class Caller:
    """Whose quota a call reads. `plan` is None when the caller cannot know it (a service delivering for a
    user, who has no token to ask AuthService.GetMe with): the quota row keeps its plan, a new row is free."""

    tenant_id: str
    workspace_id: str
    plan: str | None


@dataclass(frozen=True, slots=True)
class QuotaState:
    """A quota row as a transaction's last statement read or left it (fields in `QUOTA_COLUMNS` order)."""

    id: str
    tenant_id: str
    workspace_id: str
    plan: str
    tokens_limit: int
    tokens_used: int
    tokens_reserved: int
    requests_limit: int
    requests_used: int
    reset_at: datetime

    @classmethod
    def of(cls, row: Row[Any]) -> QuotaState:
        """From a row starting with `QUOTA_COLUMNS` (a locking read has one more)."""
        return cls(*row[: len(QUOTA_COLUMNS)])


@dataclass(frozen=True, slots=True)
class Hold:
    """A reservation as ReserveTokens answers it."""

    id: str
    tokens: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Settled:
    record: TokenUsage
    quota: QuotaState
    duplicate: bool


class Ledger:
    """Every change runs in one transaction; rows of another tenant are NOT_FOUND."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._sql: Statements = statements(database.dialect)

    def _current_quota(self, conn: Connection, caller: Caller, now: datetime) -> QuotaState:
        """The workspace's quota row for this month, locked: created from the plan on first use, counts reset
        (and limits refreshed from the plan) once its window has passed or the plan changed."""
        where = {"workspace": caller.workspace_id, "now": now}
        row = conn.execute(self._sql.lock_quota, where).first()
        if row is None:
            terms = PLAN_QUOTAS[caller.plan or "free"]
            conn.execute(
                self._sql.insert_quota,
                {
                    "id": new_id(),
                    "tenant_id": caller.tenant_id,
                    "workspace_id": caller.workspace_id,
                    "plan": caller.plan or "free",
                    "tokens_limit": terms.tokens_limit,
                    "requests_limit": terms.requests_limit,
                    "tokens_used": 0,
                    "tokens_reserved": 0,
                    "requests_used": 0,
                    "reset_at": next_month_start(now),
                    "created_at": now,
                    "updated_at": now,
                },
            )
            row = conn.execute(self._sql.lock_quota, where).one()
        quota = QuotaState.of(row)
        if quota.tenant_id != caller.tenant_id:
            raise NotFound("workspace not found")
        if row.has_expired:
            _, quota = self._expire_held(conn, quota, now)
        changes: dict[str, Any] = {}
        if quota.reset_at <= now:
            changes.update(tokens_used=0, requests_used=0, reset_at=next_month_start(now))
        if caller.plan is not None and quota.plan != caller.plan:
            terms = PLAN_QUOTAS[caller.plan]
            changes.update(
                plan=caller.plan, tokens_limit=terms.tokens_limit, requests_limit=terms.requests_limit
            )
        if not changes:
            return quota
        changed = update(QUOTAS).where(QUOTAS.c.id == quota.id).values(updated_at=now, **changes)
        return QuotaState.of(conn.execute(changed.returning(*QUOTA_COLUMNS)).one())

    def _expire_held(self, conn: Connection, quota: QuotaState, now: datetime) -> tuple[int, QuotaState]:
        """Gives back the reservations of `quota`'s (locked) workspace past their expiry: how many, and the
        quota after. Run whenever a quota read finds some, so a crashed turn never blocks the limit even
        between sweeps."""
        where = {"workspace": quota.workspace_id, "now": now}
        expired = conn.execute(self._sql.expired, where).all()
        if not expired:
            return 0, quota
        conn.execute(self._sql.expire, where)
        this_month = month_start(now)
        return len(expired), self._give_back(
            conn,
            quota.workspace_id,
            tokens=sum(row.tokens for row in expired),
            # A request reserved in an earlier month is not returned: that month's counts were reset.
            requests=sum(1 for row in expired if row.created_at >= this_month),
        )

    async def sweep(self, workspace_id: str, now: datetime) -> int:
        """Expires the workspace's held reservations past their expiry, unless another transaction holds its
        quota row (PostgreSQL): that one gives them back itself. How many."""

        def body(conn: Connection) -> int:
            where = {"workspace": workspace_id, "now": now}
            quota = conn.execute(self._sql.lock_quota_unless_locked, where).first()
            return 0 if quota is None else self._expire_held(conn, QuotaState.of(quota), now)[0]

        return await self._transaction(body)

    def _give_back(self, conn: Connection, workspace_id: str, *, tokens: int, requests: int) -> QuotaState:
        returned = {"workspace": workspace_id, "tokens": tokens, "requests": requests}
        return QuotaState.of(conn.execute(self._sql.give_back, returned).one())

    async def _transaction(self, body: Callable[[Connection], T]) -> T:
        """`body` in one transaction, its statements run in one switch into SQLAlchemy's synchronous core
        (an awaited `execute` costs a greenlet of its own, about a third of a short statement's CPU)."""
        async with self._database.core_transaction() as connection:
            return await connection.run_sync(body)

    async def quota(self, caller: Caller) -> QuotaState:
        now = datetime.now(UTC)
        return await self._transaction(lambda conn: self._current_quota(conn, caller, now))

    async def reserve(
        self,
        caller: Caller,
        user_id: str,
        model_id: str,
        estimate: int,
        key: str,
        upgrade_url: str,
        model_free_cap: int = 0,
    ) -> tuple[Hold, QuotaState]:
        """Holds `estimate` tokens and one request, or raises QUOTA_EXCEEDED with nothing held; the same key
        answers the same reservation. On the free plan a positive `model_free_cap` also bounds the model's
        tokens this month (committed + held + estimate). The reservation row goes in first (its key's
        conflict tells a retry apart); a refusal after it rolls the whole transaction back."""
        now = datetime.now(UTC)

        def body(conn: Connection) -> tuple[Hold, QuotaState]:
            quota = self._current_quota(conn, caller, now)
            hold = Hold(new_id(), estimate, now + RESERVATION_TTL)
            inserted = conn.execute(
                self._sql.insert_reservation,
                {
                    "id": hold.id,
                    "tenant_id": caller.tenant_id,
                    "workspace_id": caller.workspace_id,
                    "user_id": user_id,
                    "model_id": model_id,
                    "tokens": estimate,
                    "idempotency_key": key,
                    "status": "held",
                    "expires_at": hold.expires_at,
                    "created_at": now,
                },
            )
            if inserted.first() is None:
                return self._existing(conn, caller, key), quota
            if model_free_cap > 0 and quota.plan == "free":
                # The new reservation is held already: it is this turn's estimate.
                used = self._model_tokens(conn, quota.workspace_id, model_id, now) - estimate
                if used + estimate > model_free_cap:
                    raise QuotaExceeded(
                        f"the free plan allows {model_free_cap} tokens of {model_id} a month: {used} are "
                        f"used or held, and this turn may need {estimate}",
                        upgrade_url=upgrade_url,
                        reason="MODEL_FREE_CAP",
                    )
            held = (
                conn.execute(self._sql.hold, {"quota_id": quota.id, "tokens": estimate, "now": now})
            ).first()
            if held is None:
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
            return hold, QuotaState.of(held)

        return await self._transaction(body)

    def _existing(self, conn: Connection, caller: Caller, key: str) -> Hold:
        """The reservation a key already has, when it is the caller's workspace's and still held."""
        existing = conn.execute(self._sql.reservation_by_key, {"key": key}).one()
        if existing.tenant_id != caller.tenant_id or existing.workspace_id != caller.workspace_id:
            raise NotFound("reservation not found")
        if existing.status != "held":
            # A settled turn's key: answering its old reservation would let a new call run unbilled.
            raise Conflict("this turn id was already used by a finished turn", field="idempotency_key")
        return Hold(existing.id, existing.tokens, existing.expires_at)

    def _model_tokens(self, conn: Connection, workspace_id: str, model_id: str, now: datetime) -> int:
        """The workspace's tokens of one model this month: committed plus held. Exact only under the quota
        row's lock (every reserve and commit of the workspace takes it first), which the caller holds."""
        model = {"workspace": workspace_id, "model": model_id}
        committed = conn.scalar(
            self._sql.model_committed, {**model, "start": month_start(now), "end": next_month_start(now)}
        )
        held = conn.scalar(self._sql.model_held, model)
        return int(committed or 0) + int(held or 0)

    async def reservation_owner(self, tenant_id: str, reservation_id: str) -> tuple[str, str]:
        """The (workspace id, user id) a reservation of the tenant was made for; NOT_FOUND otherwise. Read
        before the settling transaction because the price of a commit depends on the workspace, and asking
        for it inside would hold the write lock over a call."""
        async with self._database.engine.connect() as conn:
            owner = (
                await conn.execute(
                    self._sql.reservation_owner, {"reservation": reservation_id, "tenant": tenant_id}
                )
            ).first()
        if owner is None:
            raise NotFound("reservation not found")
        return owner.workspace_id, owner.user_id

    async def release(self, caller: Caller, reservation_id: str) -> QuotaState:
        """Idempotent: only a held reservation gives anything back. `caller` is the reservation's workspace:
        its quota row is locked first, the order every path takes (no deadlock with a reserve or a sweep)."""
        now = datetime.now(UTC)

        def body(conn: Connection) -> QuotaState:
            quota = self._current_quota(conn, caller, now)
            of_tenant = {"reservation": reservation_id, "tenant": caller.tenant_id}
            held = conn.execute(self._sql.settle_held, {**of_tenant, "new_status": "released"}).first()
            if held is None:
                if conn.execute(self._sql.reservation_exists, of_tenant).first() is None:
                    raise NotFound("reservation not found")
                return quota
            same_month = held.created_at >= month_start(now)
            return self._give_back(conn, held.workspace_id, tokens=held.tokens, requests=int(same_month))

        return await self._transaction(body)

    async def commit(
        self,
        caller: Caller,
        *,
        reservation_id: str,
        reserver: str | None = None,
        key: str,
        user_id: str,
        model_id: str,
        input_tokens: int,
        output_tokens: int,
        cost_micros: int,
        currency: str,
        used_at: datetime,
    ) -> Settled:
        """Settles a turn once per key; a reservation that expired or is gone still records the usage. With a
        `reserver`, the reservation must be theirs and of the caller's workspace (NOT_FOUND otherwise). The
        ledger row goes in first (its key's conflict tells a replay apart, and only replays of the same key
        ever wait on it), then the quota row is locked as on every path."""
        now = datetime.now(UTC)
        row = {
            "id": new_id(),
            "tenant_id": caller.tenant_id,
            "workspace_id": caller.workspace_id,
            "user_id": user_id,
            "model_id": model_id,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_micros": cost_micros,
            "currency": currency,
            "idempotency_key": key,
            "used_at": used_at,
            "created_at": now,
        }
        of_tenant = {"reservation": reservation_id, "tenant": caller.tenant_id}

        def body(conn: Connection) -> Settled:
            if reserver is not None:
                owner = conn.execute(self._sql.reservation_owner, of_tenant).first()
                if owner is None or (owner.user_id, owner.workspace_id) != (reserver, caller.workspace_id):
                    raise NotFound("reservation not found")
            inserted = conn.execute(self._sql.insert_usage, row)
            if inserted.first() is None:
                previous = conn.execute(self._sql.usage_by_key, {"key": key}).one()
                if previous.tenant_id != caller.tenant_id:
                    raise NotFound("usage not found")
                record = TokenUsage(**previous._mapping)
                return Settled(record, self._current_quota(conn, caller, now), duplicate=True)
            quota = self._current_quota(conn, caller, now)
            held_tokens, request_counted = 0, False
            if reservation_id:
                held = conn.execute(self._sql.settle_held, {**of_tenant, "new_status": "committed"}).first()
                if held is not None:
                    # Its tokens leave the reserved count; its request, counted at reserve, stays.
                    held_tokens, request_counted = held.tokens, True
                elif (
                    conn.execute(self._sql.set_status, {**of_tenant, "new_status": "committed"})
                ).rowcount != 1:
                    raise NotFound("reservation not found")
            settled = conn.execute(
                self._sql.settle,
                {
                    "quota_id": quota.id,
                    "held": held_tokens,
                    "tokens": input_tokens + output_tokens,
                    "requests": 0 if request_counted else 1,
                    "now": now,
                },
            )
            conn.execute(
                self._sql.track_cost,
                {
                    "id": new_id(),
                    "tenant_id": caller.tenant_id,
                    "workspace_id": caller.workspace_id,
                    "month": month_key(used_at),
                    "total_cost_micros": cost_micros,
                    "created_at": now,
                    "updated_at": now,
                },
            )
            return Settled(TokenUsage(**row), QuotaState.of(settled.one()), duplicate=False)

        return await self._transaction(body)

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
                select(RESERVATIONS.c.workspace_id)
                .where(RESERVATIONS.c.status == "held", RESERVATIONS.c.expires_at <= moment)
                .distinct()
            )
        )
    swept = 0
    for workspace_id in workspaces:
        swept += await ledger.sweep(workspace_id, moment)
    return swept
