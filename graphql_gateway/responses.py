"""JSON answers the gateway writes itself, in the shape of a GraphQL response, for requests it refuses."""

from __future__ import annotations

from starlette.responses import JSONResponse

from services.runtime.errors import ErrorCode


def graphql_error_response(message: str, code: ErrorCode, status_code: int) -> JSONResponse:
    """`{"errors": [{"message", "extensions": {"code"}}]}` with an HTTP status, so clients parse one shape."""
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code.value}}]}
    return JSONResponse(body, status_code=status_code)
