"""The one place GraphQL errors get their public shape (DESIGN.md §5).

A `GekoError` (raised by the gateway or rebuilt from a service's `geko-error-bin` trailer) becomes a GraphQL
error with `extensions.code` and, where set, `reason`, `field`, `retryAfter` and `upgradeUrl`. Parse,
validation and variable errors are the client's: BAD_USER_INPUT with graphql-core's message. Anything else is
a bug or an outage whose text may hold internals, so it becomes "internal error" / INTERNAL, logged here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import StreamExecutionResult

from graphql_gateway.context import GatewayContext
from services.runtime.errors import ErrorCode, GekoError

INTERNAL_MESSAGE = "internal error"

# Strawberry raises these for requests that name no runnable operation; the fault is the client's.
_EXPECTED_ORIGINS = (GekoError, MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)

logger = logging.getLogger(__name__)


def error_extensions(error: GekoError) -> dict[str, Any]:
    """`extensions` of a GekoError: code, and reason / field / retryAfter / upgradeUrl when they apply."""
    extensions: dict[str, Any] = {"code": error.code.value}
    if error.reason:
        extensions["reason"] = error.reason
    if error.field:
        extensions["field"] = error.field
    if error.retry_after_seconds:
        extensions["retryAfter"] = error.retry_after_seconds
    if error.upgrade_url:
        extensions["upgradeUrl"] = error.upgrade_url
    return extensions


def is_expected(error: GraphQLError) -> bool:
    """Whether an error is one the client caused or should see as is (no log, no masking)."""
    original = error.original_error
    if isinstance(original, _EXPECTED_ORIGINS):
        return True
    if error.path is not None:
        return False  # raised while resolving a field: a bug or an outage unless it is a GekoError
    # Parse, validation and variable errors: graphql-core's own, possibly wrapping another of its own.
    return original is None or isinstance(original, GraphQLError)


def shape_error(error: GraphQLError) -> GraphQLError:
    """The public form of one error: the same location and path, a safe message and an `extensions.code`."""
    original = error.original_error
    if isinstance(original, GekoError):
        message, extensions = original.message, error_extensions(original)
    elif is_expected(error):
        message, extensions = error.message, {"code": ErrorCode.BAD_USER_INPUT.value}
    else:
        message, extensions = INTERNAL_MESSAGE, {"code": ErrorCode.INTERNAL.value}
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


def log_unexpected(errors: list[GraphQLError]) -> None:
    """Log, with traceback, the errors `shape_error` masks; expected ones are the client's business."""
    for error in errors:
        if not is_expected(error):
            cause = error.original_error or error
            logger.error("graphql internal error at %s", error.path, exc_info=cause)


class ShapeErrors(MaskErrors):
    """Applies `shape_error` to every error of every result (queries, mutations and subscription events).

    Over HTTP it also sets `Retry-After` for RATE_LIMITED and `X-Upgrade-Url` for denials an upgrade lifts.
    """

    def __init__(self) -> None:
        super().__init__(error_message=INTERNAL_MESSAGE)

    def _process_result(self, result: object) -> None:
        # MaskErrors asks `isinstance(result, <runtime Protocol>)` first, ~10 µs for every streamed chat
        # event; whether the result has errors is the same question, asked directly.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        # Each streamed result (a chat event) passes here. MaskErrors also walks `incremental` and
        # `completed`, which only @defer/@stream results have, and this schema does not enable them.
        self._stream_result_processed = True
        self._process_result(result)
        yield

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        shaped = shape_error(error)
        extensions = shaped.extensions or {}
        context = self.execution_context.context
        headers = context.http_headers() if isinstance(context, GatewayContext) else None
        if headers is not None:
            if extensions.get("retryAfter"):
                headers["Retry-After"] = str(int(extensions["retryAfter"]))
            if extensions.get("upgradeUrl"):
                headers["X-Upgrade-Url"] = str(extensions["upgradeUrl"])
        return shaped


class ResultExtensions(SchemaExtension):
    """Adds what resolvers put in `GatewayContext.result_extensions` (e.g. `quota` after a chat turn) to the
    response's `extensions`."""

    def get_results(self) -> dict[str, Any]:
        # Not copied: Strawberry merges what this returns into the result's own dict (once per streamed
        # event), so the context's dict is never handed out.
        context = self.execution_context.context
        return context.result_extensions if isinstance(context, GatewayContext) else {}
