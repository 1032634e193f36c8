"""Type aliases shared by the runtime and the services (one tiny module, like starlette.types)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeAlias

import grpc

# gRPC metadata as callers pass it: pairs of key and text (or bytes, for `-bin` keys).
Metadata: TypeAlias = Iterable[tuple[str, str | bytes]]
# The `add_<Name>Servicer_to_server` function generated for a service.
AddServicerFn: TypeAlias = Callable[[Any, grpc.aio.Server], None]
# The context grpc.aio hands a servicer method. Its message type parameters matter only to `read`/`write`,
# which unary servicers never call; a streaming servicer may spell them out.
ServicerContext: TypeAlias = grpc.aio.ServicerContext[Any, Any]
# Fetches the auth service's JWK set, as JSON text.
JwksFetcher: TypeAlias = Callable[[], Awaitable[str]]
