"""One mapping of provider failures to our errors: status codes, error events, transport failures, waits, and
messages that never carry a key."""

from __future__ import annotations

import json

import httpx
import pytest

from services.providers.errors import (
    MAX_QUOTED_CHARS,
    error_for_event,
    error_for_status,
    error_for_transport,
    retry_after_seconds,
    sanitize,
)
from services.runtime.errors import ErrorCode

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"
OPENAI_BODY = json.dumps({"error": {"message": "bad things", "type": "invalid_request_error", "code": None}})


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (401, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_AUTH_FAILED"),
        (403, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_AUTH_FAILED"),
        (404, ErrorCode.NOT_FOUND, "PROVIDER_MODEL_NOT_FOUND"),
        (400, ErrorCode.BAD_USER_INPUT, "PROVIDER_REJECTED"),
        (422, ErrorCode.BAD_USER_INPUT, "PROVIDER_REJECTED"),
        (429, ErrorCode.RATE_LIMITED, "PROVIDER_RATE_LIMITED"),
        (500, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_ERROR"),
        (502, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_ERROR"),
        (529, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_ERROR"),
    ],
)
def test_each_status_has_its_code_and_reason(status: int, code: ErrorCode, reason: str) -> None:
    error = error_for_status(status, OPENAI_BODY, {})

    assert (error.code, error.reason) == (code, reason)


def test_a_rejection_quotes_the_providers_message() -> None:
    error = error_for_status(400, OPENAI_BODY, {})

    assert error.message == "the model provider rejected the request: bad things"


@pytest.mark.parametrize(
    "body",
    [
        '{"error": "model \\"llama9\\" not found, try pulling it first"}',
        '{"error": {"message": "The model `gpt-9` does not exist", "type": "invalid_request_error"}}',
        '{"error": {"message": "no", "type": "invalid_request_error", "code": "model_not_found"}}',
    ],
)
def test_a_model_not_found_body_is_not_found_whatever_the_status(body: str) -> None:
    error = error_for_status(400, body, {})

    assert (error.code, error.reason) == (ErrorCode.NOT_FOUND, "PROVIDER_MODEL_NOT_FOUND")


def test_the_key_and_key_like_strings_never_reach_a_message() -> None:
    body = json.dumps({"error": {"message": f"bad key {KEY}, header Bearer {KEY} and sk-other-1234567890"}})

    error = error_for_status(400, body, {}, api_key=KEY)

    assert KEY not in error.message
    assert "sk-other-1234567890" not in error.message
    assert "[redacted]" in error.message


def test_a_sanitized_message_is_short_and_on_one_line() -> None:
    text = sanitize("line one\nline two\x00" + " word" * 200)

    assert len(text) == MAX_QUOTED_CHARS
    assert "\n" not in text
    assert "\x00" not in text
    assert text.startswith("line one line two")


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7),
        ({"retry-after": "0.2"}, 1),
        ({"retry-after-ms": "2500", "retry-after": "60"}, 3),
        ({"retry-after": "Thu, 01 Jan 2026 00:00:30 GMT"}, 30),
        ({"x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "20ms"}, 360),
        ({"anthropic-ratelimit-requests-reset": "2026-01-01T00:00:42Z"}, 42),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_from_the_standard_and_the_providers_headers(
    headers: dict[str, str], seconds: int | None
) -> None:
    now = 1_767_225_600.0  # 2026-01-01T00:00:00Z

    assert retry_after_seconds(headers, now=now) == seconds


def test_a_rate_limit_carries_its_wait() -> None:
    error = error_for_status(429, "{}", {"retry-after": "12"})

    assert error.retry_after_seconds == 12


@pytest.mark.parametrize(
    ("payload", "code", "reason"),
    [
        (
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
            ErrorCode.UPSTREAM_UNAVAILABLE,
            "PROVIDER_ERROR",
        ),
        (
            {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}},
            ErrorCode.RATE_LIMITED,
            "PROVIDER_RATE_LIMITED",
        ),
        (
            {"type": "error", "error": {"type": "invalid_request_error", "message": "too long"}},
            ErrorCode.BAD_USER_INPUT,
            "PROVIDER_REJECTED",
        ),
        (
            {"error": {"message": "boom", "type": "server_error", "code": None}},
            ErrorCode.UPSTREAM_UNAVAILABLE,
            "PROVIDER_ERROR",
        ),
        (
            {"error": {"message": "x", "type": "tokens", "code": "rate_limit_exceeded"}},
            ErrorCode.RATE_LIMITED,
            "PROVIDER_RATE_LIMITED",
        ),
        ({"error": "something odd happened"}, ErrorCode.UPSTREAM_UNAVAILABLE, "PROVIDER_ERROR"),
    ],
)
def test_an_error_event_inside_a_stream_maps_like_its_status(
    payload: dict[str, object], code: ErrorCode, reason: str
) -> None:
    error = error_for_event(payload)

    assert (error.code, error.reason) == (code, reason)


@pytest.mark.parametrize(
    ("failure", "started", "reason"),
    [
        (httpx.ConnectError("refused"), False, "PROVIDER_UNREACHABLE"),
        (httpx.ConnectTimeout("slow"), False, "PROVIDER_TIMEOUT"),
        (httpx.ReadTimeout("slow"), True, "PROVIDER_TIMEOUT"),
        (httpx.RemoteProtocolError("peer closed"), True, "PROVIDER_STREAM_CUT"),
        (httpx.ReadError("reset"), True, "PROVIDER_STREAM_CUT"),
    ],
)
def test_transport_failures_say_whether_the_provider_was_unreachable_slow_or_cut_off(
    failure: httpx.TransportError, started: bool, reason: str
) -> None:
    error = error_for_transport(failure, started=started)

    assert (error.code, error.reason) == (ErrorCode.UPSTREAM_UNAVAILABLE, reason)
    assert str(failure) not in error.message


def test_a_rejection_that_mentions_the_model_is_still_a_rejection() -> None:
    body = json.dumps(
        {"error": {"message": "This model's maximum context length is 8192 tokens", "type": None}}
    )

    error = error_for_status(400, body, {})

    assert (error.code, error.reason) == (ErrorCode.BAD_USER_INPUT, "PROVIDER_REJECTED")
