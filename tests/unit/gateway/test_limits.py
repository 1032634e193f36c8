"""Depth (introspection included), alias and token limits refuse a document before it runs."""

from __future__ import annotations

import httpx
from graphql import get_introspection_query

from graphql_gateway.schema import build_schema
from tests.unit.gateway.conftest import codes, post


def messages(body: dict) -> list[str]:
    return [error["message"] for error in body["errors"]]


def nested_introspection(levels: int) -> str:
    """`{__schema{types{fields{type{fields{type{…{name}}}}}}}}` with `levels` fields/type pairs."""
    return "{__schema{types" + "{fields{type" * levels + "{name}" + "}}" * levels + "}}"


async def test_circular_introspection_deeper_than_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    # depth = __schema, types, then two per level, then name: 2 + 2 * 6 + 1 = 15 > 12
    body = await post(client, nested_introspection(6))
    assert body["data"] is None
    assert set(codes(body)) == {"BAD_USER_INPUT"}
    assert "operation 'anonymous' is deeper than the limit of 12" in messages(body)


async def test_the_briefs_circular_introspection_is_refused_under_a_lower_limit() -> None:
    schema = build_schema(max_depth=5)
    result = await schema.execute("{__schema{types{fields{type{fields{type{fields{type{name}}}}}}}}}")
    assert result.errors
    assert "operation 'anonymous' is deeper than the limit of 5" in [e.message for e in result.errors]
    assert all(e.extensions == {"code": "BAD_USER_INPUT"} for e in result.errors)


async def test_introspection_within_the_limit_runs(client: httpx.AsyncClient) -> None:
    query = "{__schema{types{name fields{name args{name type{name}} type{kind ofType{name}}}}}}"
    body = await post(client, query)
    assert "errors" not in body
    assert body["data"]["__schema"]["types"]


async def test_graphiqls_full_introspection_query_fits_the_default_limit(client: httpx.AsyncClient) -> None:
    query = get_introspection_query(descriptions=True, input_value_deprecation=True, specified_by_url=True)
    body = await post(client, query)
    assert "errors" not in body
    assert {t["name"] for t in body["data"]["__schema"]["types"]} >= {"User", "AuthPayload", "Plan"}


async def test_depth_through_fragments_is_counted(client: httpx.AsyncClient) -> None:
    query = """
      query Deep { __schema { ...T } }
      fragment T on __Schema { types { ...F } }
      fragment F on __Type { fields { type { fields { type { fields { type { fields { type { fields {
        type { name } } } } } } } } } } }
    """
    body = await post(client, query)
    assert set(codes(body)) == {"BAD_USER_INPUT"}
    assert "operation 'Deep' is deeper than the limit of 12" in messages(body)


async def test_many_fragment_spreads_do_not_blow_up_the_depth_count() -> None:
    # Each fragment spreads the next twice: 2**40 paths if expanded, one pass with per-fragment memo.
    fragments = "\n".join(f"fragment F{i} on __Type {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    query = f"{{ __schema {{ queryType {{ ...F0 }} }} }}\n{fragments}\nfragment F40 on __Type {{ name }}"
    result = await build_schema(max_tokens=10_000).execute(query)
    assert result.errors is None, result.errors
    assert result.data == {"__schema": {"queryType": {"name": "Query"}}}


async def test_aliases_are_counted_as_expanded_through_fragments(client: httpx.AsyncClient) -> None:
    query = "{ ...A ...A }\nfragment A on Query { " + " ".join(f"a{i}: __typename" for i in range(16)) + " }"
    body = await post(client, query)
    assert "32 aliases found. Allowed: 30" in messages(body)


async def test_doubling_fragments_with_aliases_are_refused_quickly() -> None:
    fragments = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    query = f"{{ ...F0 }}\n{fragments}\nfragment F40 on Query {{ a: __typename }}"
    result = await build_schema(max_tokens=10_000).execute(query)
    assert result.errors
    assert f"{2**40} aliases found. Allowed: 30" in [e.message for e in result.errors]


async def test_too_many_aliases_are_refused(client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(31)) + " }"
    body = await post(client, query)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "31 aliases found. Allowed: 30" in body["errors"][0]["message"]


async def test_aliases_up_to_the_limit_run(client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(30)) + " }"
    body = await post(client, query)
    assert body["data"]["a29"] == "Query"


async def test_too_many_tokens_are_refused() -> None:
    schema = build_schema(max_tokens=50)
    result = await schema.execute("{ " + "__typename " * 60 + "}")
    assert result.errors
    assert "more than 50 tokens" in result.errors[0].message
    assert result.errors[0].extensions == {"code": "BAD_USER_INPUT"}


async def test_deeply_nested_braces_within_the_token_limit_are_a_clean_error(
    client: httpx.AsyncClient,
) -> None:
    body = await post(client, "{" + "a{" * 300 + "b" + "}" * 301)
    assert body["data"] is None
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "nested too deeply" in body["errors"][0]["message"]
