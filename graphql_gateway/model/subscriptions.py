"""Model subscriptions: an install job's progress, relayed from `ModelService.WatchInstallJob`."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import strawberry
from strawberry.types import Info

from geko.model.v1 import model_pb2
from graphql_gateway.connections import paging_arguments
from graphql_gateway.context import IsAuthenticated, context_of
from graphql_gateway.model.types import InstallProgress


@strawberry.type
class ModelSubscriptions:
    @strawberry.subscription(
        description=(
            "An install job's progress from its current state until READY or ERROR, then the stream "
            "completes; `percent` never decreases."
        ),
        permission_classes=[IsAuthenticated],
    )
    async def model_install_progress(
        self, info: Info, job_id: strawberry.ID
    ) -> AsyncIterator[InstallProgress]:
        ctx = context_of(info)
        call = ctx.model.WatchInstallJob(
            model_pb2.WatchInstallJobRequest(job_id=str(job_id)), metadata=ctx.metadata()
        )
        updates = aiter(call)
        try:
            # Read before the stream starts, so a refusal (unknown job, another tenant's) is the
            # subscription's `error`, not an event.
            with paging_arguments({"job_id": "jobId"}):
                first = await anext(updates, None)
        except BaseException:
            call.cancel()
            raise
        return _relay(call, updates, first)


async def _relay(
    call: Any,
    updates: AsyncIterator[model_pb2.WatchInstallJobResponse],
    first: model_pb2.WatchInstallJobResponse | None,
) -> AsyncGenerator[InstallProgress, None]:
    """The first update, then the rest as they arrive; the call is cancelled when the client unsubscribes."""
    try:
        if first is not None:
            yield InstallProgress.from_proto(first.progress)
        async for update in updates:
            yield InstallProgress.from_proto(update.progress)
    finally:
        call.cancel()
