"""graphql-transport-ws as Strawberry speaks it, with each operation's task started eagerly.

Strawberry starts an operation (`subscribe`) with `asyncio.create_task`, whose first step waits for the next
loop round. Under load a round holds every ready callback of every open stream, so that wait was one of the
few rounds between a chat message arriving and its first token going out. `start_eagerly`
(services/runtime/eager.py) runs the operation's first step at once — parsing, validation, the resolver, and
for a chat turn its checks, its reservation and the provider request — as the operation's own task.
"""

from __future__ import annotations

import asyncio

from graphql import GraphQLError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from graphql_gateway.context import GatewayContext
from services.runtime.eager import start_eagerly


class EagerTransportWSHandler(BaseGraphQLTransportWSHandler[GatewayContext, None]):
    """Strawberry's handler; only `handle_subscribe` differs: the operation is registered before its task
    starts, since that task's first step may already finish it (an invalid query), which unregisters it."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Strawberry's checks (strawberry-graphql 0.341), unchanged.
        if not self.connection_acknowledged:
            await self.websocket.close(code=4401, reason="Unauthorized")
            return
        if message["id"] in self.operations:
            await self.websocket.close(code=4409, reason=f"Subscriber for {message['id']} already exists")
            return
        if (
            self.max_subscriptions_per_connection is not None
            and len(self.operations) >= self.max_subscriptions_per_connection
        ):
            error = GraphQLError("Subscription limit reached")
            await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
            return
        payload = message["payload"]
        operation: Operation[GatewayContext, None] = Operation(
            self, message["id"], payload["query"], payload.get("variables"), payload.get("operationName")
        )
        self.operations[message["id"]] = operation

        def bind(task: asyncio.Task[None]) -> None:
            operation.task = task

        task = start_eagerly(self.run_operation(operation), created=bind)
        task.add_done_callback(self._task_done)
