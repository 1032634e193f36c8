"""docs/api/schema.graphql is the schema the code builds; `--check` notices when it is not."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "export_schema.py"


@pytest.fixture
def export_schema():
    spec = importlib.util.spec_from_file_location("export_schema", SCRIPT)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_schema_is_current(export_schema) -> None:
    assert export_schema.main(["--check"]) == 0


def test_check_fails_on_a_stale_file_and_export_repairs_it(export_schema, tmp_path, monkeypatch) -> None:
    stale = tmp_path / "schema.graphql"
    stale.write_text("type Query { old: String }\n")
    monkeypatch.setattr(export_schema, "SCHEMA_PATH", stale)
    assert export_schema.main(["--check"]) == 1
    assert export_schema.main([]) == 0
    assert export_schema.main(["--check"]) == 0
    sdl = stale.read_text()
    for contract in (
        "register(input: RegisterInput!): AuthPayload!",
        "logout(refreshToken: String!): Boolean!",
        "me: User!",
        "enum Plan",
        "apiKeys: [ApiKey!]!",
        "revokeApiKey(id: ID!): ApiKey!",
        "createApiKey(input: CreateApiKeyInput!): CreateApiKeyPayload!",
        "type Subscription",
    ):
        assert contract in sdl, contract
