"""Input objects built by converters compiled once per type, instead of Strawberry's conversion per call.

Strawberry turns each argument's input value (a dict keyed by GraphQL names) into its input class by walking
the type on every call: it resolves each field's type and camelCase name anew and checks every kind of type
the value could have (~85 µs for a `ChatInput`, once per chat turn). `install_input_converters` compiles, for
every input type of a schema, what that walk does for it, and sets it as the type's `from_input` hook, which
Strawberry calls instead of its own conversion. What it yields is what Strawberry yields: the same classes,
None for absent fields without a default, UNSET passed through, lists copied, scalars and enums as
graphql-core coerced them. Types whose fields it does not cover (`Maybe`, GlobalID, types with a hook of their
own) keep Strawberry's conversion, and so do the input types that contain them. The hook is set on the
class's definition, which every schema using the class shares: names follow the config of the schema that
installed it last (all of the gateway's schemas have the same).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING
from typing import Any

import strawberry
from strawberry.relay.types import GlobalID
from strawberry.scalars import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    StrawberryType,
    has_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition
from strawberry.types.lazy_type import LazyType
from strawberry.types.unset import UNSET

# Converts a value that is neither None nor UNSET (those pass through unchanged); None stands for "as is".
Converter = Callable[[Any], Any] | None


class Unsupported(Exception):
    """A type the converters do not cover; its input types keep Strawberry's own conversion."""


class InputPlan:
    """How to build one input type from its input value: each field's GraphQL name, Python name and
    converter, and the fields that are None when absent (those without a default)."""

    __slots__ = ("fields", "nones")

    def __init__(self) -> None:
        self.fields: tuple[tuple[str, str, Converter], ...] = ()
        self.nones: dict[str, None] = {}

    def build(self, cls: type, value: Mapping[str, Any]) -> Any:
        """An instance of `cls` (the input class, or Strawberry's subclass of it) from `value`."""
        kwargs: dict[str, Any] = self.nones.copy()
        for graphql_name, python_name, convert in self.fields:
            if graphql_name in value:
                field_value = value[graphql_name]
                if convert is not None and field_value is not None and field_value is not UNSET:
                    field_value = convert(field_value)
                kwargs[python_name] = field_value
        return cls(**kwargs)

    def from_input(self, cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        """Strawberry's `from_input` hook (see StrawberryObjectDefinition.from_input)."""
        return self.build(cls, value)


class _Compiler:
    """Compiles the plans of one input type and the input types it contains (recursive ones included)."""

    def __init__(self, schema: strawberry.Schema) -> None:
        self._config = schema.config
        self._scalars = schema.schema_converter.scalar_registry
        self._plans: dict[StrawberryObjectDefinition, InputPlan] = {}

    def plan(self, definition: StrawberryObjectDefinition) -> InputPlan:
        """The plan of an input type; Unsupported when a field's type is not covered."""
        known = self._plans.get(definition)
        if known is not None:
            return known
        if not definition.is_input or not (definition.from_input is None or _is_ours(definition.from_input)):
            raise Unsupported(definition.name)
        plan = self._plans[definition] = InputPlan()  # before the fields: they may contain this type
        plan.fields = tuple(
            (
                self._config.name_converter.from_field(field),
                field.python_name,
                self.converter(field.resolve_type(type_definition=definition)),
            )
            for field in definition.fields
        )
        plan.nones = {
            field.python_name: None
            for field in definition.fields
            if field.default_value is MISSING and field.default_factory is MISSING
        }
        return plan

    def converter(self, type_: StrawberryType | type) -> Converter:
        """What converts a non-null value of `type_`, as strawberry.types.arguments.convert_argument does."""
        if isinstance(type_, StrawberryMaybe) or type_ is GlobalID:
            raise Unsupported(str(type_))
        if isinstance(type_, StrawberryOptional):
            return self.converter(type_.of_type)
        if isinstance(type_, LazyType):
            return self.converter(type_.resolve_type())
        if isinstance(type_, StrawberryList):
            return _list_of(self.converter(type_.of_type))
        if is_scalar(type_, self._scalars) or isinstance(type_, StrawberryEnumDefinition):
            return None
        if has_enum_definition(type_):  # graphql-core made it the enum's member already
            return None
        if has_object_definition(type_):
            plan = self.plan(type_.__strawberry_definition__)
            cls: type = type_
            return lambda value: plan.build(cls, value)
        raise Unsupported(str(type_))


def _list_of(item: Converter) -> Converter:
    """A list's converter: a copy (graphql-core shares a default list across requests), items converted."""
    if item is None:
        return list
    return lambda values: [value if value is None or value is UNSET else item(value) for value in values]


def _is_ours(hook: object) -> bool:
    """Whether `hook` is one this module set earlier (for another schema), which it may replace."""
    return isinstance(getattr(hook, "__self__", None), InputPlan)


def install_input_converters(schema: strawberry.Schema) -> list[str]:
    """Sets the compiled `from_input` hook of every input type of `schema` it covers; their names."""
    installed = []
    for concrete in list(schema.schema_converter.type_map.values()):
        definition = concrete.definition
        if not isinstance(definition, StrawberryObjectDefinition) or not definition.is_input:
            continue
        try:
            plan = _Compiler(schema).plan(definition)
        except Unsupported:
            continue
        definition.from_input = plan.from_input
        installed.append(definition.name)
    return installed
