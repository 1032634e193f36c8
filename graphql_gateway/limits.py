"""What keeps a request from costing more than it should: body cap, depth, alias and token limits.

Strawberry's `QueryDepthLimiter` skips fields whose name starts with `__`, so a circular introspection query
(`__schema { types { fields { type { fields … } } } }`) passes it however deep it goes, and its
`MaxAliasesLimiter` takes exponential time on fragments that spread each other twice. `size_rule` does both
jobs in one linear pass: it counts every field, introspection included (bar the non-branching `ofType`
wrapper chain), and measures each fragment once. Tokens are capped by graphql-core's parser.
Mutations over GET are refused by Strawberry itself (GET only runs queries); subscriptions over plain HTTP
by `DocumentChecks`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    parse,
    specified_rules,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from graphql_gateway.responses import graphql_error_response
from services.runtime.errors import ErrorCode

# `__Type.ofType` unwraps one list/non-null wrapper: it never fans out, and a type has at most a few wrappers,
# so it adds no depth. GraphiQL's own introspection query nests it seven times.
FREE_FIELDS = frozenset({"ofType"})
# Distinct query texts kept parsed and validated; clients send a small, fixed set of documents.
CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class Size:
    """How deep a selection goes (`{a{b}}` is 2) and how many aliased fields it expands to."""

    depth: int = 0
    aliases: int = 0


class _Measure:
    """Measures selection sets of one document; each fragment is measured once, however often it is
    spread, so a document whose spreads fan out exponentially costs linear time (Strawberry's own alias
    counter re-walks every spread, and a few dozen doubling fragments keep it busy for minutes)."""

    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode], max_depth: int) -> None:
        self._fragments = fragments
        self._max_depth = max_depth
        self._fragment_sizes: dict[str, Size] = {}

    def selection_set(self, selection_set: SelectionSetNode | None, depth: int = 0) -> Size:
        """The size below `selection_set`, which sits at `depth`; descent stops once past the depth limit."""
        deepest, aliases = depth, 0
        if selection_set is None or depth > self._max_depth:
            return Size(deepest, aliases)
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                step = 0 if selection.name.value in FREE_FIELDS else 1
                below = self.selection_set(selection.selection_set, depth + step)
                reached, aliases = below.depth, aliases + below.aliases + (selection.alias is not None)
            elif isinstance(selection, InlineFragmentNode):
                below = self.selection_set(selection.selection_set, depth)
                reached, aliases = below.depth, aliases + below.aliases
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self._fragment(selection.name.value)
                reached, aliases = depth + fragment.depth, aliases + fragment.aliases
            else:  # pragma: no cover - graphql-core has no other selection kinds
                continue
            deepest = max(deepest, reached)
        return Size(deepest, aliases)

    def _fragment(self, name: str) -> Size:
        """A fragment's own size, computed once; a cycle (refused by validation anyway) counts as empty."""
        if name not in self._fragment_sizes:
            self._fragment_sizes[name] = Size()
            fragment = self._fragments.get(name)
            if fragment is not None:
                self._fragment_sizes[name] = self.selection_set(fragment.selection_set)
        return self._fragment_sizes[name]


def size_rule(max_depth: int, max_aliases: int) -> type[ASTValidationRule]:
    """A validation rule refusing operations deeper than `max_depth` fields and documents with more than
    `max_aliases` aliased fields (counted as expanded: an alias in a fragment spread twice counts twice)."""

    class SizeLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            definitions = context.document.definitions
            fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
            measure = _Measure(fragments, max_depth)
            total_aliases = 0
            for operation in definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                size = measure.selection_set(operation.selection_set)
                total_aliases += size.aliases
                if size.depth > max_depth:
                    name = operation.name.value if operation.name else "anonymous"
                    message = f"operation '{name}' is deeper than the limit of {max_depth}"
                    context.report_error(GraphQLError(message, operation))
            if total_aliases > max_aliases:
                message = f"{total_aliases} aliases found. Allowed: {max_aliases}"
                context.report_error(GraphQLError(message))

    return SizeLimit


class CheckedDocuments:
    """Query text → its parsed document and validation errors, for one schema's limits (LRU-bounded).

    Clients send a small, fixed set of documents, so each is parsed and validated once. Keyed by the text:
    Strawberry's `ValidationCache` keys by the document, whose hash walks the whole syntax tree on every
    request. A document that does not parse is not kept (lru_cache keeps no exceptions).
    """

    def __init__(self, rules: tuple[type[ASTValidationRule], ...], max_tokens: int) -> None:
        self._rules = rules
        self._max_tokens = max_tokens
        self.parse = lru_cache(maxsize=CACHE_SIZE)(self._parse)
        self.validate = lru_cache(maxsize=CACHE_SIZE)(self._validate)

    def _parse(self, query: str) -> DocumentNode:
        return parse(query, max_tokens=self._max_tokens)

    def _validate(self, query: str, schema: GraphQLSchema) -> list[GraphQLError]:
        return validate_document(schema, self.parse(query), self._rules)


class DocumentChecks(SchemaExtension):
    """Token cap, parse cache, validation (graphql-core's rules and `size_rule`) with its cache, and the
    refusal of subscriptions over HTTP, in one hook of one extension: Strawberry wraps every hook of every
    extension anew for each operation (~4 µs each), and skips its own parse and validation when they are done.

    A document that does not parse is left to Strawberry, which parses it again inside its own error
    handling, so the error is shaped like any other (with the token cap, through `parse_options`).
    """

    def __init__(self, documents: CheckedDocuments, max_tokens: int) -> None:
        self._documents = documents
        self._max_tokens = max_tokens

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self._max_tokens
        if context.query:
            try:
                context.graphql_document = self._documents.parse(context.query)
            except GraphQLError:
                pass
            else:
                # Strawberry reads these where it would validate (after checking that the operation
                # type is allowed), and skips its own validation since they are set.
                context.pre_execution_errors = self._errors(context, context.query)
        yield

    def _errors(self, context: ExecutionContext, query: str) -> list[GraphQLError]:
        errors = list(self._documents.validate(query, context.schema._schema))
        if not isinstance(getattr(context.context, "request", None), WebSocket) and _is_subscription(context):
            errors.append(GraphQLError("subscriptions need a WebSocket: graphql-transport-ws at /graphql"))
        return errors


def _is_subscription(context: ExecutionContext) -> bool:
    """Whether the operation to run is a subscription; False when there is no such operation, which
    Strawberry then refuses (CannotGetOperationTypeError) before it reads the validation errors."""
    try:
        return context.operation_type is OperationType.SUBSCRIPTION
    except RuntimeError:
        return False


def limit_extensions(
    *, max_depth: int, max_aliases: int, max_tokens: int
) -> list[Callable[[], SchemaExtension]]:
    """The extension factory enforcing the limits, with caches that belong to this schema alone."""
    rules = (*specified_rules, size_rule(max_depth, max_aliases))
    documents = CheckedDocuments(rules, max_tokens)
    return [partial(DocumentChecks, documents, max_tokens)]


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
