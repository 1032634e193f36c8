"""The public GraphQL schema: each domain's roots merged, with limits and error shaping built in."""

from __future__ import annotations

from typing import Any, cast

import strawberry
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from graphql.execution import Executor, ExperimentalIncrementalExecutionResults
from graphql.pyutils import AwaitableOrValue
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from graphql_gateway.audit.queries import AuditQueries
from graphql_gateway.auth.mutations import AuthMutations
from graphql_gateway.auth.queries import AuthQueries
from graphql_gateway.auth.subscriptions import AuthSubscriptions
from graphql_gateway.chat.mutations import ChatMutations
from graphql_gateway.chat.subscriptions import ChatSubscriptions
from graphql_gateway.errors import ResultExtensions, ShapeErrors, log_unexpected
from graphql_gateway.event_plan import EventPlan, EventPlans
from graphql_gateway.extensions_runner import ExtensionsRunner
from graphql_gateway.input_conversion import install_input_converters
from graphql_gateway.limits import limit_extensions
from graphql_gateway.memory.mutations import MemoryMutations
from graphql_gateway.memory.queries import MemoryQueries
from graphql_gateway.model.mutations import ModelMutations
from graphql_gateway.model.queries import ModelQueries
from graphql_gateway.model.subscriptions import ModelSubscriptions
from graphql_gateway.model.types import SCALARS
from graphql_gateway.workspace.mutations import WorkspaceMutations
from graphql_gateway.workspace.queries import WorkspaceQueries

Query = merge_types("Query", (AuthQueries, WorkspaceQueries, AuditQueries, ModelQueries, MemoryQueries))
Mutation = merge_types(
    "Mutation", (AuthMutations, WorkspaceMutations, ModelMutations, MemoryMutations, ChatMutations)
)
Subscription = merge_types("Subscription", (AuthSubscriptions, ModelSubscriptions, ChatSubscriptions))


EVENT_PLANS = EventPlans()


class EventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with each subscription event run by a compiled plan (event_plan.py) where the
    document allows one, and by graphql-core otherwise or when the plan cannot complete the event exactly.

    graphql-core runs each event on a copy of the subscription's executor that shares its sub-field memo,
    keyed by lists made anew for every event, so each event left ~1.2 KB behind until the subscription ended
    (a turn streamed token by token: ~240 KB). A memo of its own per event hits just as often, since no key
    is ever shared across events."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._event_plan: EventPlan | None = None
        self._plan_compiled = False

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        if not self._plan_compiled:
            self._event_plan = EVENT_PLANS.plan(self)
            self._plan_compiled = True
        if self._event_plan is None:
            return self.graphql_core_event_executor(payload)
        # graphql-core only calls `execute_operation` on what this returns (execute_subscription_event).
        return cast("Executor[Any]", PlannedEvent(self, self._event_plan, payload))

    def graphql_core_event_executor(self, payload: Any) -> Executor[Any]:
        """graphql-core's executor of one event."""
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


class PlannedEvent:
    """One subscription event, executed by its plan, or by graphql-core when the plan cannot."""

    __slots__ = ("_executor", "_payload", "_plan")

    def __init__(self, executor: EventExecutor, plan: EventPlan, payload: Any) -> None:
        self._executor = executor
        self._plan = plan
        self._payload = payload

    def execute_operation(
        self, serially: bool | None = None
    ) -> AwaitableOrValue[GraphQLExecutionResult | ExperimentalIncrementalExecutionResults]:
        try:
            return GraphQLExecutionResult(self._plan(self._payload), None)
        except Exception:  # Unplanned, or what the plan did not foresee: graphql-core reports it its way
            return self._executor.graphql_core_event_executor(self._payload).execute_operation(serially)


class GekoSchema(strawberry.Schema):
    """Logs only the errors clients see masked as INTERNAL; expected ones (their own mistakes) are not
    worth a stack trace in the logs; and streams results with `ExtensionsRunner`."""

    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return ExtensionsRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors)


def build_schema(*, max_depth: int = 12, max_aliases: int = 30, max_tokens: int = 2000) -> GekoSchema:
    """The schema with its limits; the defaults match `Settings`, and `create_app` passes the real ones.
    Its input types are built by converters compiled here (input_conversion.py)."""
    schema = GekoSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALARS),
        execution_context_class=EventExecutor,
        extensions=[
            *limit_extensions(max_depth=max_depth, max_aliases=max_aliases, max_tokens=max_tokens),
            ShapeErrors,
            ResultExtensions,
        ],
    )
    install_input_converters(schema)
    return schema
