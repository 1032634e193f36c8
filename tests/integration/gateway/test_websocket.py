"""Subscriptions over a real WebSocket: graphql-transport-ws (and legacy graphql-ws), authenticated by the
connection_init payload {"authorization": "Bearer …"}."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.integration.gateway.conftest import Gateway

HEARTBEAT = "subscription($ms: Int!) { heartbeat(intervalMs: $ms) { time userId } }"


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message = await ws.recv()
    assert isinstance(message, str), "browser clients (graphql-ws) read text frames only"
    return json.loads(message)


async def open_transport_ws(gateway: Gateway, payload: dict[str, Any] | None) -> ClientConnection:
    ws = await connect(gateway.ws_url, subprotocols=["graphql-transport-ws"], open_timeout=5)
    await ws.send(
        json.dumps({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
    )
    return ws


async def test_heartbeat_over_graphql_transport_ws_with_a_bearer_in_connection_init(gateway: Gateway) -> None:
    session = await gateway.register()
    ws = await open_transport_ws(gateway, {"authorization": f"Bearer {session['accessToken']}"})
    async with ws:
        assert ws.subprotocol == "graphql-transport-ws"
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": HEARTBEAT, "variables": {"ms": 100}}}
            )
        )
        ticks = [await receive(ws) for _ in range(2)]
        for tick in ticks:
            assert tick["type"] == "next"
            assert tick["id"] == "1"
            assert tick["payload"]["data"]["heartbeat"]["userId"] == session["user"]["id"]
        first, second = (datetime.fromisoformat(t["payload"]["data"]["heartbeat"]["time"]) for t in ticks)
        assert second > first
        await ws.send(json.dumps({"id": "1", "type": "complete"}))


async def test_an_api_key_authenticates_a_websocket_too(gateway: Gateway) -> None:
    session = await gateway.register()
    created = await gateway.graphql(
        'mutation { createApiKey(input: {name: "ws", scopes: ["read"]}) { key } }', session["accessToken"]
    )
    ws = await open_transport_ws(
        gateway, {"authorization": f"Bearer {created['data']['createApiKey']['key']}"}
    )
    async with ws:
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send(
            json.dumps(
                {"id": "k", "type": "subscribe", "payload": {"query": HEARTBEAT, "variables": {"ms": 100}}}
            )
        )
        tick = await receive(ws)
        assert tick["payload"]["data"]["heartbeat"]["userId"] == session["user"]["id"]


@pytest.mark.parametrize("authorization", ["Bearer not-a-token", "Bearer a.b.c", "Basic dXNlcg==", 42])
async def test_an_invalid_token_in_connection_init_closes_the_connection(
    gateway: Gateway, authorization: Any
) -> None:
    ws = await open_transport_ws(gateway, {"authorization": authorization})
    async with ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_a_connection_without_credentials_gets_unauthenticated_for_the_heartbeat(
    gateway: Gateway,
) -> None:
    ws = await open_transport_ws(gateway, {})
    async with ws:
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send(
            json.dumps(
                {"id": "2", "type": "subscribe", "payload": {"query": HEARTBEAT, "variables": {"ms": 100}}}
            )
        )
        message = await receive(ws)
        assert message["type"] == "error"
        errors = message["payload"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_out_of_range_interval_is_bad_user_input_naming_the_field(gateway: Gateway) -> None:
    session = await gateway.register()
    ws = await open_transport_ws(gateway, {"authorization": f"Bearer {session['accessToken']}"})
    async with ws:
        assert await receive(ws) == {"type": "connection_ack"}
        await ws.send(
            json.dumps(
                {"id": "3", "type": "subscribe", "payload": {"query": HEARTBEAT, "variables": {"ms": 5}}}
            )
        )
        message = await receive(ws)
        assert message["type"] == "error"
        errors = message["payload"]
        assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "intervalMs"}


async def test_heartbeat_over_the_legacy_graphql_ws_protocol(gateway: Gateway) -> None:
    session = await gateway.register()
    async with connect(gateway.ws_url, subprotocols=["graphql-ws"], open_timeout=5) as ws:
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {session['accessToken']}"}}
            )
        )
        assert (await receive(ws))["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {"id": "1", "type": "start", "payload": {"query": HEARTBEAT, "variables": {"ms": 100}}}
            )
        )
        message = await receive(ws)
        while message["type"] == "ka":
            message = await receive(ws)
        assert message["type"] == "data"
        assert message["payload"]["data"]["heartbeat"]["userId"] == session["user"]["id"]
        await ws.send(json.dumps({"id": "1", "type": "stop"}))
