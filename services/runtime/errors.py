"""One error type for the whole platform, and its mapping to gRPC status codes.

Domain code raises a `GekoError` subclass; the server interceptor turns it into a gRPC status plus a
`geko-error-bin` trailer (a `geko.common.v1.ErrorDetail`), and `from_rpc_error` turns that back into the same
`GekoError` on the calling side, so the gateway can show `extensions.code` without parsing message text.
"""

from __future__ import annotations

from enum import StrEnum

import grpc

from geko.common.v1 import common_pb2

ERROR_TRAILER = "geko-error-bin"


class ErrorCode(StrEnum):
    """The public error codes of DESIGN.md §5, shown to clients as GraphQL `extensions.code`."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    CONFLICT = "CONFLICT"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    MODEL_NOT_ALLOWED = "MODEL_NOT_ALLOWED"
    RATE_LIMITED = "RATE_LIMITED"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    INTERNAL = "INTERNAL"


STATUS_OF_CODE: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.BAD_USER_INPUT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.QUOTA_EXCEEDED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.BUDGET_EXCEEDED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.MODEL_NOT_ALLOWED: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.UPSTREAM_UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
}

# For a status that arrives without our trailer (a peer's own failure, a deadline, an unimplemented RPC).
CODE_OF_STATUS: dict[grpc.StatusCode, ErrorCode] = {
    grpc.StatusCode.UNAUTHENTICATED: ErrorCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED: ErrorCode.FORBIDDEN,
    grpc.StatusCode.NOT_FOUND: ErrorCode.NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT: ErrorCode.BAD_USER_INPUT,
    grpc.StatusCode.OUT_OF_RANGE: ErrorCode.BAD_USER_INPUT,
    grpc.StatusCode.ALREADY_EXISTS: ErrorCode.CONFLICT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ErrorCode.RATE_LIMITED,
    grpc.StatusCode.UNAVAILABLE: ErrorCode.UPSTREAM_UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: ErrorCode.UPSTREAM_UNAVAILABLE,
}


class GekoError(Exception):
    """A failure the caller should see, with a public code and a message safe to show."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        retry_after_seconds: int | None = None,
        upgrade_url: str | None = None,
        reason: str | None = None,
        code: ErrorCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.retry_after_seconds = retry_after_seconds
        self.upgrade_url = upgrade_url
        self.reason = reason
        if code is not None:
            self.code = code

    @property
    def status(self) -> grpc.StatusCode:
        return STATUS_OF_CODE[self.code]

    def to_detail(self) -> common_pb2.ErrorDetail:
        return common_pb2.ErrorDetail(
            code=self.code.value,
            message=self.message,
            field=self.field or "",
            retry_after_seconds=self.retry_after_seconds or 0,
            upgrade_url=self.upgrade_url or "",
            reason=self.reason or "",
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.value}: {self.message!r})"


class Unauthenticated(GekoError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(GekoError):
    code = ErrorCode.FORBIDDEN


class NotFound(GekoError):
    code = ErrorCode.NOT_FOUND


class BadInput(GekoError):
    """Bad request data; `field` names the input field at fault."""

    code = ErrorCode.BAD_USER_INPUT


class Conflict(GekoError):
    code = ErrorCode.CONFLICT


class QuotaExceeded(GekoError):
    code = ErrorCode.QUOTA_EXCEEDED


class BudgetExceeded(GekoError):
    code = ErrorCode.BUDGET_EXCEEDED


class ModelNotAllowed(GekoError):
    code = ErrorCode.MODEL_NOT_ALLOWED


class RateLimited(GekoError):
    code = ErrorCode.RATE_LIMITED


class UpstreamUnavailable(GekoError):
    code = ErrorCode.UPSTREAM_UNAVAILABLE


class InternalError(GekoError):
    code = ErrorCode.INTERNAL


def error_from_detail(detail: common_pb2.ErrorDetail) -> GekoError:
    """Rebuild the error a peer raised from its trailer."""
    try:
        code = ErrorCode(detail.code)
    except ValueError:
        code = ErrorCode.INTERNAL
    return GekoError(
        detail.message or code.value.lower().replace("_", " "),
        code=code,
        field=detail.field or None,
        retry_after_seconds=detail.retry_after_seconds or None,
        upgrade_url=detail.upgrade_url or None,
        reason=detail.reason or None,
    )


def from_rpc_error(error: grpc.aio.AioRpcError) -> GekoError:
    """Turn a failed call into a `GekoError`; raw peer text never reaches clients for unknown failures."""
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key == ERROR_TRAILER and isinstance(value, bytes):
            return error_from_detail(common_pb2.ErrorDetail.FromString(value))
    status = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    code = CODE_OF_STATUS.get(status, ErrorCode.INTERNAL)
    messages = {
        ErrorCode.UPSTREAM_UNAVAILABLE: "a service is unavailable, try again",
        ErrorCode.INTERNAL: "internal error",
    }
    if status == grpc.StatusCode.UNIMPLEMENTED:
        return GekoError("not implemented yet", code=ErrorCode.INTERNAL)
    details = error.details() if hasattr(error, "details") else None
    return GekoError(messages.get(code) or details or code.value.lower(), code=code)
