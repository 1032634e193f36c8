"""Provider connections (bring your own key) through GraphQL, and the promise that an API key never comes
back: a recognisable key is created, listed, renamed, replaced and refused in every way we can think of,
and then no GraphQL answer, no log line of the platform (at DEBUG) and no byte of the database (audit
log and outbox included) holds it."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import text

from services.runtime.logging import configure_logging
from tests.integration.gateway.models_platform import model_platform
from tests.integration.gateway.team import TeamGateway, team_settings

CONNECTION = "id kind name baseUrl hasApiKey createdAt updatedAt"
CREATE = f"""mutation($input: CreateProviderConnectionInput!) {{
  createProviderConnection(input: $input) {{ {CONNECTION} }}
}}"""
UPDATE = f"""mutation($input: UpdateProviderConnectionInput!) {{
  updateProviderConnection(input: $input) {{ {CONNECTION} }}
}}"""
DELETE = "mutation($id: ID!) { deleteProviderConnection(id: $id) }"
LIST = f"{{ providerConnections {{ {CONNECTION} }} }}"


@pytest.fixture
def debug_logs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """The platform's logging as `geko up` sets it, at DEBUG, to the captured stderr (hence capsys first:
    the handler binds the stream that is sys.stderr when it is made)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    configure_logging(team_settings("sqlite+aiosqlite://", tmp_path, None, log_level="DEBUG"))
    try:
        yield capsys
    finally:
        root.handlers, root.level = saved
        structlog.reset_defaults()


class Answers:
    """Every GraphQL answer body a test received, as text, to grep."""

    def __init__(self, gateway: TeamGateway) -> None:
        self.gateway = gateway
        self.bodies: list[str] = []

    async def ask(self, query: str, token: str, **variables: Any) -> dict[str, Any]:
        body = await self.gateway.graphql(query, token, **variables)
        self.bodies.append(json.dumps(body))
        return body


async def test_no_api_key_appears_in_answers_logs_or_the_database(
    tmp_path: Path, debug_logs: pytest.CaptureFixture[str]
) -> None:
    key = "sk-geko-leakcheck-" + secrets.token_hex(12)
    second_key = "sk-geko-leakcheck-" + secrets.token_hex(12)
    database = tmp_path / "geko.db"
    async with model_platform(f"sqlite+aiosqlite:///{database}", tmp_path / "data") as platform:
        gateway = platform.gateway
        answers = Answers(gateway)
        owner = await gateway.register("Keys Co")
        workspace_id = await gateway.create_workspace(owner.token, "Keys")
        editor = await gateway.join_new(owner.token, workspace_id, "editor", name="Eddie Editor")

        created = await answers.ask(
            CREATE,
            owner.token,
            input={"name": "my vllm", "kind": "OPENAI", "baseUrl": "http://127.0.0.1:9/v1", "apiKey": key},
        )
        connection = created["data"]["createProviderConnection"]
        assert connection["hasApiKey"] is True
        assert connection["kind"] == "OPENAI"
        listed = await answers.ask(LIST, owner.token)
        assert [c["id"] for c in listed["data"]["providerConnections"]] == [connection["id"]]

        # Refusals that carry the key in their request.
        refused = await answers.ask(
            CREATE,
            editor.token,
            input={"name": "sneaky", "kind": "OPENAI", "baseUrl": "http://127.0.0.1:9/v1", "apiKey": key},
        )
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        bad_url = await answers.ask(
            CREATE,
            owner.token,
            input={"name": "broken", "kind": "ANTHROPIC", "baseUrl": f"not a url {key}", "apiKey": key},
        )
        assert bad_url["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        bad_kind = await answers.ask(
            CREATE,
            owner.token,
            input={"name": "x", "kind": "WHATEVER", "baseUrl": "http://127.0.0.1:9", "apiKey": key},
        )
        assert bad_kind["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

        # Renamed, the key replaced, then removed.
        renamed = await answers.ask(UPDATE, owner.token, input={"id": connection["id"], "name": "vllm box"})
        assert renamed["data"]["updateProviderConnection"]["name"] == "vllm box"
        assert renamed["data"]["updateProviderConnection"]["hasApiKey"] is True
        replaced = await answers.ask(
            UPDATE, owner.token, input={"id": connection["id"], "apiKey": second_key}
        )
        assert replaced["data"]["updateProviderConnection"]["hasApiKey"] is True
        cleared = await answers.ask(UPDATE, owner.token, input={"id": connection["id"], "apiKey": None})
        assert cleared["data"]["updateProviderConnection"]["hasApiKey"] is False

        async with platform.deps.database.session() as session:
            rows = (await session.execute(text("SELECT * FROM provider_connections"))).all()
        assert rows
        stored = repr(rows)

        deleted = await answers.ask(DELETE, owner.token, id=connection["id"])
        assert deleted["data"] == {"deleteProviderConnection": True}
        listed = await answers.ask(LIST, owner.token)
        assert listed["data"]["providerConnections"] == []

    logs = debug_logs.readouterr()
    # The model service's access lines of the very calls that carried the key: the grep below reads them.
    assert "/geko.model.v1.ModelService/CreateProviderConnection" in logs.err
    for secret in (key, second_key):
        for body in answers.bodies:
            assert secret not in body
        assert secret not in logs.err
        assert secret not in logs.out
        assert secret not in stored
        for path in tmp_path.rglob("geko.db*"):
            assert secret.encode() not in path.read_bytes()
