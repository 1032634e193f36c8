"""Type aliases shared by the runtime and the services (one tiny module, like starlette.types)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias

import grpc

# A gRPC metadata list as grpc.aio accepts and returns it.
Metadata: TypeAlias = Sequence[tuple[str, str | bytes]]
# The `add_XServicer_to_server` function generated for a service.
AddServicerFn: TypeAlias = Callable[[Any, grpc.aio.Server], None]
# Fetches the auth service's JWK set (JSON text).
JwksFetcher: TypeAlias = Callable[[], Awaitable[str]]
# Ids are UUID strings; an alias documents intent in signatures.
Id: TypeAlias = str
TenantId: TypeAlias = str
UserId: TypeAlias = str
