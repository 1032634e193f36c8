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

class ModelType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_TYPE_UNSPECIFIED: _ClassVar[ModelType]
    MODEL_TYPE_CHAT: _ClassVar[ModelType]
    MODEL_TYPE_EMBEDDING: _ClassVar[ModelType]
    MODEL_TYPE_IMAGE: _ClassVar[ModelType]

class ProviderKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROVIDER_KIND_UNSPECIFIED: _ClassVar[ProviderKind]
    PROVIDER_KIND_OPENAI: _ClassVar[ProviderKind]
    PROVIDER_KIND_ANTHROPIC: _ClassVar[ProviderKind]
    PROVIDER_KIND_OLLAMA: _ClassVar[ProviderKind]

class EligibilityReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ELIGIBILITY_REASON_UNSPECIFIED: _ClassVar[EligibilityReason]
    ELIGIBILITY_REASON_PLAN_REQUIRED: _ClassVar[EligibilityReason]
    ELIGIBILITY_REASON_DISABLED_BY_ADMIN: _ClassVar[EligibilityReason]
    ELIGIBILITY_REASON_NOT_INSTALLED: _ClassVar[EligibilityReason]
    ELIGIBILITY_REASON_PERMISSION_REQUIRED: _ClassVar[EligibilityReason]
    ELIGIBILITY_REASON_PROVIDER_UNAVAILABLE: _ClassVar[EligibilityReason]

class InstallStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INSTALL_STATUS_UNSPECIFIED: _ClassVar[InstallStatus]
    INSTALL_STATUS_QUEUED: _ClassVar[InstallStatus]
    INSTALL_STATUS_DOWNLOADING: _ClassVar[InstallStatus]
    INSTALL_STATUS_VERIFYING: _ClassVar[InstallStatus]
    INSTALL_STATUS_READY: _ClassVar[InstallStatus]
    INSTALL_STATUS_ERROR: _ClassVar[InstallStatus]
MODEL_TYPE_UNSPECIFIED: ModelType
MODEL_TYPE_CHAT: ModelType
MODEL_TYPE_EMBEDDING: ModelType
MODEL_TYPE_IMAGE: ModelType
PROVIDER_KIND_UNSPECIFIED: ProviderKind
PROVIDER_KIND_OPENAI: ProviderKind
PROVIDER_KIND_ANTHROPIC: ProviderKind
PROVIDER_KIND_OLLAMA: ProviderKind
ELIGIBILITY_REASON_UNSPECIFIED: EligibilityReason
ELIGIBILITY_REASON_PLAN_REQUIRED: EligibilityReason
ELIGIBILITY_REASON_DISABLED_BY_ADMIN: EligibilityReason
ELIGIBILITY_REASON_NOT_INSTALLED: EligibilityReason
ELIGIBILITY_REASON_PERMISSION_REQUIRED: EligibilityReason
ELIGIBILITY_REASON_PROVIDER_UNAVAILABLE: EligibilityReason
INSTALL_STATUS_UNSPECIFIED: InstallStatus
INSTALL_STATUS_QUEUED: InstallStatus
INSTALL_STATUS_DOWNLOADING: InstallStatus
INSTALL_STATUS_VERIFYING: InstallStatus
INSTALL_STATUS_READY: InstallStatus
INSTALL_STATUS_ERROR: InstallStatus

class Model(_message.Message):
    __slots__ = ("id", "provider", "name", "display_name", "type", "is_local", "is_free", "min_plan", "max_free_tokens_per_month", "context_window", "max_output_tokens", "input_price_per_1k_tokens_micros", "output_price_per_1k_tokens_micros", "currency", "tenant_id", "connection_id", "installed", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    IS_LOCAL_FIELD_NUMBER: _ClassVar[int]
    IS_FREE_FIELD_NUMBER: _ClassVar[int]
    MIN_PLAN_FIELD_NUMBER: _ClassVar[int]
    MAX_FREE_TOKENS_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    INPUT_PRICE_PER_1K_TOKENS_MICROS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PRICE_PER_1K_TOKENS_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    INSTALLED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    provider: str
    name: str
    display_name: str
    type: ModelType
    is_local: bool
    is_free: bool
    min_plan: _common_pb2.Plan
    max_free_tokens_per_month: int
    context_window: int
    max_output_tokens: int
    input_price_per_1k_tokens_micros: int
    output_price_per_1k_tokens_micros: int
    currency: str
    tenant_id: str
    connection_id: str
    installed: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., provider: _Optional[str] = ..., name: _Optional[str] = ..., display_name: _Optional[str] = ..., type: _Optional[_Union[ModelType, str]] = ..., is_local: _Optional[bool] = ..., is_free: _Optional[bool] = ..., min_plan: _Optional[_Union[_common_pb2.Plan, str]] = ..., max_free_tokens_per_month: _Optional[int] = ..., context_window: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., input_price_per_1k_tokens_micros: _Optional[int] = ..., output_price_per_1k_tokens_micros: _Optional[int] = ..., currency: _Optional[str] = ..., tenant_id: _Optional[str] = ..., connection_id: _Optional[str] = ..., installed: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ModelPrice(_message.Message):
    __slots__ = ("model_id", "input_price_per_1k_tokens_micros", "output_price_per_1k_tokens_micros", "currency", "effective_time", "create_time")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_PRICE_PER_1K_TOKENS_MICROS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PRICE_PER_1K_TOKENS_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    input_price_per_1k_tokens_micros: int
    output_price_per_1k_tokens_micros: int
    currency: str
    effective_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, model_id: _Optional[str] = ..., input_price_per_1k_tokens_micros: _Optional[int] = ..., output_price_per_1k_tokens_micros: _Optional[int] = ..., currency: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("filter", "page")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    filter: ModelFilter
    page: _common_pb2.PageRequest
    def __init__(self, filter: _Optional[_Union[ModelFilter, _Mapping]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ModelFilter(_message.Message):
    __slots__ = ("provider", "type", "is_local", "is_free", "query")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    IS_LOCAL_FIELD_NUMBER: _ClassVar[int]
    IS_FREE_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    provider: str
    type: ModelType
    is_local: bool
    is_free: bool
    query: str
    def __init__(self, provider: _Optional[str] = ..., type: _Optional[_Union[ModelType, str]] = ..., is_local: _Optional[bool] = ..., is_free: _Optional[bool] = ..., query: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "page_info")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    PAGE_INFO_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[Model]
    page_info: _common_pb2.PageInfo
    def __init__(self, models: _Optional[_Iterable[_Union[Model, _Mapping]]] = ..., page_info: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class CreateModelRequest(_message.Message):
    __slots__ = ("connection_id", "name", "display_name", "type", "context_window", "max_output_tokens", "min_plan", "is_free", "max_free_tokens_per_month", "input_price_per_1k_tokens_micros", "output_price_per_1k_tokens_micros", "currency")
    CONNECTION_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MIN_PLAN_FIELD_NUMBER: _ClassVar[int]
    IS_FREE_FIELD_NUMBER: _ClassVar[int]
    MAX_FREE_TOKENS_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    INPUT_PRICE_PER_1K_TOKENS_MICROS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PRICE_PER_1K_TOKENS_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    connection_id: str
    name: str
    display_name: str
    type: ModelType
    context_window: int
    max_output_tokens: int
    min_plan: _common_pb2.Plan
    is_free: bool
    max_free_tokens_per_month: int
    input_price_per_1k_tokens_micros: int
    output_price_per_1k_tokens_micros: int
    currency: str
    def __init__(self, connection_id: _Optional[str] = ..., name: _Optional[str] = ..., display_name: _Optional[str] = ..., type: _Optional[_Union[ModelType, str]] = ..., context_window: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., min_plan: _Optional[_Union[_common_pb2.Plan, str]] = ..., is_free: _Optional[bool] = ..., max_free_tokens_per_month: _Optional[int] = ..., input_price_per_1k_tokens_micros: _Optional[int] = ..., output_price_per_1k_tokens_micros: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class CreateModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class UpdateModelRequest(_message.Message):
    __slots__ = ("id", "display_name", "context_window", "max_output_tokens", "min_plan", "is_free", "max_free_tokens_per_month")
    ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_WINDOW_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MIN_PLAN_FIELD_NUMBER: _ClassVar[int]
    IS_FREE_FIELD_NUMBER: _ClassVar[int]
    MAX_FREE_TOKENS_PER_MONTH_FIELD_NUMBER: _ClassVar[int]
    id: str
    display_name: str
    context_window: int
    max_output_tokens: int
    min_plan: _common_pb2.Plan
    is_free: bool
    max_free_tokens_per_month: int
    def __init__(self, id: _Optional[str] = ..., display_name: _Optional[str] = ..., context_window: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., min_plan: _Optional[_Union[_common_pb2.Plan, str]] = ..., is_free: _Optional[bool] = ..., max_free_tokens_per_month: _Optional[int] = ...) -> None: ...

class UpdateModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class SetModelPriceRequest(_message.Message):
    __slots__ = ("model_id", "input_price_per_1k_tokens_micros", "output_price_per_1k_tokens_micros", "currency", "effective_time", "force")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_PRICE_PER_1K_TOKENS_MICROS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PRICE_PER_1K_TOKENS_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TIME_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    input_price_per_1k_tokens_micros: int
    output_price_per_1k_tokens_micros: int
    currency: str
    effective_time: _timestamp_pb2.Timestamp
    force: bool
    def __init__(self, model_id: _Optional[str] = ..., input_price_per_1k_tokens_micros: _Optional[int] = ..., output_price_per_1k_tokens_micros: _Optional[int] = ..., currency: _Optional[str] = ..., effective_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., force: _Optional[bool] = ...) -> None: ...

class SetModelPriceResponse(_message.Message):
    __slots__ = ("price",)
    PRICE_FIELD_NUMBER: _ClassVar[int]
    price: ModelPrice
    def __init__(self, price: _Optional[_Union[ModelPrice, _Mapping]] = ...) -> None: ...

class ListModelPricesRequest(_message.Message):
    __slots__ = ("model_id", "page")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    page: _common_pb2.PageRequest
    def __init__(self, model_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListModelPricesResponse(_message.Message):
    __slots__ = ("prices", "page_info")
    PRICES_FIELD_NUMBER: _ClassVar[int]
    PAGE_INFO_FIELD_NUMBER: _ClassVar[int]
    prices: _containers.RepeatedCompositeFieldContainer[ModelPrice]
    page_info: _common_pb2.PageInfo
    def __init__(self, prices: _Optional[_Iterable[_Union[ModelPrice, _Mapping]]] = ..., page_info: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class GetEffectivePriceRequest(_message.Message):
    __slots__ = ("model_id", "workspace_id", "time")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    workspace_id: str
    time: _timestamp_pb2.Timestamp
    def __init__(self, model_id: _Optional[str] = ..., workspace_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetEffectivePriceResponse(_message.Message):
    __slots__ = ("input_price_per_1k_tokens_micros", "output_price_per_1k_tokens_micros", "currency", "overridden")
    INPUT_PRICE_PER_1K_TOKENS_MICROS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_PRICE_PER_1K_TOKENS_MICROS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    OVERRIDDEN_FIELD_NUMBER: _ClassVar[int]
    input_price_per_1k_tokens_micros: int
    output_price_per_1k_tokens_micros: int
    currency: str
    overridden: bool
    def __init__(self, input_price_per_1k_tokens_micros: _Optional[int] = ..., output_price_per_1k_tokens_micros: _Optional[int] = ..., currency: _Optional[str] = ..., overridden: _Optional[bool] = ...) -> None: ...

class EligibleModel(_message.Message):
    __slots__ = ("model", "usable", "reason", "required_plan")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    USABLE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_PLAN_FIELD_NUMBER: _ClassVar[int]
    model: Model
    usable: bool
    reason: EligibilityReason
    required_plan: _common_pb2.Plan
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ..., usable: _Optional[bool] = ..., reason: _Optional[_Union[EligibilityReason, str]] = ..., required_plan: _Optional[_Union[_common_pb2.Plan, str]] = ...) -> None: ...

class ListEligibleModelsRequest(_message.Message):
    __slots__ = ("workspace_id", "user_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    user_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class ListEligibleModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[EligibleModel]
    def __init__(self, models: _Optional[_Iterable[_Union[EligibleModel, _Mapping]]] = ...) -> None: ...

class ProviderRoute(_message.Message):
    __slots__ = ("kind", "base_url", "sealed_api_key")
    KIND_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    SEALED_API_KEY_FIELD_NUMBER: _ClassVar[int]
    kind: ProviderKind
    base_url: str
    sealed_api_key: bytes
    def __init__(self, kind: _Optional[_Union[ProviderKind, str]] = ..., base_url: _Optional[str] = ..., sealed_api_key: _Optional[bytes] = ...) -> None: ...

class ResolveModelRequest(_message.Message):
    __slots__ = ("workspace_id", "user_id", "model_id")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    user_id: str
    model_id: str
    def __init__(self, workspace_id: _Optional[str] = ..., user_id: _Optional[str] = ..., model_id: _Optional[str] = ...) -> None: ...

class ResolveModelResponse(_message.Message):
    __slots__ = ("eligibility", "route", "max_output_tokens")
    ELIGIBILITY_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    eligibility: EligibleModel
    route: ProviderRoute
    max_output_tokens: int
    def __init__(self, eligibility: _Optional[_Union[EligibleModel, _Mapping]] = ..., route: _Optional[_Union[ProviderRoute, _Mapping]] = ..., max_output_tokens: _Optional[int] = ...) -> None: ...

class WorkspaceModel(_message.Message):
    __slots__ = ("workspace_id", "model_id", "enabled", "cost_override_micros", "max_tokens_override")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    COST_OVERRIDE_MICROS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    model_id: str
    enabled: bool
    cost_override_micros: int
    max_tokens_override: int
    def __init__(self, workspace_id: _Optional[str] = ..., model_id: _Optional[str] = ..., enabled: _Optional[bool] = ..., cost_override_micros: _Optional[int] = ..., max_tokens_override: _Optional[int] = ...) -> None: ...

class GetWorkspaceModelsRequest(_message.Message):
    __slots__ = ("workspace_id",)
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    def __init__(self, workspace_id: _Optional[str] = ...) -> None: ...

class GetWorkspaceModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[WorkspaceModel]
    def __init__(self, models: _Optional[_Iterable[_Union[WorkspaceModel, _Mapping]]] = ...) -> None: ...

class SetWorkspaceModelsRequest(_message.Message):
    __slots__ = ("workspace_id", "enabled_model_ids")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    ENABLED_MODEL_IDS_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    enabled_model_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workspace_id: _Optional[str] = ..., enabled_model_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class SetWorkspaceModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[WorkspaceModel]
    def __init__(self, models: _Optional[_Iterable[_Union[WorkspaceModel, _Mapping]]] = ...) -> None: ...

class UpdateWorkspaceModelRequest(_message.Message):
    __slots__ = ("workspace_id", "model_id", "cost_override_micros", "max_tokens_override")
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    COST_OVERRIDE_MICROS_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_OVERRIDE_FIELD_NUMBER: _ClassVar[int]
    workspace_id: str
    model_id: str
    cost_override_micros: int
    max_tokens_override: int
    def __init__(self, workspace_id: _Optional[str] = ..., model_id: _Optional[str] = ..., cost_override_micros: _Optional[int] = ..., max_tokens_override: _Optional[int] = ...) -> None: ...

class UpdateWorkspaceModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: WorkspaceModel
    def __init__(self, model: _Optional[_Union[WorkspaceModel, _Mapping]] = ...) -> None: ...

class InstallProgress(_message.Message):
    __slots__ = ("job_id", "status", "completed_bytes", "total_bytes", "percent", "error")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BYTES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    status: InstallStatus
    completed_bytes: int
    total_bytes: int
    percent: float
    error: str
    def __init__(self, job_id: _Optional[str] = ..., status: _Optional[_Union[InstallStatus, str]] = ..., completed_bytes: _Optional[int] = ..., total_bytes: _Optional[int] = ..., percent: _Optional[float] = ..., error: _Optional[str] = ...) -> None: ...

class InstallJob(_message.Message):
    __slots__ = ("id", "model_id", "tenant_id", "created_by", "progress", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    model_id: str
    tenant_id: str
    created_by: str
    progress: InstallProgress
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., model_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., created_by: _Optional[str] = ..., progress: _Optional[_Union[InstallProgress, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class InstallModelRequest(_message.Message):
    __slots__ = ("model_id", "workspace_id")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    workspace_id: str
    def __init__(self, model_id: _Optional[str] = ..., workspace_id: _Optional[str] = ...) -> None: ...

class InstallModelResponse(_message.Message):
    __slots__ = ("progress",)
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    progress: InstallProgress
    def __init__(self, progress: _Optional[_Union[InstallProgress, _Mapping]] = ...) -> None: ...

class GetInstallJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetInstallJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: InstallJob
    def __init__(self, job: _Optional[_Union[InstallJob, _Mapping]] = ...) -> None: ...

class WatchInstallJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class WatchInstallJobResponse(_message.Message):
    __slots__ = ("progress",)
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    progress: InstallProgress
    def __init__(self, progress: _Optional[_Union[InstallProgress, _Mapping]] = ...) -> None: ...

class RemoveModelRequest(_message.Message):
    __slots__ = ("model_id", "workspace_id")
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_ID_FIELD_NUMBER: _ClassVar[int]
    model_id: str
    workspace_id: str
    def __init__(self, model_id: _Optional[str] = ..., workspace_id: _Optional[str] = ...) -> None: ...

class RemoveModelResponse(_message.Message):
    __slots__ = ("model",)
    MODEL_FIELD_NUMBER: _ClassVar[int]
    model: Model
    def __init__(self, model: _Optional[_Union[Model, _Mapping]] = ...) -> None: ...

class ProviderConnection(_message.Message):
    __slots__ = ("id", "tenant_id", "kind", "name", "base_url", "has_api_key", "create_time", "update_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    HAS_API_KEY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: str
    tenant_id: str
    kind: ProviderKind
    name: str
    base_url: str
    has_api_key: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., kind: _Optional[_Union[ProviderKind, str]] = ..., name: _Optional[str] = ..., base_url: _Optional[str] = ..., has_api_key: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateProviderConnectionRequest(_message.Message):
    __slots__ = ("kind", "name", "base_url", "api_key")
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    kind: ProviderKind
    name: str
    base_url: str
    api_key: str
    def __init__(self, kind: _Optional[_Union[ProviderKind, str]] = ..., name: _Optional[str] = ..., base_url: _Optional[str] = ..., api_key: _Optional[str] = ...) -> None: ...

class CreateProviderConnectionResponse(_message.Message):
    __slots__ = ("connection",)
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    connection: ProviderConnection
    def __init__(self, connection: _Optional[_Union[ProviderConnection, _Mapping]] = ...) -> None: ...

class ListProviderConnectionsRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListProviderConnectionsResponse(_message.Message):
    __slots__ = ("connections", "page_info")
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    PAGE_INFO_FIELD_NUMBER: _ClassVar[int]
    connections: _containers.RepeatedCompositeFieldContainer[ProviderConnection]
    page_info: _common_pb2.PageInfo
    def __init__(self, connections: _Optional[_Iterable[_Union[ProviderConnection, _Mapping]]] = ..., page_info: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class UpdateProviderConnectionRequest(_message.Message):
    __slots__ = ("id", "name", "base_url", "api_key")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    base_url: str
    api_key: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., base_url: _Optional[str] = ..., api_key: _Optional[str] = ...) -> None: ...

class UpdateProviderConnectionResponse(_message.Message):
    __slots__ = ("connection",)
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    connection: ProviderConnection
    def __init__(self, connection: _Optional[_Union[ProviderConnection, _Mapping]] = ...) -> None: ...

class DeleteProviderConnectionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteProviderConnectionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
