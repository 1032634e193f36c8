"""The public GraphQL schema: each domain's roots merged, with limits and error shaping built in."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.execution import Executor
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


class EventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, without the growth of a long subscription: graphql-core runs each event on a
    copy of the subscription's executor that shares its sub-field memo, keyed by lists made anew for every
    event, so each event left ~1.2 KB behind until the subscription ended (a turn streamed token by token:
    ~240 KB). A memo of its own per event hits just as often, since no key is ever shared across events."""

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        return executor


class GekoSchema(strawberry.Schema):
    """Logs only the errors clients see masked as INTERNAL; expected ones (their own mistakes) are not
    worth a stack trace in the logs."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors)


def build_schema(*, max_depth: int = 12, max_aliases: int = 30, max_tokens: int = 2000) -> GekoSchema:
    """The schema with its limits; the defaults match `Settings`, and `create_app` passes the real ones."""
    return GekoSchema(
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
