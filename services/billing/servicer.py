"""BillingService over gRPC: quotas, reservations, commits and the usage summary (issue 5). The rules live in
ledger.py; plans, budgets, invoices and Stripe answer UNIMPLEMENTED until their issue."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from db.models.billing import UNLIMITED, TokenUsage
from geko.billing.v1 import billing_pb2, billing_pb2_grpc
from geko.model.v1 import model_pb2, model_pb2_grpc
from services.billing.ledger import (
    WARNING_RATIO,
    Caller,
    Ledger,
    QuotaState,
    Settled,
    month_key,
    month_start,
    turn_cost,
)
from services.billing.sweeper import SWEEP_SECONDS, ReservationSweeper
from services.runtime.access import WorkspaceAccess, canonical_workspace_id, require_user
from services.runtime.context import require_principal
from services.runtime.errors import BadInput, Forbidden, GekoError, NotFound
from services.runtime.ids import parse_id
from services.runtime.messages import timestamp
from services.runtime.plans import PLAN_OF_NAME, PLANS, upgrade_url
from services.runtime.server import ServiceDeps, ServiceRegistration
from services.runtime.service_identity import service_metadata
from services.runtime.types import ServicerContext

SERVICE_NAME = billing_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name


def _ratio(used: int, limit: int) -> float:
    return 0.0 if limit == UNLIMITED or limit <= 0 else used / limit


class BillingServicer(billing_pb2_grpc.BillingServiceServicer):
    def __init__(self, deps: ServiceDeps) -> None:
        self._deps = deps
        self._access = WorkspaceAccess(deps.channels, deps.backends.cache)
        self._service_metadata = service_metadata(deps.settings)
        self._ledger = Ledger(deps.database)

    def _quota_message(self, quota: QuotaState) -> billing_pb2.Quota:
        token_ratio = _ratio(quota.tokens_used, quota.tokens_limit)
        request_ratio = _ratio(quota.requests_used, quota.requests_limit)
        return billing_pb2.Quota(
            workspace_id=quota.workspace_id,
            plan=PLAN_OF_NAME[quota.plan],
            tokens_limit=quota.tokens_limit,
            tokens_used=quota.tokens_used,
            tokens_reserved=quota.tokens_reserved,
            requests_limit=quota.requests_limit,
            requests_used=quota.requests_used,
            reset_time=timestamp(quota.reset_at),
            warning=max(token_ratio, request_ratio) >= WARNING_RATIO,
            percent_used=token_ratio * 100,
            tokens_remaining=UNLIMITED
            if quota.tokens_limit == UNLIMITED
            else max(0, quota.tokens_limit - quota.tokens_used - quota.tokens_reserved),
            upgrade_url=""
            if quota.plan == PLANS[-1]
            else upgrade_url(self._deps.settings, quota.workspace_id),
        )

    async def _caller(self, workspace_id: str) -> Caller:
        """A member of the workspace (any role; NOT_FOUND otherwise) and their tenant's plan."""
        principal = require_user()
        workspace_id = canonical_workspace_id(workspace_id)
        await self._access.member(workspace_id, "")  # one after the other: both cache reads (eligibility.py)
        plan = await self._access.tenant_plan()
        return Caller(principal.tenant_id or "", workspace_id, plan)

    @staticmethod
    def _user(requested: str) -> str:
        """The signed-in caller's id: usage is recorded for who made the turn, never for a body's claim."""
        user_id = require_user().user_id or ""
        if requested.strip() and parse_id(requested) != user_id:
            raise Forbidden("usage can only be reserved and committed for the signed-in caller")
        return user_id

    async def _reservation_caller(self, reservation_id: str) -> Caller:
        """The quota a reservation of the signed-in user is held on. The reservation is the proof: settling it
        needs no current membership (a member removed mid-turn is still billed for the turn) and no plan
        (the quota row keeps its own)."""
        principal = require_user()
        canonical = parse_id(reservation_id) if reservation_id.strip() else None
        if canonical is None:
            raise BadInput("reservation_id is not a reservation id", field="reservation_id")
        workspace_id, user_id = await self._ledger.reservation_owner(principal.tenant_id or "", canonical)
        if user_id != principal.user_id:
            raise NotFound("reservation not found")
        return Caller(principal.tenant_id or "", workspace_id, plan=None)

    async def _commit_caller(self, request: billing_pb2.CommitUsageRequest) -> tuple[Caller, str]:
        """(whose quota, whose usage) of a commit: the signed-in user's, or — for the platform's service
        identity delivering late (the usage outbox, the user's token long expired) — those the request names.
        A service cannot ask AuthService.GetMe without a user, so its caller has no plan: the quota row's
        plan stands."""
        if not require_principal().is_service:
            principal = require_user()
            if request.tenant_id.strip() and parse_id(request.tenant_id) != principal.tenant_id:
                raise BadInput("tenant_id is set only by services delivering for a user", field="tenant_id")
            if request.reservation_id:
                return await self._reservation_caller(request.reservation_id), self._user(request.user_id)
            return await self._caller(request.workspace_id), self._user(request.user_id)
        tenant_id = _required_id(request.tenant_id, "tenant_id")
        caller = Caller(tenant_id, _required_id(request.workspace_id, "workspace_id"), plan=None)
        user_id = _required_id(request.user_id, "user_id")
        if request.reservation_id:
            reservation_id = _required_id(request.reservation_id, "reservation_id")
            workspace_id, _ = await self._ledger.reservation_owner(tenant_id, reservation_id)
            if workspace_id != caller.workspace_id:
                raise NotFound("reservation not found")
        return caller, user_id

    async def GetQuota(
        self, request: billing_pb2.GetQuotaRequest, context: ServicerContext
    ) -> billing_pb2.GetQuotaResponse:
        quota = await self._ledger.quota(await self._caller(request.workspace_id))
        return billing_pb2.GetQuotaResponse(quota=self._quota_message(quota))

    async def ReserveTokens(
        self, request: billing_pb2.ReserveTokensRequest, context: ServicerContext
    ) -> billing_pb2.ReserveTokensResponse:
        if request.estimated_tokens <= 0:
            raise BadInput("estimated_tokens must be positive", field="estimated_tokens")
        if not request.idempotency_key.strip():
            raise BadInput("idempotency_key is required", field="idempotency_key")
        if not request.model_id.strip():
            raise BadInput("model_id is required", field="model_id")
        if request.model_free_tokens_cap < 0:
            raise BadInput("model_free_tokens_cap cannot be negative", field="model_free_tokens_cap")
        caller = await self._caller(request.workspace_id)
        reservation, quota = await self._ledger.reserve(
            caller,
            self._user(request.user_id),
            request.model_id.strip(),
            request.estimated_tokens,
            request.idempotency_key.strip(),
            upgrade_url(self._deps.settings, caller.workspace_id),
            request.model_free_tokens_cap,
        )
        return billing_pb2.ReserveTokensResponse(
            reservation_id=reservation.id,
            reserved_tokens=reservation.tokens,
            expire_time=timestamp(reservation.expires_at),
            quota=self._quota_message(quota),
        )

    async def CommitUsage(
        self, request: billing_pb2.CommitUsageRequest, context: ServicerContext
    ) -> billing_pb2.CommitUsageResponse:
        if not request.idempotency_key.strip():
            raise BadInput("idempotency_key is required", field="idempotency_key")
        if request.input_tokens < 0 or request.output_tokens < 0:
            raise BadInput("token counts cannot be negative", field="input_tokens")
        if not request.model_id.strip():
            raise BadInput("model_id is required", field="model_id")
        settled = await self._settle_own_turn(request)
        if settled is None:
            caller, user_id = await self._commit_caller(request)
            settled = await self._settle(request, caller, user_id, _used_at(request))
        return billing_pb2.CommitUsageResponse(
            record=_record_message(settled.record),
            quota=self._quota_message(settled.quota),
            duplicate=settled.duplicate,
        )

    async def _settle_own_turn(self, request: billing_pb2.CommitUsageRequest) -> Settled | None:
        """The commit every chat turn makes — a user settling their own reservation of the workspace the
        request names — with the reservation checked inside the settling transaction instead of read first.
        None for any other commit, or when anything fails (another workspace, a field, the price): nothing was
        written then, and the general path answers as it always has, errors and their order included."""
        principal = require_principal()
        if principal.is_service or request.tenant_id.strip() or not principal.tenant_id:
            return None
        user_id = principal.user_id or ""
        workspace_id = parse_id(request.workspace_id) if request.workspace_id.strip() else None
        reservation_id = parse_id(request.reservation_id) if request.reservation_id.strip() else None
        if not (user_id and workspace_id and reservation_id):
            return None
        if request.user_id.strip() and parse_id(request.user_id) != user_id:
            return None
        caller = Caller(principal.tenant_id, workspace_id, plan=None)
        try:
            return await self._settle(request, caller, user_id, _used_at(request), reserver=user_id)
        except (GekoError, ValueError, OverflowError):  # ValueError, OverflowError: a usage_time out of range
            return None

    async def _settle(
        self,
        request: billing_pb2.CommitUsageRequest,
        caller: Caller,
        user_id: str,
        used_at: datetime,
        *,
        reserver: str | None = None,
    ) -> Settled:
        # Asked as the platform: the price of a turn does not depend on the user still being a member.
        price = await self._deps.channels.stub("model", model_pb2_grpc.ModelServiceStub).GetEffectivePrice(
            model_pb2.GetEffectivePriceRequest(
                model_id=request.model_id.strip(), workspace_id=caller.workspace_id, time=timestamp(used_at)
            ),
            metadata=self._service_metadata,
        )
        return await self._ledger.commit(
            caller,
            reservation_id=parse_id(request.reservation_id) or "" if request.reservation_id else "",
            reserver=reserver,
            key=request.idempotency_key.strip(),
            user_id=user_id,
            model_id=request.model_id.strip(),
            input_tokens=request.input_tokens,
            output_tokens=request.output_tokens,
            cost_micros=turn_cost(
                request.input_tokens,
                request.output_tokens,
                price.input_price_per_1k_tokens_micros,
                price.output_price_per_1k_tokens_micros,
            ),
            currency=price.currency or "USD",
            used_at=used_at,
        )

    async def ReleaseReservation(
        self, request: billing_pb2.ReleaseReservationRequest, context: ServicerContext
    ) -> billing_pb2.ReleaseReservationResponse:
        caller = await self._reservation_caller(request.reservation_id)
        quota = await self._ledger.release(caller, parse_id(request.reservation_id) or "")
        return billing_pb2.ReleaseReservationResponse(quota=self._quota_message(quota))

    async def GetUsage(
        self, request: billing_pb2.GetUsageRequest, context: ServicerContext
    ) -> billing_pb2.GetUsageResponse:
        """Own usage needs usage:view:own; the workspace's, or another member's, usage:view:workspace."""
        principal = require_user()
        user_id = ""
        if request.user_id.strip():
            user_id = parse_id(request.user_id) or ""
            if not user_id:
                raise BadInput("user_id is not a user id", field="user_id")
        own = user_id and user_id == principal.user_id
        await self._access.require(request.workspace_id, "usage:view:own" if own else "usage:view:workspace")
        start = _parse_month(request.month)
        workspace_id = canonical_workspace_id(request.workspace_id)
        rows = await self._ledger.usage(principal.tenant_id or "", workspace_id, start, user_id)
        return _usage_message(month_key(start), rows)


def _used_at(request: billing_pb2.CommitUsageRequest) -> datetime:
    return request.usage_time.ToDatetime(UTC) if request.HasField("usage_time") else datetime.now(UTC)


def _required_id(value: str, field: str) -> str:
    canonical = parse_id(value) if value.strip() else None
    if canonical is None:
        raise BadInput(f"{field} is required (an id)", field=field)
    return canonical


def _parse_month(month: str) -> datetime:
    if not month.strip():
        return month_start(datetime.now(UTC))
    try:
        return datetime.strptime(month.strip(), "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise BadInput("month must be YYYY-MM", field="month") from None


def _record_message(row: TokenUsage) -> billing_pb2.UsageRecord:
    return billing_pb2.UsageRecord(
        id=row.id,
        workspace_id=row.workspace_id,
        user_id=row.user_id,
        model_id=row.model_id,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_micros=row.cost_micros,
        currency=row.currency,
        idempotency_key=row.idempotency_key,
        usage_time=timestamp(row.used_at),
        create_time=timestamp(row.created_at),
    )


def _usage_message(month: str, rows: list[TokenUsage]) -> billing_pb2.GetUsageResponse:
    """Sums per model, per user and per UTC day (integer micros throughout)."""
    groups: dict[str, dict[str, list[int]]] = {
        "model": defaultdict(lambda: [0, 0, 0]),
        "user": defaultdict(lambda: [0, 0, 0]),
        "day": defaultdict(lambda: [0, 0, 0]),
    }
    for row in rows:
        keys = {
            "model": row.model_id,
            "user": row.user_id,
            "day": row.used_at.astimezone(UTC).date().isoformat(),
        }
        for group, key in keys.items():
            sums = groups[group][key]
            sums[0] += row.input_tokens
            sums[1] += row.output_tokens
            sums[2] += row.cost_micros
    return billing_pb2.GetUsageResponse(
        month=month,
        input_tokens=sum(row.input_tokens for row in rows),
        output_tokens=sum(row.output_tokens for row in rows),
        requests=len(rows),
        cost_micros=sum(row.cost_micros for row in rows),
        currency=rows[0].currency if rows else "USD",
        per_model=[
            billing_pb2.ModelUsage(model_id=k, input_tokens=i, output_tokens=o, cost_micros=c)
            for k, (i, o, c) in sorted(groups["model"].items())
        ],
        per_user=[
            billing_pb2.UserUsage(user_id=k, input_tokens=i, output_tokens=o, cost_micros=c)
            for k, (i, o, c) in sorted(groups["user"].items())
        ],
        daily=[
            billing_pb2.DailyUsage(date=k, input_tokens=i, output_tokens=o, cost_micros=c)
            for k, (i, o, c) in sorted(groups["day"].items())
        ],
    )


def create(deps: ServiceDeps, *, sweep_seconds: float = SWEEP_SECONDS) -> ServiceRegistration:
    """Billing, with its reservation sweeper running while the server hosting it serves."""
    sweeper = ReservationSweeper(deps.database, interval_seconds=sweep_seconds)
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=BillingServicer(deps),
        add_to_server=billing_pb2_grpc.add_BillingServiceServicer_to_server,
        start=sweeper.start,
        stop=sweeper.stop,
    )
