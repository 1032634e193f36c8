import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from services.runtime.context import Principal, current_principal, current_request_id
from services.runtime.logging import configure_logging, get_logger, redact
from services.runtime.settings import Settings


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_carry_request_context_and_hide_secrets(
    settings: Settings, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(settings)
    current_request_id.set("req-9")
    current_principal.set(
        Principal(user_id="u-1", tenant_id="t-1", role="admin", token="eyJhbGciOi.eyJzdWIi.c2ln")
    )

    get_logger("test").info(
        "login_attempt",
        email="a@example.com",
        password="hunter2",
        authorization="Bearer abc.def.ghi",
        headers={"Authorization": "Bearer x", "X-Api-Key": "k", "accept": "json"},
        note="called with Bearer sekrit-token-value and gk_live_abcdefghijkl",
        refresh_token="r-1",
        prompt_tokens=42,
    )
    line = _lines(capsys.readouterr().err)[-1]

    assert line["event"] == "login_attempt"
    assert line["level"] == "info"
    assert line["request_id"] == "req-9"
    assert (line["user_id"], line["tenant_id"]) == ("u-1", "t-1")
    assert "timestamp" in line
    assert line["password"] == line["authorization"] == line["refresh_token"] == "[redacted]"
    assert line["headers"] == {"Authorization": "[redacted]", "X-Api-Key": "[redacted]", "accept": "json"}
    assert "sekrit" not in str(line["note"])
    assert "gk_live" not in str(line["note"])
    assert line["prompt_tokens"] == 42
    assert line["email"] == "a@example.com"


def test_standard_library_logs_use_the_same_format(
    settings: Settings, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(settings)

    logging.getLogger("some.library").warning("disk %s is at %d%%", "/data", 91)
    line = _lines(capsys.readouterr().err)[-1]

    assert line["event"] == "disk /data is at 91%"
    assert line["level"] == "warning"
    assert line["logger"] == "some.library"


def test_human_readable_mode(
    settings: Settings, restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(settings.model_copy(update={"log_json": False}))

    get_logger("test").info("started", password="p4ss")
    text = capsys.readouterr().err

    assert "started" in text
    assert "p4ss" not in text
    assert not text.lstrip().startswith("{")


def test_redact_walks_nested_values() -> None:
    assert redact({"a": [{"api_key": "x"}, "Bearer abcdef"], "b": 1}) == {
        "a": [{"api_key": "[redacted]"}, "[redacted]"],
        "b": 1,
    }
