import datetime

from geko.common.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BudgetEnforcement(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BUDGET_ENFORCEMENT_UNSPECIFIED: _ClassVar[BudgetEnforcement]
    BUDGET_ENFORCEMENT_HARD: _ClassVar[BudgetEnforcement]
    BUDGET_ENFORCEMENT_SOFT: _ClassVar[BudgetEnforcement]

class InvoiceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INVOICE_STATUS_UNSPECIFIED: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_DRAFT: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_OPEN: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_PAID: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_VOID: _ClassVar[InvoiceStatus]
    INVOICE_STATUS_UNCOLLECTIBLE: _ClassVar[InvoiceStatus]
BUDGET_ENFORCEMENT_UNSPECIFIED: BudgetEnforcement
BUDGET_ENFORCEMENT_HARD: BudgetEnforcement
BUDGET_ENFORCEMENT_SOFT: BudgetEnforcement
INVOICE_STATUS_UNSPECIFIED: InvoiceStatus
INVOICE_STATUS_DRAFT: InvoiceStatus
INVOICE_STATUS_OPEN: InvoiceStatus
INVOICE_STATUS_PAID: InvoiceStatus
INVOICE_STATUS_VOID: InvoiceStatus
INVOICE_STATUS_UNCOLLECTIBLE: InvoiceStatus

class PlanTerms(_message.Message):
    __slots__ = ("plan", "tokens_limit", "requests_limit", "monthly_price_micros", "currency")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    TOKENS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_PRICE_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    plan: _common_pb2.Plan
    tokens_limit: int
    requests_limit: int
    monthly_price_micros: int
    currency: str
    def __init__(self, plan: _Optional[_Union[_common_pb2.Plan, str]] = ..., tokens_limit: _Optional[int] = ..., requests_limit: _Optional[int] = ..., monthly_price_micros: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class Quota(_message.Message):
    __slots__ = ("workspace_id", "plan", "tokens_limit", "tokens_used", "tokens_reserved", "requests_limit", "requests_used", "reset_time", "warning", "percent_used", "tokens_remaining", "upgrade_url")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    TOKENS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_USED_FIELD_NUMBER: _ClassVar[int]
    TOKENS_RESERVED_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_LIMIT_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_USED_FIELD_NUMBER: _ClassVar[int]
    RESET_TIME_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    PERCENT_USED_FIELD_NUMBER: _ClassVar[int]
    TOKENS_REMAINING_FIELD_NUMBER: _ClassVar[int]
    UPGRADE_URL_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    plan: _common_pb2.Plan
    tokens_limit: int
    tokens_used: int
    tokens_reserved: int
    requests_limit: int
    requests_used: int
    reset_time: _timestamp_pb2.Timestamp
    warning: bool
    percent_used: float
    tokens_remaining: int
    upgrade_url: str
    def __init__(self, workspace_id: _Optional[str] = ..., plan: _Optional[_Union[_common_pb2.Plan, str]] = ..., tokens_limit: _Optional[int] = ..., tokens_used: _Optional[int] = ..., tokens_reserved: _Optional[int] = ..., requests_limit: _Optional[int] = ..., requests_used: _Optional[int] = ..., reset_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., warning: _Optional[bool] = ..., percent_used: _Optional[float] = ..., tokens_remaining: _Optional[int] = ..., upgrade_url: _Optional[str] = ...) -> None: ...

class UsageRecord(_message.Message):
    __slots__ = ("id", "workspace_id", "user_id", "model_id", "input_tokens", "output_tokens", "cost_micros", "currency", "idempotency_key", "usage_time", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    USAGE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace_id: str
    user_id: str
    model_id: str
    input_tokens: int
    output_tokens: int
    cost_micros: int
    currency: str
    idempotency_key: str
    usage_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., user_id: _Optional[str] = ..., model_id: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_micros: _Optional[int] = ..., currency: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., usage_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListPlansRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPlansResponse(_message.Message):
    __slots__ = ("plans",)
    PLANS_FIELD_NUMBER: _ClassVar[int]
    plans: _containers.RepeatedCompositeFieldContainer[PlanTerms]
    def __init__(self, plans: _Optional[_Iterable[_Union[PlanTerms, _Mapping]]] = ...) -> None: ...

class GetQuotaRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class GetQuotaResponse(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: Quota
    def __init__(self, quota: _Optional[_Union[Quota, _Mapping]] = ...) -> None: ...

class ReserveTokensRequest(_message.Message):
    __slots__ = ("workspace_id", "user_id", "model_id", "estimated_tokens", "idempotency_key", "model_free_tokens_cap")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    MODEL_FREE_TOKENS_CAP_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    user_id: str
    model_id: str
    estimated_tokens: int
    idempotency_key: str
    model_free_tokens_cap: int
    def __init__(self, workspace_id: _Optional[str] = ..., user_id: _Optional[str] = ..., model_id: _Optional[str] = ..., estimated_tokens: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., model_free_tokens_cap: _Optional[int] = ...) -> None: ...

class ReserveTokensResponse(_message.Message):
    __slots__ = ("reservation_id", "reserved_tokens", "expire_time", "quota")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    RESERVED_TOKENS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    reserved_tokens: int
    expire_time: _timestamp_pb2.Timestamp
    quota: Quota
    def __init__(self, reservation_id: _Optional[str] = ..., reserved_tokens: _Optional[int] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., quota: _Optional[_Union[Quota, _Mapping]] = ...) -> None: ...

class CommitUsageRequest(_message.Message):
    __slots__ = ("reservation_id", "idempotency_key", "input_tokens", "output_tokens", "model_id", "workspace_id", "user_id", "usage_time", "tenant_id")
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    USAGE_TIME_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    idempotency_key: str
    input_tokens: int
    output_tokens: int
    model_id: str
    workspace_id: str
    user_id: str
    usage_time: _timestamp_pb2.Timestamp
    tenant_id: str
    def __init__(self, reservation_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., model_id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., user_id: _Optional[str] = ..., usage_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., tenant_id: _Optional[str] = ...) -> None: ...

class CommitUsageResponse(_message.Message):
    __slots__ = ("record", "quota", "duplicate")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    record: UsageRecord
    quota: Quota
    duplicate: bool
    def __init__(self, record: _Optional[_Union[UsageRecord, _Mapping]] = ..., quota: _Optional[_Union[Quota, _Mapping]] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class ReleaseReservationRequest(_message.Message):
    __slots__ = ("reservation_id",)
    RESERVATION_ID_FIELD_NUMBER: _ClassVar[int]
    reservation_id: str
    def __init__(self, reservation_id: _Optional[str] = ...) -> None: ...

class ReleaseReservationResponse(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: Quota
    def __init__(self, quota: _Optional[_Union[Quota, _Mapping]] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("workspace_id", "month", "user_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    month: str
    user_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., month: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class ModelUsage(_message.Message):
    __slots__ = ("model_id", "input_tokens", "output_tokens", "cost_micros")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    input_tokens: int
    output_tokens: int
    cost_micros: int
    def __init__(self, model_id: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_micros: _Optional[int] = ...) -> None: ...

class UserUsage(_message.Message):
    __slots__ = ("user_id", "input_tokens", "output_tokens", "cost_micros")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    input_tokens: int
    output_tokens: int
    cost_micros: int
    def __init__(self, user_id: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_micros: _Optional[int] = ...) -> None: ...

class DailyUsage(_message.Message):
    __slots__ = ("date", "input_tokens", "output_tokens", "cost_micros")
    DATE_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    date: str
    input_tokens: int
    output_tokens: int
    cost_micros: int
    def __init__(self, date: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_micros: _Optional[int] = ...) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("month", "input_tokens", "output_tokens", "requests", "cost_micros", "currency", "per_model", "per_user", "daily")
    MONTH_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    COST_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    PER_MODEL_FIELD_NUMBER: _ClassVar[int]
    PER_USER_FIELD_NUMBER: _ClassVar[int]
    DAILY_FIELD_NUMBER: _ClassVar[int]
    month: str
    input_tokens: int
    output_tokens: int
    requests: int
    cost_micros: int
    currency: str
    per_model: _containers.RepeatedCompositeFieldContainer[ModelUsage]
    per_user: _containers.RepeatedCompositeFieldContainer[UserUsage]
    daily: _containers.RepeatedCompositeFieldContainer[DailyUsage]
    def __init__(self, month: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., requests: _Optional[int] = ..., cost_micros: _Optional[int] = ..., currency: _Optional[str] = ..., per_model: _Optional[_Iterable[_Union[ModelUsage, _Mapping]]] = ..., per_user: _Optional[_Iterable[_Union[UserUsage, _Mapping]]] = ..., daily: _Optional[_Iterable[_Union[DailyUsage, _Mapping]]] = ...) -> None: ...

class ListUsageRequest(_message.Message):
    __slots__ = ("workspace_id", "page", "user_id", "model_id", "start_time", "end_time")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    page: _common_pb2.PageRequest
    user_id: str
    model_id: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, workspace_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., user_id: _Optional[str] = ..., model_id: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListUsageResponse(_message.Message):
    __slots__ = ("records", "page_info")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_INFO_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[UsageRecord]
    page_info: _common_pb2.PageInfo
    def __init__(self, records: _Optional[_Iterable[_Union[UsageRecord, _Mapping]]] = ..., page_info: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class SetPlanRequest(_message.Message):
    __slots__ = ("workspace_id", "plan")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    plan: _common_pb2.Plan
    def __init__(self, workspace_id: _Optional[str] = ..., plan: _Optional[_Union[_common_pb2.Plan, str]] = ...) -> None: ...

class SetPlanResponse(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: Quota
    def __init__(self, quota: _Optional[_Union[Quota, _Mapping]] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("workspace_id", "monthly_budget_micros", "currency", "enforcement", "spent_micros", "warning")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    ENFORCEMENT_FIELD_NUMBER: _ClassVar[int]
    SPENT_MICROS_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    monthly_budget_micros: int
    currency: str
    enforcement: BudgetEnforcement
    spent_micros: int
    warning: bool
    def __init__(self, workspace_id: _Optional[str] = ..., monthly_budget_micros: _Optional[int] = ..., currency: _Optional[str] = ..., enforcement: _Optional[_Union[BudgetEnforcement, str]] = ..., spent_micros: _Optional[int] = ..., warning: _Optional[bool] = ...) -> None: ...

class GetBudgetRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class GetBudgetResponse(_message.Message):
    __slots__ = ("budget",)
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: Budget
    def __init__(self, budget: _Optional[_Union[Budget, _Mapping]] = ...) -> None: ...

class SetBudgetRequest(_message.Message):
    __slots__ = ("workspace_id", "monthly_budget_micros", "currency", "enforcement")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_BUDGET_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    ENFORCEMENT_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    monthly_budget_micros: int
    currency: str
    enforcement: BudgetEnforcement
    def __init__(self, workspace_id: _Optional[str] = ..., monthly_budget_micros: _Optional[int] = ..., currency: _Optional[str] = ..., enforcement: _Optional[_Union[BudgetEnforcement, str]] = ...) -> None: ...

class SetBudgetResponse(_message.Message):
    __slots__ = ("budget",)
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    budget: Budget
    def __init__(self, budget: _Optional[_Union[Budget, _Mapping]] = ...) -> None: ...

class CreateCheckoutSessionRequest(_message.Message):
    __slots__ = ("workspace_id", "plan", "success_url", "cancel_url")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_URL_FIELD_NUMBER: _ClassVar[int]
    CANCEL_URL_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    plan: _common_pb2.Plan
    success_url: str
    cancel_url: str
    def __init__(self, workspace_id: _Optional[str] = ..., plan: _Optional[_Union[_common_pb2.Plan, str]] = ..., success_url: _Optional[str] = ..., cancel_url: _Optional[str] = ...) -> None: ...

class CreateCheckoutSessionResponse(_message.Message):
    __slots__ = ("url", "session_id")
    URL_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    url: str
    session_id: str
    def __init__(self, url: _Optional[str] = ..., session_id: _Optional[str] = ...) -> None: ...

class CreatePortalSessionRequest(_message.Message):
    __slots__ = ("workspace_id", "return_url")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    RETURN_URL_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    return_url: str
    def __init__(self, workspace_id: _Optional[str] = ..., return_url: _Optional[str] = ...) -> None: ...

class CreatePortalSessionResponse(_message.Message):
    __slots__ = ("url",)
    URL_FIELD_NUMBER: _ClassVar[int]
    url: str
    def __init__(self, url: _Optional[str] = ...) -> None: ...

class ApplyStripeEventRequest(_message.Message):
    __slots__ = ("payload", "signature_header")
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_HEADER_FIELD_NUMBER: _ClassVar[int]
    payload: bytes
    signature_header: str
    def __init__(self, payload: _Optional[bytes] = ..., signature_header: _Optional[str] = ...) -> None: ...

class ApplyStripeEventResponse(_message.Message):
    __slots__ = ("accepted", "duplicate", "event_id", "event_type")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    accepted: bool
    duplicate: bool
    event_id: str
    event_type: str
    def __init__(self, accepted: _Optional[bool] = ..., duplicate: _Optional[bool] = ..., event_id: _Optional[str] = ..., event_type: _Optional[str] = ...) -> None: ...

class Invoice(_message.Message):
    __slots__ = ("id", "workspace_id", "month", "total_micros", "currency", "status", "stripe_invoice_id", "hosted_url", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STRIPE_INVOICE_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTED_URL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    workspace_id: str
    month: str
    total_micros: int
    currency: str
    status: InvoiceStatus
    stripe_invoice_id: str
    hosted_url: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., month: _Optional[str] = ..., total_micros: _Optional[int] = ..., currency: _Optional[str] = ..., status: _Optional[_Union[InvoiceStatus, str]] = ..., stripe_invoice_id: _Optional[str] = ..., hosted_url: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListInvoicesRequest(_message.Message):
    __slots__ = ("workspace_id", "page")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    page: _common_pb2.PageRequest
    def __init__(self, workspace_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListInvoicesResponse(_message.Message):
    __slots__ = ("invoices", "page_info")
    INVOICES_FIELD_NUMBER: _ClassVar[int]
    PAGE_INFO_FIELD_NUMBER: _ClassVar[int]
    invoices: _containers.RepeatedCompositeFieldContainer[Invoice]
    page_info: _common_pb2.PageInfo
    def __init__(self, invoices: _Optional[_Iterable[_Union[Invoice, _Mapping]]] = ..., page_info: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...
