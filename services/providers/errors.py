"""One mapping from what a provider answered (an HTTP status, an error event, a broken connection) to our
errors.

Every adapter raises through here, so the same upstream trouble reads the same whichever provider caused it.
`reason` tells callers which kind of trouble it was (the code alone is too coarse: a bad platform key and a
provider outage are both UPSTREAM_UNAVAILABLE, because the user can fix neither). Messages quote the provider
only after `sanitize`: truncated, control characters removed, anything key-like blanked.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Mapping
from datetime import datetime

import httpx

from services.runtime.errors import BadInput, GekoError, NotFound, RateLimited, UpstreamUnavailable

AUTH_FAILED = "PROVIDER_AUTH_FAILED"
RATE_LIMITED = "PROVIDER_RATE_LIMITED"
MODEL_NOT_FOUND = "PROVIDER_MODEL_NOT_FOUND"
REJECTED = "PROVIDER_REJECTED"
PROVIDER_ERROR = "PROVIDER_ERROR"
UNREACHABLE = "PROVIDER_UNREACHABLE"
TIMEOUT = "PROVIDER_TIMEOUT"
STREAM_CUT = "PROVIDER_STREAM_CUT"

MAX_QUOTED_CHARS = 300
# Provider keys and bearer credentials, wherever they show up in a quoted message.
_KEY_LIKE = re.compile(r"(?i)bearer\s+\S+|\b(?:sk|pk|rk|key)-[A-Za-z0-9_\-]{6,}|\b[A-Za-z0-9_\-]{40,}\b")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MODEL_MISSING = re.compile(r"(?i)model\b.*\b(?:not found|does not exist)|model_not_found")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# Error `type`s of the error objects providers put in bodies and stream events, as the HTTP status each
# stands for.
_STATUS_OF_ERROR_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "model_not_found": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "tokens": 429,
    "requests": 429,
    "api_error": 500,
    "server_error": 500,
    "overloaded_error": 529,
}


def sanitize(text: str, api_key: str | None = None) -> str:
    """A provider's message made safe to show: no key, no control characters, at most MAX_QUOTED_CHARS."""
    if api_key:
        text = text.replace(api_key, "[redacted]")
    text = _KEY_LIKE.sub("[redacted]", _CONTROL.sub(" ", text)).strip()
    if len(text) > MAX_QUOTED_CHARS:
        text = text[: MAX_QUOTED_CHARS - 1] + "…"
    return text


def error_for_status(
    status: int, body: str | bytes, headers: Mapping[str, str], *, api_key: str | None = None
) -> GekoError:
    """The error for a failed HTTP answer (status >= 400) with its body and headers."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    message, error_type = _provider_message(text)
    quoted = sanitize(message, api_key)
    if status in (401, 403):
        return UpstreamUnavailable(
            "the model provider refused the platform's credentials; an administrator must fix the key",
            reason=AUTH_FAILED,
        )
    if status == 429:
        return RateLimited(
            "the model provider is rate limiting requests, try again later",
            retry_after_seconds=retry_after_seconds(headers),
            reason=RATE_LIMITED,
        )
    if status == 404 or _MODEL_MISSING.search(f"{error_type} {message}"):
        detail = f": {quoted}" if quoted else ""
        return NotFound(f"the model provider does not know this model{detail}", reason=MODEL_NOT_FOUND)
    if status in (400, 413, 422):
        detail = quoted or f"HTTP {status}"
        return BadInput(f"the model provider rejected the request: {detail}", reason=REJECTED)
    return UpstreamUnavailable(f"the model provider failed (HTTP {status}), try again", reason=PROVIDER_ERROR)


def error_for_event(payload: object, *, api_key: str | None = None) -> GekoError:
    """The error for an error object that arrived inside a stream (Anthropic `event: error`, OpenAI
    `{"error":…}` data, Ollama `{"error": "…"}` lines): mapped as the HTTP status its type stands for."""
    text = json.dumps(payload)
    _, error_type = _provider_message(text)
    status = _STATUS_OF_ERROR_TYPE.get(error_type, 502)
    return error_for_status(status, text, {}, api_key=api_key)


def error_for_transport(error: httpx.TransportError, *, started: bool) -> GekoError:
    """The error for a failure of the connection itself; `started` says whether the answer had begun to arrive
    (a connection lost then is a cut stream, not an unreachable provider)."""
    if isinstance(error, httpx.TimeoutException):
        return UpstreamUnavailable("the model provider did not answer in time", reason=TIMEOUT)
    if started:
        return stream_cut()
    return UpstreamUnavailable("the model provider could not be reached", reason=UNREACHABLE)


def stream_cut() -> GekoError:
    return UpstreamUnavailable(
        "the model provider's answer broke off before its end, try again", reason=STREAM_CUT
    )


def malformed_answer() -> GekoError:
    return UpstreamUnavailable(
        "the model provider sent an answer that could not be read", reason=PROVIDER_ERROR
    )


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> int | None:
    """Seconds to wait, from `Retry-After` (seconds or an HTTP date), `retry-after-ms`, or the providers'
    own reset headers (OpenAI `x-ratelimit-reset-*` durations like "6m0s", Anthropic
    `anthropic-ratelimit-*-reset` times)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    now = time.time() if now is None else now
    seconds: float | None = None
    if "retry-after-ms" in lowered:
        seconds = _number(lowered["retry-after-ms"], scale=0.001)
    if seconds is None and "retry-after" in lowered:
        value = lowered["retry-after"]
        seconds = _number(value)
        if seconds is None:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - now
            except (TypeError, ValueError):
                seconds = None
    if seconds is None:
        waits = [_duration(v) for k, v in lowered.items() if k.startswith("x-ratelimit-reset")]
        waits += [
            _until(v, now)
            for k, v in lowered.items()
            if k.startswith("anthropic-ratelimit") and k.endswith("-reset")
        ]
        known = [wait for wait in waits if wait is not None]
        seconds = max(known) if known else None
    if seconds is None:
        return None
    return max(1, math.ceil(seconds))


def _provider_message(text: str) -> tuple[str, str]:
    """(message, error type) from the error bodies providers send: OpenAI `{"error": {"message", "type",
    "code"}}`, Anthropic `{"type": "error", "error": {"type", "message"}}`, Ollama `{"error": "…"}`."""
    try:
        data = json.loads(text)
    except ValueError:
        return text, ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):
        return error, ""
    if isinstance(error, dict):
        message = error.get("message")
        code = error.get("code")
        kind = code if isinstance(code, str) and code in _STATUS_OF_ERROR_TYPE else error.get("type")
        return (message if isinstance(message, str) else ""), (kind if isinstance(kind, str) else "")
    return text, ""


def _number(value: str, *, scale: float = 1.0) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number * scale if math.isfinite(number) and number >= 0 else None


def _duration(value: str) -> float | None:
    parts = _DURATION_PART.findall(value.strip())
    if not parts:
        return _number(value)
    return sum(float(amount) * _SECONDS_PER_UNIT[unit] for amount, unit in parts)


def _until(value: str, now: float) -> float | None:
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp() - now
    except ValueError:
        return None
