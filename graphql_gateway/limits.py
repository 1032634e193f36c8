"""What keeps a request from costing more than it should: body cap, depth, alias and token limits.

Strawberry's `QueryDepthLimiter` skips fields whose name starts with `__`, so a circular introspection query
(`__schema { types { fields { type { fields … } } } }`) passes it however deep it goes. `depth_rule` counts
every field, introspection included (bar the non-branching `ofType` wrapper chain), and remembers each
fragment's depth so spreads cannot blow up the count.
Mutations over GET are refused by Strawberry itself (GET only runs queries).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)

from graphql_gateway.responses import graphql_error_response
from services.runtime.errors import ErrorCode

# `__Type.ofType` unwraps one list/non-null wrapper: it never fans out, and a type has at most a few wrappers,
# so it adds no depth. GraphiQL's own introspection query nests it seven times.
FREE_FIELDS = frozenset({"ofType"})
# Distinct query texts kept parsed and validated; clients send a small, fixed set of documents.
CACHE_SIZE = 256


class _DepthCounter:
    """Depth of the deepest field path in one document; stops descending once past `limit`."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode], limit: int) -> None:
        self._fragments = fragments
        self._limit = limit
        self._fragment_depths: dict[str, int] = {}

    def selection_set(self, selection_set: SelectionSetNode | None, depth: int) -> int:
        """The deepest level reached below `selection_set`, which sits at `depth`."""
        deepest = depth
        if selection_set is None or depth > self._limit:
            return deepest
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                step = 0 if selection.name.value in FREE_FIELDS else 1
                reached = self.selection_set(selection.selection_set, depth + step)
            elif isinstance(selection, InlineFragmentNode):
                reached = self.selection_set(selection.selection_set, depth)
            elif isinstance(selection, FragmentSpreadNode):
                reached = depth + self._fragment_depth(selection.name.value)
            else:  # pragma: no cover - graphql-core has no other selection kinds
                continue
            deepest = max(deepest, reached)
        return deepest

    def _fragment_depth(self, name: str) -> int:
        """A fragment's own depth, computed once; a cycle (rejected by validation anyway) counts as 0."""
        if name not in self._fragment_depths:
            fragment = self._fragments.get(name)
            self._fragment_depths[name] = 0
            if fragment is not None:
                self._fragment_depths[name] = self.selection_set(fragment.selection_set, 0)
        return self._fragment_depths[name]


def depth_rule(max_depth: int) -> type[ASTValidationRule]:
    """A validation rule refusing operations nested deeper than `max_depth` fields (`{a{b}}` is depth 2)."""

    class DepthLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            definitions = context.document.definitions
            fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
            counter = _DepthCounter(fragments, max_depth)
            for operation in definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                if counter.selection_set(operation.selection_set, 0) > max_depth:
                    name = operation.name.value if operation.name else "anonymous"
                    context.report_error(
                        GraphQLError(f"operation '{name}' is deeper than the limit of {max_depth}", operation)
                    )

    return DepthLimit


def limit_extensions(
    *, max_depth: int, max_aliases: int, max_tokens: int
) -> list[Callable[[], SchemaExtension]]:
    """Extension factories for the schema: limits first, then the parse and validation caches.

    The validation rules are built once, so the validation cache sees the same rules on every request.
    """
    rules = [depth_rule(max_depth), *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules]
    return [
        partial(AddValidationRules, rules),
        partial(MaxTokensLimiter, max_token_count=max_tokens),
        partial(ParserCache, maxsize=CACHE_SIZE),
        partial(ValidationCache, maxsize=CACHE_SIZE),
    ]


class BodyLimitMiddleware:
    """Answers 413 when an HTTP request body is larger than `max_bytes`, before anything parses it.

    A declared Content-Length over the cap is refused at once; otherwise the body is read (counting the
    bytes as they stream in, since Content-Length may be absent or wrong) and handed on only when it fits.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send, declared.isdigit())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, too_large=True)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, too_large: bool) -> None:
        if too_large:
            message = f"request body is larger than {self.max_bytes} bytes"
            response = graphql_error_response(message, ErrorCode.BAD_USER_INPUT, status_code=413)
        else:
            response = graphql_error_response("invalid Content-Length", ErrorCode.BAD_USER_INPUT, 400)
        response.headers["connection"] = "close"
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over the already-read body once, then waits on the real channel."""
    messages: Iterator[Message] = iter([{"type": "http.request", "body": body, "more_body": False}])

    async def replayed() -> Message:
        message = next(messages, None)
        return message if message is not None else await receive()

    return replayed
