"""Input values built by the compiled converters are exactly what Strawberry's own conversion builds.

Every input type of the gateway schema, and of a schema with the kinds of fields the gateway does not use yet
(enums, lists of inputs, nested lists, recursion, UNSET and factory defaults, a OneOf), gets sample values:
all fields set, only the required ones, nullable ones explicitly null. Each sample is coerced by graphql-core
as for a request, then converted both ways, Strawberry's way being the hook taken away.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterator

import pytest
import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    coerce_input_value,
    is_required_input_field,
)
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import convert_argument
from strawberry.types.base import StrawberryObjectDefinition, get_object_definition
from strawberry.types.maybe import Maybe
from strawberry.types.unset import UNSET

from graphql_gateway.input_conversion import InputPlan, install_input_converters
from graphql_gateway.schema import build_schema

# An input value of each scalar, as a client sends it in variables.
SCALAR_SAMPLES: dict[str, object] = {
    "String": "text",
    "ID": "id-1",
    "Int": 7,
    "Float": 1.5,
    "Boolean": True,
    "DateTime": "2026-01-02T03:04:05+00:00",
    "Micros": "9007199254740993",
    "ByteCount": 1024,
}


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


strawberry.enum(Color)


@strawberry.input
class Leaf:
    name: str
    color: Color = Color.RED
    tags: list[str] | None = strawberry.field(default_factory=lambda: ["a"])


@strawberry.input
class Tree:
    leaf: Leaf
    leaves: list[Leaf] | None = None
    grid: list[list[int | None]] | None = UNSET
    colors: list[Color | None] | None = None
    children: list[Tree] | None = None
    when: datetime.datetime | None = None
    default_leaf: Leaf = strawberry.field(default_factory=lambda: Leaf(name="d"))


@strawberry.input(one_of=True)
class Pick:
    by_name: str | None = UNSET
    by_leaf: Leaf | None = UNSET


@strawberry.input
class WithMaybe:
    note: Maybe[str]


@strawberry.type
class Query:
    @strawberry.field
    def tree(self, tree: Tree, pick: Pick, maybe: WithMaybe | None = None) -> str:
        return repr((tree, pick, maybe))


def sample_values(graphql_type: GraphQLInputType, depth: int = 0) -> Iterator[object]:
    """Input values of `graphql_type`: every field set, only the required ones, nullable ones null."""
    nullable = not isinstance(graphql_type, GraphQLNonNull)
    named = graphql_type.of_type if isinstance(graphql_type, GraphQLNonNull) else graphql_type
    if nullable:
        yield None
    if isinstance(named, GraphQLScalarType):
        yield SCALAR_SAMPLES[named.name]
    elif isinstance(named, GraphQLEnumType):
        yield from named.values
    elif isinstance(named, GraphQLList):
        yield []
        yield list(sample_values(named.of_type, depth + 1))  # last: what input objects' fields get
    elif isinstance(named, GraphQLInputObjectType):
        yield from input_objects(named, depth)
    else:  # pragma: no cover - no other input types
        raise AssertionError(named)


def input_objects(graphql_type: GraphQLInputObjectType, depth: int) -> Iterator[dict[str, object]]:
    if graphql_type.extensions[GraphQLCoreConverter.DEFINITION_BACKREF].is_one_of:
        for name, field in graphql_type.fields.items():
            yield {name: last(sample_values(field.type, depth + 1))}
        return
    fields = graphql_type.fields.items()
    required = {
        name: last(sample_values(f.type, depth + 1)) for name, f in fields if is_required_input_field(f)
    }
    if depth > 3:  # recursive types: only the required fields below this depth
        yield required
        return
    yield {name: last(sample_values(field.type, depth + 1)) for name, field in fields}
    yield required
    yield {name: None for name, f in fields if not isinstance(f.type, GraphQLNonNull)} | required


def last(values: Iterator[object]) -> object:
    return list(values)[-1]


def input_definitions(schema: strawberry.Schema) -> list[StrawberryObjectDefinition]:
    return [
        concrete.definition
        for concrete in schema.schema_converter.type_map.values()
        if isinstance(concrete.definition, StrawberryObjectDefinition) and concrete.definition.is_input
    ]


def compiled(definition: StrawberryObjectDefinition) -> bool:
    return isinstance(getattr(definition.from_input, "__self__", None), InputPlan)


def assert_converted_alike(schema: strawberry.Schema, monkeypatch: pytest.MonkeyPatch) -> int:
    """Converts samples of every compiled input type of `schema` both ways; how many were compared."""
    compared = 0
    for definition in filter(compiled, input_definitions(schema)):
        graphql_type = schema._schema.type_map[definition.name]
        assert isinstance(graphql_type, GraphQLInputObjectType)
        for sample in sample_values(GraphQLNonNull(graphql_type)):
            value = coerce_input_value(sample, GraphQLNonNull(graphql_type))
            ours = convert(schema, value, definition)
            with monkeypatch.context() as patch:
                for each in input_definitions(schema):
                    patch.setattr(each, "from_input", None)
                theirs = convert(schema, value, definition)
            assert type(ours) is type(theirs) is definition.origin
            assert ours == theirs, (definition.name, sample)
            assert repr(ours) == repr(theirs)
            compared += 1
    return compared


def convert(schema: strawberry.Schema, value: object, definition: StrawberryObjectDefinition) -> object:
    return convert_argument(value, definition.origin, schema.schema_converter.scalar_registry, schema.config)


def test_every_gateway_input_type_is_compiled_and_converts_like_strawberry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = build_schema()
    definitions = input_definitions(schema)
    assert len(definitions) > 15
    assert [definition.name for definition in definitions if not compiled(definition)] == []
    assert assert_converted_alike(schema, monkeypatch) >= 3 * len(definitions)


def test_enums_lists_recursion_defaults_and_one_of_convert_like_strawberry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = strawberry.Schema(Query)
    installed = install_input_converters(schema)
    assert sorted(installed) == ["Leaf", "Pick", "Tree"]  # Maybe fields keep Strawberry's conversion
    assert assert_converted_alike(schema, monkeypatch) == 8


def test_lists_are_copies_and_unset_passes_through() -> None:
    schema = strawberry.Schema(Query)
    install_input_converters(schema)
    tags = ["x"]
    tree = convert(
        schema,
        {"leaf": {"name": "n", "tags": tags, "color": Color.BLUE}},
        get_object_definition(Tree, strict=True),
    )
    assert isinstance(tree, Tree)
    assert tree.leaf.tags == tags
    assert tree.leaf.tags is not tags
    assert tree.grid is UNSET
    assert tree.leaves is None
    assert tree.leaf.color is Color.BLUE
    assert tree.default_leaf == Leaf(name="d")


async def test_operations_get_the_same_arguments_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = strawberry.Schema(Query)
    install_input_converters(schema)
    query = """query($tree: Tree!, $pick: Pick!, $maybe: WithMaybe) {
        tree(tree: $tree, pick: $pick, maybe: $maybe) }"""
    variables = {
        "tree": {
            "leaf": {"name": "a", "color": "BLUE"},
            "children": [{"leaf": {"name": "b"}, "grid": [[1, None]]}],
        },
        "pick": {"byLeaf": {"name": "c", "tags": None}},
        "maybe": {"note": "n"},
    }
    ours = await schema.execute(query, variables)
    with monkeypatch.context() as patch:
        for each in input_definitions(schema):
            patch.setattr(each, "from_input", None)
        theirs = await schema.execute(query, variables)
    assert ours.errors is None
    assert theirs.errors is None
    assert ours.data == theirs.data
    refused = await schema.execute(query, {**variables, "maybe": {"note": None}})
    assert refused.errors  # Maybe[str] still refuses an explicit null: its type kept Strawberry's checks
