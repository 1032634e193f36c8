"""Structured logs: one JSON object per line (or readable lines in development), secrets never included.

Every line carries the request id, user and tenant of the RPC or HTTP request it belongs to (read from the
ContextVars in `context.py`), so one request can be followed across services by its id. Libraries that log
through the standard `logging` module come out in the same format.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

from services.runtime.context import current_principal, current_request_id
from services.runtime.settings import Settings

REDACTED = "[redacted]"
_SENSITIVE_KEYS = frozenset(
    {
        "authorization",
        "password",
        "token",
        "api_key",
        "apikey",
        "secret",
        "secret_key",
        "cookie",
        "set_cookie",
        "private_key",
        "key_material",
    }
)
_SENSITIVE_SUFFIXES = ("_password", "_token", "_secret", "_api_key", "_private_key")
# Bearer credentials, JWTs and our API keys, wherever they appear inside a string.
_SECRET_IN_TEXT = re.compile(
    r"(?i)bearer\s+\S+|eyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*|\bgk_[A-Za-z0-9_-]{8,}",
)


def is_sensitive_key(key: str) -> bool:
    normalized = key.lower().replace("-", "_")
    return normalized in _SENSITIVE_KEYS or normalized.endswith(_SENSITIVE_SUFFIXES)


def redact(value: Any) -> Any:
    """A copy of `value` with sensitive keys masked and credentials cut out of strings."""
    if isinstance(value, str):
        return _SECRET_IN_TEXT.sub(REDACTED, value)
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and is_sensitive_key(k) else redact(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


def _redact_processor(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    for key, value in list(event_dict.items()):
        if is_sensitive_key(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str | Mapping | list | tuple):
            event_dict[key] = redact(value)
    return event_dict


def _add_request_context(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    request_id = current_request_id.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    principal = current_principal.get()
    if principal is not None:
        event_dict.setdefault("user_id", principal.user_id)
        event_dict.setdefault("tenant_id", principal.tenant_id)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        _add_request_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
    ]


def configure_logging(settings: Settings) -> None:
    """Route structlog and standard logging through one handler on stderr, at `settings.log_level`."""
    renderer: Processor
    if settings.log_json:
        renderer = structlog.processors.JSONRenderer()
        final: list[Processor] = [structlog.processors.format_exc_info, _redact_processor, renderer]
    else:
        # Plain tracebacks: the rich default prints local variables, which may hold secrets.
        renderer = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
        final = [_redact_processor, renderer]

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # drop disabled levels before any processing
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: module-level loggers made before this call must pick up the configuration too.
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level.upper())
    # Chatty libraries: their INFO lines say nothing an operator needs.
    for name in ("sqlalchemy.engine", "aiosqlite", "grpc", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def get_logger(name: str | None = None, **initial: Any) -> Any:
    """A structlog logger; lines carry request id / user / tenant automatically once logging is configured."""
    return structlog.get_logger(name, **initial)
