"""GraphQL types of the model catalog, eligibility, workspace model settings, installs and provider
connections, each built from its `geko.model.v1` message.

Money is integer micro-units of the model's currency, as the `Micros` scalar: a JSON number whenever it is
exactly representable in a JavaScript number (|value| ≤ 2^53 - 1, i.e. up to about 9 billion units), else a
string of digits; it accepts both forms as input. Never a float. Byte counts (`ByteCount`) follow the same
rule, since a model's size passes GraphQL's 32-bit `Int`.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import NewType

import strawberry
from strawberry.types import Info
from strawberry.types.scalar import ScalarDefinition

from geko.common.v1 import common_pb2
from geko.model.v1 import model_pb2
from graphql_gateway.common import Plan, plan_from_proto, to_datetime
from graphql_gateway.connections import Connection, paging_arguments, window
from graphql_gateway.context import context_of
from services.runtime.errors import BadInput
from services.runtime.messages import timestamp

# Largest integer a JavaScript number (IEEE double) holds exactly.
MAX_SAFE_INTEGER = 2**53 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def serialize_int64(value: int) -> int | str:
    """A JSON number when a JavaScript client reads it exactly, else a string of digits."""
    return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)


def parse_int64(value: object) -> int:
    """An int64 from a JSON number or a string of digits; anything else (floats included) is refused."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadInput("expected an integer (a JSON number or a string of digits)")
    try:
        number = int(value)
    except ValueError:
        raise BadInput("expected an integer (a JSON number or a string of digits)") from None
    if not INT64_MIN <= number <= INT64_MAX:
        raise BadInput("integer out of the 64-bit range")
    return number


Micros = NewType("Micros", int)
ByteCount = NewType("ByteCount", int)

# Given to the schema's StrawberryConfig(scalar_map=…).
SCALARS: dict[object, ScalarDefinition] = {
    Micros: strawberry.scalar(
        name="Micros",
        description=(
            "An amount of money in integer micro-units (1/1,000,000) of its currency. Serialised as a JSON "
            "number when |value| <= 2^53 - 1, else as a string of digits; input takes either. Never a float."
        ),
        serialize=serialize_int64,
        parse_value=parse_int64,
    ),
    ByteCount: strawberry.scalar(
        name="ByteCount",
        description="A number of bytes; a JSON number when |value| <= 2^53 - 1, else a string of digits.",
        serialize=serialize_int64,
        parse_value=parse_int64,
    ),
}


def _enum_name(enum_type: type[Enum], proto_name: str, prefix: str) -> Enum | None:
    """The GraphQL enum member of a proto enum value's name; None for UNSPECIFIED."""
    name = proto_name.removeprefix(prefix)
    return None if name == "UNSPECIFIED" else enum_type[name]


@strawberry.enum(description="What a model produces.")
class ModelType(Enum):
    CHAT = "CHAT"
    EMBEDDING = "EMBEDDING"
    IMAGE = "IMAGE"


@strawberry.enum(description="The wire protocol of a provider connection.")
class ProviderKind(Enum):
    OPENAI = strawberry.enum_value(
        "OPENAI", description="Any OpenAI-compatible server: OpenAI, DeepSeek, vLLM, llama.cpp, LM Studio…"
    )
    ANTHROPIC = "ANTHROPIC"
    OLLAMA = "OLLAMA"


@strawberry.enum(description="Why a model is not usable in a workspace by the caller.")
class EligibilityReason(Enum):
    PLAN_REQUIRED = strawberry.enum_value(
        "PLAN_REQUIRED", description="The workspace's plan is below the model's; see `requiredPlan`."
    )
    DISABLED_BY_ADMIN = strawberry.enum_value(
        "DISABLED_BY_ADMIN", description="Not enabled in the workspace's model settings."
    )
    NOT_INSTALLED = strawberry.enum_value("NOT_INSTALLED", description="A local model not in Ollama.")
    PERMISSION_REQUIRED = strawberry.enum_value(
        "PERMISSION_REQUIRED",
        description="The caller lacks model:use:local, model:use:free or model:use:premium.",
    )
    PROVIDER_UNAVAILABLE = strawberry.enum_value(
        "PROVIDER_UNAVAILABLE", description="The model's provider has no connection or API key configured."
    )


@strawberry.enum(description="The stages of a local model install.")
class InstallStatus(Enum):
    QUEUED = "QUEUED"
    DOWNLOADING = "DOWNLOADING"
    VERIFYING = "VERIFYING"
    READY = "READY"
    ERROR = "ERROR"


def kind_to_proto(kind: ProviderKind) -> int:
    return model_pb2.ProviderKind.Value(f"PROVIDER_KIND_{kind.value}")


def model_type_to_proto(model_type: ModelType) -> int:
    return model_pb2.ModelType.Value(f"MODEL_TYPE_{model_type.value}")


def plan_to_proto(plan: Plan) -> int:
    return common_pb2.Plan.Value(f"PLAN_{plan.value}")


@strawberry.type(description="One version of a model's price; usage from `effectiveAt` on is costed at it.")
class ModelPrice:
    input_price_per_1k_micros: Micros
    output_price_per_1k_micros: Micros
    currency: str
    effective_at: datetime
    created_at: datetime

    @classmethod
    def from_proto(cls, price: model_pb2.ModelPrice) -> ModelPrice:
        return cls(
            input_price_per_1k_micros=Micros(price.input_price_per_1k_tokens_micros),
            output_price_per_1k_micros=Micros(price.output_price_per_1k_tokens_micros),
            currency=price.currency,
            effective_at=to_datetime(price.effective_time),
            created_at=to_datetime(price.create_time),
        )


@strawberry.type(description="A model of the catalog: the platform's, or one the tenant added.")
class Model:
    id: strawberry.ID
    provider: str = strawberry.field(
        description='Vendor shown to users ("openai", "anthropic", "deepseek", "ollama") or a connection '
        "name."
    )
    name: str = strawberry.field(description='What the provider calls it, e.g. "gpt-4o-mini".')
    display_name: str
    type: ModelType | None
    is_local: bool = strawberry.field(description="Served by the local Ollama: free, usable once installed.")
    is_free: bool
    min_plan: Plan = strawberry.field(description="The lowest plan whose workspaces may use it.")
    max_free_tokens_per_month: int | None = strawberry.field(
        description="A workspace's monthly token allowance on this free-tier model; null when uncapped."
    )
    context_window: int
    max_output_tokens: int
    input_price_per_1k_micros: Micros = strawberry.field(
        description="Price in force per 1,000 input tokens, in micro-units of `currency`."
    )
    output_price_per_1k_micros: Micros = strawberry.field(
        description="Price in force per 1,000 output tokens, in micro-units of `currency`."
    )
    currency: str = strawberry.field(description="ISO 4217, upper case.")
    is_custom: bool = strawberry.field(description="Added by the tenant (not part of the platform catalog).")
    connection_id: strawberry.ID | None = strawberry.field(
        description="The tenant connection serving a custom model; null means the platform's default."
    )
    installed: bool = strawberry.field(description="For local models: present in Ollama now.")
    created_at: datetime
    updated_at: datetime

    @strawberry.field(
        description="The price history, newest first; past usage keeps the price it was costed at."
    )
    async def prices(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ModelPrice]:
        ctx = context_of(info)
        seen = window(first, after)
        request = model_pb2.ListModelPricesRequest(model_id=self.id, page=seen.page_request())
        with paging_arguments():
            response = await ctx.model.ListModelPrices(request, metadata=ctx.metadata())
        prices = [ModelPrice.from_proto(price) for price in response.prices]
        return Connection.from_page(prices, response.page_info, seen)

    @classmethod
    def from_proto(cls, model: model_pb2.Model) -> Model:
        return cls(
            id=strawberry.ID(model.id),
            provider=model.provider,
            name=model.name,
            display_name=model.display_name,
            type=_enum_name(ModelType, model_pb2.ModelType.Name(model.type), "MODEL_TYPE_"),  # type: ignore[arg-type]
            is_local=model.is_local,
            is_free=model.is_free,
            min_plan=plan_from_proto(model.min_plan),
            max_free_tokens_per_month=model.max_free_tokens_per_month or None,
            context_window=model.context_window,
            max_output_tokens=model.max_output_tokens,
            input_price_per_1k_micros=Micros(model.input_price_per_1k_tokens_micros),
            output_price_per_1k_micros=Micros(model.output_price_per_1k_tokens_micros),
            currency=model.currency,
            is_custom=bool(model.tenant_id),
            connection_id=strawberry.ID(model.connection_id) if model.connection_id else None,
            installed=model.installed,
            created_at=to_datetime(model.create_time),
            updated_at=to_datetime(model.update_time),
        )


@strawberry.type(description="A model as one workspace and the caller see it: usable, or why not.")
class EligibleModel:
    model: Model
    usable: bool
    reason: EligibilityReason | None = strawberry.field(description="Null when usable.")
    required_plan: Plan | None = strawberry.field(description="For PLAN_REQUIRED: the plan that lifts it.")

    @classmethod
    def from_proto(cls, eligible: model_pb2.EligibleModel) -> EligibleModel:
        reason = _enum_name(
            EligibilityReason, model_pb2.EligibilityReason.Name(eligible.reason), "ELIGIBILITY_REASON_"
        )
        required = eligible.required_plan
        return cls(
            model=Model.from_proto(eligible.model),
            usable=eligible.usable,
            reason=reason,  # type: ignore[arg-type]
            required_plan=None if required == common_pb2.PLAN_UNSPECIFIED else plan_from_proto(required),
        )


@strawberry.type(description="One model's settings in a workspace.")
class WorkspaceModel:
    model: Model
    enabled: bool
    cost_override_micros: Micros | None = strawberry.field(
        description="Replaces the catalog's input and output price per 1,000 tokens in this workspace."
    )
    max_tokens_override: int | None = strawberry.field(
        description="Caps output tokens per turn below the model's own limit."
    )

    @classmethod
    def from_proto(cls, setting: model_pb2.WorkspaceModel, model: Model) -> WorkspaceModel:
        return cls(
            model=model,
            enabled=setting.enabled,
            cost_override_micros=(
                Micros(setting.cost_override_micros) if setting.HasField("cost_override_micros") else None
            ),
            max_tokens_override=(
                setting.max_tokens_override if setting.HasField("max_tokens_override") else None
            ),
        )


@strawberry.type(description="Where a local model install stands; `percent` never decreases within a job.")
class InstallProgress:
    job_id: strawberry.ID
    status: InstallStatus
    percent: float = strawberry.field(description="0 to 100 (a share of bytes, not money).")
    completed_bytes: ByteCount
    total_bytes: ByteCount
    error: str | None = strawberry.field(description="The reason, for ERROR.")

    @classmethod
    def from_proto(cls, progress: model_pb2.InstallProgress) -> InstallProgress:
        status = _enum_name(InstallStatus, model_pb2.InstallStatus.Name(progress.status), "INSTALL_STATUS_")
        return cls(
            job_id=strawberry.ID(progress.job_id),
            status=status or InstallStatus.QUEUED,  # type: ignore[arg-type]
            percent=progress.percent,
            completed_bytes=ByteCount(progress.completed_bytes),
            total_bytes=ByteCount(progress.total_bytes),
            error=progress.error or None,
        )


@strawberry.type(description="A local model install; follow it with `modelInstallProgress(jobId: id)`.")
class InstallJob:
    id: strawberry.ID
    model_id: strawberry.ID | None = strawberry.field(description="Null when only the progress is known.")
    status: InstallStatus
    progress: InstallProgress

    @classmethod
    def from_progress(
        cls, progress: model_pb2.InstallProgress, model_id: str = "", job_id: str = ""
    ) -> InstallJob:
        shown = InstallProgress.from_proto(progress)
        return cls(
            id=strawberry.ID(job_id) if job_id else shown.job_id,
            model_id=strawberry.ID(model_id) if model_id else None,
            status=shown.status,
            progress=shown,
        )


@strawberry.type(description="A tenant's connection to a provider. Its API key is write-only.")
class ProviderConnection:
    id: strawberry.ID
    kind: ProviderKind
    name: str
    base_url: str
    has_api_key: bool = strawberry.field(description="Whether a key is stored; the key itself never leaves.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_proto(cls, connection: model_pb2.ProviderConnection) -> ProviderConnection:
        kind = _enum_name(ProviderKind, model_pb2.ProviderKind.Name(connection.kind), "PROVIDER_KIND_")
        return cls(
            id=strawberry.ID(connection.id),
            kind=kind,  # type: ignore[arg-type]
            name=connection.name,
            base_url=connection.base_url,
            has_api_key=connection.has_api_key,
            created_at=to_datetime(connection.create_time),
            updated_at=to_datetime(connection.update_time),
        )


@strawberry.input(description="Fields left out do not filter.")
class ModelFilter:
    provider: str | None = None
    type: ModelType | None = None
    is_local: bool | None = None
    is_free: bool | None = None
    query: str | None = strawberry.field(
        default=None, description="Case-insensitive part of the name or display name."
    )

    def to_proto(self) -> model_pb2.ModelFilter:
        result = model_pb2.ModelFilter(provider=self.provider or "", query=self.query or "")
        if self.type is not None:
            result.type = model_type_to_proto(self.type)  # type: ignore[assignment]
        if self.is_local is not None:
            result.is_local = self.is_local
        if self.is_free is not None:
            result.is_free = self.is_free
        return result


@strawberry.input(description="Enables exactly `enabledModels` in the workspace and disables the rest.")
class SetWorkspaceModelsInput:
    workspace_id: strawberry.ID
    enabled_models: list[strawberry.ID] = strawberry.field(description="Model ids.")


@strawberry.input(description="Sets both overrides of one model in a workspace; null or absent removes one.")
class UpdateWorkspaceModelInput:
    workspace_id: strawberry.ID
    model_id: strawberry.ID
    cost_override_micros: Micros | None = None
    max_tokens_override: int | None = None


@strawberry.input
class CreateProviderConnectionInput:
    name: str
    kind: ProviderKind
    base_url: str
    api_key: str | None = strawberry.field(
        default=None, description="Stored encrypted; never returned or logged."
    )


@strawberry.input(description="Only the fields given change; `apiKey: null` or an empty key removes the key.")
class UpdateProviderConnectionInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    base_url: str | None = strawberry.UNSET
    api_key: str | None = strawberry.UNSET


@strawberry.input(description="A model the tenant serves through one of its provider connections.")
class CreateModelInput:
    connection_id: strawberry.ID
    name: str = strawberry.field(description="What the provider calls the model.")
    display_name: str
    context_window: int
    max_output_tokens: int
    type: ModelType = ModelType.CHAT
    min_plan: Plan = Plan.FREE
    is_free: bool = False
    max_free_tokens_per_month: int | None = None
    input_price_per_1k_micros: Micros = Micros(0)
    output_price_per_1k_micros: Micros = Micros(0)
    currency: str = "USD"

    def to_proto(self) -> model_pb2.CreateModelRequest:
        return model_pb2.CreateModelRequest(
            connection_id=str(self.connection_id),
            name=self.name,
            display_name=self.display_name,
            type=model_type_to_proto(self.type),  # type: ignore[arg-type]
            context_window=self.context_window,
            max_output_tokens=self.max_output_tokens,
            min_plan=plan_to_proto(self.min_plan),  # type: ignore[arg-type]
            is_free=self.is_free,
            max_free_tokens_per_month=self.max_free_tokens_per_month or 0,
            input_price_per_1k_tokens_micros=self.input_price_per_1k_micros,
            output_price_per_1k_tokens_micros=self.output_price_per_1k_micros,
            currency=self.currency,
        )


@strawberry.input(
    description="A new price version. More than 100x the previous price is refused unless `force`; a "
    "negative price always."
)
class SetModelPriceInput:
    model_id: strawberry.ID
    input_price_per_1k_micros: Micros
    output_price_per_1k_micros: Micros
    currency: str = "USD"
    effective_at: datetime | None = strawberry.field(
        default=None, description="From when usage is costed at it; now when absent, never in the past."
    )
    force: bool = False

    def to_proto(self) -> model_pb2.SetModelPriceRequest:
        return model_pb2.SetModelPriceRequest(
            model_id=str(self.model_id),
            input_price_per_1k_tokens_micros=self.input_price_per_1k_micros,
            output_price_per_1k_tokens_micros=self.output_price_per_1k_micros,
            currency=self.currency,
            effective_time=timestamp(self.effective_at),
            force=self.force,
        )
