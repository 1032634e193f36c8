"""Subscription events turned into results without graphql-core's executor, when that gives the same result.

graphql-core executes every event of a subscription anew: it collects the operation's fields, resolves each
one through Strawberry's wrappers and completes it by type, ~100 µs per event; a chat turn streamed token by
token sends one event per token. Yet within one subscription all but the event is fixed: the document, the
variables (so @skip/@include too) and the schema. A plan does that work once, with graphql-core's own field
collection, and keeps per event only what depends on the event: reading attributes, picking the union member
by the event's class, and coercing leaves with the types' own `coerce_output_value`.

It covers what the gateway's events need: fields without arguments whose value is the attribute Strawberry
reads for them, objects, unions, __typename, aliases, fragments, @skip/@include. A document with anything else
(another directive, an argument below the root, a list, a field with a resolver, middleware) gets no plan. An
event the plan cannot complete exactly as graphql-core would (a null for a non-null field, an object of an
unexpected class, a value a scalar refuses) raises `Unplanned`, and graphql-core executes that event as
before, errors included.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    DirectiveNode,
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationDefinitionNode,
    Undefined,
    VariableNode,
    Visitor,
    is_leaf_type,
    specified_scalar_types,
    visit,
)
from graphql.execution import Executor
from graphql.execution.collect_fields import FieldDetails, collect_fields, collect_subfields
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.cast import TYPE_CAST_ATTRIBUTE
from strawberry.types.field import StrawberryField

# A completed value from a resolved one.
Complete = Callable[[Any], Any]
# An event's `data` from the event.
EventPlan = Callable[[Any], dict[str, Any]]

BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF
PLANNED_DIRECTIVES = frozenset({"include", "skip"})
PLAN_CACHE_SIZE = 256
# Values graphql-core's built-in scalars return as they are.
UNCHANGED_BY: dict[str, Callable[[Any], bool]] = {
    "String": lambda value: type(value) is str,
    "ID": lambda value: type(value) is str,
    "Boolean": lambda value: type(value) is bool,
    "Int": lambda value: type(value) is int and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT,
}


class Unplanned(Exception):
    """This event needs graphql-core: the plan cannot complete it exactly as graphql-core would."""


class _Unsupported(Exception):
    """The document has something a plan does not cover."""


def compile_event_plan(executor: Executor[Any]) -> EventPlan | None:
    """The plan of a subscription's events, or None when graphql-core must execute them."""
    if not _plannable(executor):
        return None
    try:
        return _Compiler(executor).root()
    except _Unsupported:
        return None


def _plannable(executor: Executor[Any]) -> bool:
    """What a plan cannot honour whatever the fields: middleware, hooks, an abort signal, directives on the
    operation, fragments with arguments (their values would change the plan behind its cache key)."""
    manager = executor.middleware_manager
    if (manager is not None and manager.middlewares) or executor.abort_signal or executor.hooks:
        return False
    fragments = executor.fragment_definitions.values()
    return not executor.operation.directives and not any(f.variable_definitions for f in fragments)


@dataclass(slots=True)
class _OperationPlans:
    operation: OperationDefinitionNode
    schema: GraphQLSchema
    switches: tuple[str, ...]  # the variables @skip/@include read
    plans: dict[tuple[object, ...], EventPlan | None]


class EventPlans:
    """Plans shared by the subscriptions of one document. A client sends the same text every turn, which is
    parsed once into the same operation node (limits.CheckedDocuments), so a plan is compiled (~0.2 ms, on the
    way to the first event) once per document and per values of the variables its @skip/@include read; the
    other variables (the message…) do not change it. Keyed by the node's identity, since its hash walks the
    whole tree; an entry holds the node, so its id is not reused while cached."""

    def __init__(self, size: int = PLAN_CACHE_SIZE) -> None:
        self._size = size
        self._by_operation: OrderedDict[int, _OperationPlans] = OrderedDict()

    def plan(self, executor: Executor[Any]) -> EventPlan | None:
        if not _plannable(executor):
            return None
        operation = executor.operation
        entry = self._by_operation.get(id(operation))
        if entry is None or entry.operation is not operation or entry.schema is not executor.schema:
            entry = _OperationPlans(operation, executor.schema, _switches(executor), {})
            self._by_operation[id(operation)] = entry
            if len(self._by_operation) > self._size:
                self._by_operation.popitem(last=False)
        else:
            self._by_operation.move_to_end(id(operation))
        coerced = executor.variable_values.coerced
        key = tuple(coerced.get(name) for name in entry.switches)
        try:
            return entry.plans[key]
        except KeyError:
            plan = entry.plans[key] = compile_event_plan(executor)
            return plan
        except TypeError:  # an unhashable value: not a Boolean, so no @skip/@include reads it
            return compile_event_plan(executor)


def _switches(executor: Executor[Any]) -> tuple[str, ...]:
    """The variables the directives of the operation and its fragments read."""
    visitor = _DirectiveVariables()
    for node in (executor.operation, *executor.fragment_definitions.values()):
        visit(node, visitor)
    return tuple(sorted(visitor.names))


class _DirectiveVariables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        for argument in node.arguments or ():
            if isinstance(argument.value, VariableNode):
                self.names.add(argument.value.name.value)


class _Compiler:
    def __init__(self, executor: Executor[Any]) -> None:
        self._executor = executor
        self._operation: OperationDefinitionNode = executor.operation

    def root(self) -> EventPlan:
        executor = self._executor
        root_type = executor.schema.subscription_type
        if root_type is None:
            raise _Unsupported
        grouped, defers, _ = collect_fields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            root_type,
            self._operation,
            executor.hide_suggestions,
        )
        if defers or len(grouped) != 1:
            raise _Unsupported
        ((response_name, details),) = grouped.items()
        _check_directives(details)
        field = root_type.fields.get(details[0].node.name.value)
        definition = field.extensions.get(BACKREF) if field is not None else None
        # Strawberry resolves a subscription field's events as the events themselves.
        if field is None or not isinstance(definition, StrawberryField) or not definition.is_subscription:
            raise _Unsupported
        complete = self._complete(field.type, details)
        return lambda event: {response_name: complete(event)}

    def _complete(self, type_: GraphQLOutputType, details: list[FieldDetails]) -> Complete:
        if isinstance(type_, GraphQLNonNull):
            return _non_null(self._complete_value(type_.of_type, details))
        return _nullable(self._complete_value(type_, details))

    def _complete_value(self, type_: GraphQLOutputType, details: list[FieldDetails]) -> Complete:
        """Completes a value that is neither None nor Undefined."""
        if is_leaf_type(type_):
            return _leaf(type_)
        if isinstance(type_, GraphQLUnionType):
            return self._union(type_, details)
        if isinstance(type_, GraphQLObjectType):
            return self._object(type_, details)
        raise _Unsupported  # lists, interfaces

    def _union(self, union: GraphQLUnionType, details: list[FieldDetails]) -> Complete:
        members: dict[type, Complete] = {}
        for member in union.types:
            members[_origin(member)] = self._object(member, details)

        def complete(value: Any) -> Any:
            complete_member = members.get(type(value))
            if complete_member is None:
                raise Unplanned
            return complete_member(value)

        return complete

    def _object(self, object_type: GraphQLObjectType, details: list[FieldDetails]) -> Complete:
        executor = self._executor
        grouped, defers, _ = collect_subfields(
            executor.schema,
            executor.fragments,
            executor.variable_values,
            self._operation,
            object_type,
            details,
            executor.hide_suggestions,
        )
        if defers:
            raise _Unsupported
        fields = tuple(
            (response_name, *self._field(object_type, field_details))
            for response_name, field_details in grouped.items()
        )
        origin = _origin(object_type)

        def complete(value: Any) -> dict[str, Any]:
            # Strawberry's type checks accept exactly these: an instance of the type's class, not cast.
            if type(value) is not origin or getattr(value, TYPE_CAST_ATTRIBUTE, None) is not None:
                raise Unplanned
            return {name: complete_field(read(value)) for name, read, complete_field in fields}

        return complete

    def _field(self, parent: GraphQLObjectType, details: list[FieldDetails]) -> tuple[Complete, Complete]:
        """How to read the field from its parent, and how to complete what was read."""
        _check_directives(details)
        name = details[0].node.name.value
        if name == "__typename":
            type_name = parent.name
            return (lambda _parent: type_name), _same
        field = parent.fields.get(name)
        if field is None or field.args or any(detail.node.arguments for detail in details):
            raise _Unsupported
        definition = field.extensions.get(BACKREF)
        # Strawberry's own marker for a field read with `default_resolver(source, python_name)`.
        if not getattr(field.resolve, "_is_default", False) or not isinstance(definition, StrawberryField):
            raise _Unsupported
        if definition.default_resolver is not getattr:
            raise _Unsupported
        return attrgetter(definition.python_name), self._complete(field.type, details)


def _origin(object_type: GraphQLObjectType) -> type:
    """The class whose exact instances the plan completes as this type (no generics, no `is_type_of`)."""
    definition = object_type.extensions.get(BACKREF)
    if not isinstance(definition, StrawberryObjectDefinition) or definition.concrete_of is not None:
        raise _Unsupported
    if object_type.is_type_of is not None:  # a type's own check, or one for its interfaces
        raise _Unsupported
    origin = definition.origin
    if issubclass(origin, BaseException):  # graphql-core raises a resolved exception as the field's error
        raise _Unsupported
    return origin


def _check_directives(details: list[FieldDetails]) -> None:
    """@skip/@include are settled by field collection; any other directive (@stream…) is graphql-core's."""
    for detail in details:
        if any(directive.name.value not in PLANNED_DIRECTIVES for directive in detail.node.directives or ()):
            raise _Unsupported


def _same(value: Any) -> Any:
    return value


def _non_null(complete: Complete) -> Complete:
    def non_null(value: Any) -> Any:
        if value is None or value is Undefined:
            raise Unplanned
        return complete(value)

    return non_null


def _nullable(complete: Complete) -> Complete:
    def nullable(value: Any) -> Any:
        if value is None or value is Undefined:
            return None
        return complete(value)

    return nullable


def _leaf(type_: GraphQLLeafType) -> Complete:
    """graphql-core's completion of a scalar or enum: its `coerce_output_value`, which built-in scalars skip
    here for the values they return unchanged (a str for String, an int in range for Int…)."""
    coerce = type_.coerce_output_value
    unchanged = UNCHANGED_BY.get(type_.name) if specified_scalar_types.get(type_.name) is type_ else None

    def leaf(value: Any) -> Any:
        if unchanged is not None and unchanged(value):
            return value
        if isinstance(value, Exception):
            raise Unplanned
        try:
            coerced = coerce(value)
        except Exception:
            raise Unplanned from None
        if coerced is None or coerced is Undefined:
            raise Unplanned
        return coerced

    return leaf
