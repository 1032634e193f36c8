"""The auth contract over GraphQL against a real auth service: sessions, me, API keys and the error codes."""

from __future__ import annotations

from datetime import UTC, datetime

from services.runtime.metrics import REGISTRY
from tests.integration.auth.harness import unique_email
from tests.integration.gateway.conftest import PASSWORD, SESSION_FIELDS, Gateway, GatewayFactory

LOGIN = f"mutation($input: LoginInput!) {{ login(input: $input) {{ {SESSION_FIELDS} }} }}"
REFRESH = f"mutation($refresh: String!) {{ refreshToken(refreshToken: $refresh) {{ {SESSION_FIELDS} }} }}"
LOGOUT = "mutation($refresh: String!) { logout(refreshToken: $refresh) }"
ME = "{ me { id email name role tenant { id name plan } } }"
CREATE_KEY = """mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { key apiKey { id name scopes prefix createdAt revokedAt } }
}"""
API_KEYS = "{ apiKeys { id name scopes createdAt revokedAt } }"
REVOKE_KEY = "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }"


def batch_calls() -> float:
    labels = {"service": "geko.auth.v1.AuthService", "method": "BatchGetUsers", "code": "OK"}
    return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0


def code_of(body: dict) -> str:
    assert body["data"] is None, body
    return body["errors"][0]["extensions"]["code"]


async def test_register_login_me_refresh_logout(gateway: Gateway) -> None:
    email = unique_email()
    registered = await gateway.register(email, tenantName="Globex")
    assert registered["user"]["email"] == email
    assert registered["user"]["role"] == "owner"
    assert registered["user"]["tenant"] == {
        "id": registered["user"]["tenant"]["id"],
        "name": "Globex",
        "plan": "FREE",
    }
    expires_at = datetime.fromisoformat(registered["expiresAt"])
    assert 0 < (expires_at - datetime.now(UTC)).total_seconds() <= 900

    login = await gateway.graphql(LOGIN, input={"email": email.upper(), "password": PASSWORD})
    session = login["data"]["login"]
    assert session["user"]["id"] == registered["user"]["id"]

    me = await gateway.graphql(ME, session["accessToken"])
    assert me["data"]["me"] == registered["user"]

    refreshed = (await gateway.graphql(REFRESH, refresh=session["refreshToken"]))["data"]["refreshToken"]
    assert refreshed["refreshToken"] != session["refreshToken"]
    assert (await gateway.graphql(ME, refreshed["accessToken"]))["data"]["me"]["id"] == registered["user"][
        "id"
    ]

    reused = await gateway.graphql(REFRESH, refresh=session["refreshToken"])
    assert code_of(reused) == "UNAUTHENTICATED"

    second = (await gateway.graphql(LOGIN, input={"email": email, "password": PASSWORD}))["data"]["login"]
    assert (await gateway.graphql(LOGOUT, refresh=second["refreshToken"]))["data"] == {"logout": True}
    assert code_of(await gateway.graphql(REFRESH, refresh=second["refreshToken"])) == "UNAUTHENTICATED"


async def test_api_keys_create_list_use_and_revoke(gateway: Gateway) -> None:
    owner = await gateway.register()
    token = owner["accessToken"]

    created = await gateway.graphql(CREATE_KEY, token, input={"name": "ci", "scopes": ["chat"]})
    payload = created["data"]["createApiKey"]
    key, api_key = payload["key"], payload["apiKey"]
    assert key.startswith(api_key["prefix"])
    assert api_key["name"] == "ci"
    assert api_key["scopes"] == ["chat"]
    assert api_key["revokedAt"] is None

    listed = (await gateway.graphql(API_KEYS, token))["data"]["apiKeys"]
    assert [k["id"] for k in listed] == [api_key["id"]]
    assert "key" not in listed[0]

    as_key = await gateway.graphql(ME, key)
    assert as_key["data"]["me"]["id"] == owner["user"]["id"]

    revoked = (await gateway.graphql(REVOKE_KEY, token, id=api_key["id"]))["data"]["revokeApiKey"]
    assert revoked["id"] == api_key["id"]
    assert revoked["revokedAt"] is not None
    assert code_of(await gateway.graphql(ME, key)) == "UNAUTHENTICATED"


async def test_users_are_loaded_in_one_batch_and_other_tenants_are_invisible(gateway: Gateway) -> None:
    ann = await gateway.register()
    other = await gateway.register()
    query = """query($a: ID!, $b: ID!) {
      a: user(id: $a) { id email }  b: user(id: $b) { id }  c: user(id: $a) { name }
    }"""
    before = batch_calls()
    body = await gateway.graphql(query, ann["accessToken"], a=ann["user"]["id"], b=other["user"]["id"])
    assert batch_calls() == before + 1
    assert body["data"] == {
        "a": {"id": ann["user"]["id"], "email": ann["user"]["email"]},
        "b": None,
        "c": {"name": "Ann Lee"},
    }


async def test_bad_input_names_the_field(gateway: Gateway) -> None:
    for fields, field in (({"email": "not-an-email"}, "email"), ({"password": "short"}, "password")):
        body = await gateway.graphql(
            "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }",
            input={
                "email": unique_email(),
                "password": PASSWORD,
                "name": "Ann",
                "tenantName": "Acme",
                **fields,
            },
        )
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert error["extensions"]["field"] == field
        assert error["path"] == ["register"]


async def test_duplicate_email_is_a_conflict(gateway: Gateway) -> None:
    email = unique_email()
    await gateway.register(email)
    body = await gateway.graphql(
        "mutation($input: RegisterInput!) { register(input: $input) { accessToken } }",
        input={"email": email, "password": PASSWORD, "name": "Bob", "tenantName": "Other"},
    )
    assert code_of(body) == "CONFLICT"


async def test_wrong_password_and_unknown_email_answer_alike(gateway: Gateway) -> None:
    email = unique_email()
    await gateway.register(email)
    wrong = await gateway.graphql(LOGIN, input={"email": email, "password": "wrong password 1"})
    unknown = await gateway.graphql(LOGIN, input={"email": unique_email(), "password": PASSWORD})
    assert code_of(wrong) == code_of(unknown) == "UNAUTHENTICATED"
    assert wrong["errors"][0]["message"] == unknown["errors"][0]["message"]


async def test_login_rate_limit_is_rate_limited_with_retry_after(start_gateway: GatewayFactory) -> None:
    gateway = await start_gateway(login_rate_per_email=2)
    email = unique_email()
    await gateway.register(email)
    for _ in range(2):
        await gateway.graphql(LOGIN, input={"email": email, "password": "wrong password 1"})
    response = await gateway.post(LOGIN, input={"email": email, "password": PASSWORD})
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    retry_after = error["extensions"]["retryAfter"]
    assert 0 < retry_after <= 60
    assert response.headers["retry-after"] == str(retry_after)
