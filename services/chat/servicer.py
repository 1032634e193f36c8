"""ChatService over gRPC: start a turn and stream its events, resume one, cancel one. The turn itself is
runner.py's; this module only validates, checks who may see a turn, and relays its events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from geko.chat.v1 import chat_pb2, chat_pb2_grpc
from services.chat.preflight import validate
from services.chat.registry import TurnRegistry, decode_event, is_terminal, log_stream
from services.chat.runner import TurnRunner
from services.chat.turn import Turn, TurnOwner
from services.runtime.access import require_user
from services.runtime.errors import BadInput, NotFound, UpstreamUnavailable
from services.runtime.ids import named_id
from services.runtime.server import ServiceDeps, ServiceRegistration
from services.runtime.types import ServicerContext

SERVICE_NAME = chat_pb2.DESCRIPTOR.services_by_name["ChatService"].full_name
# A resumed turn running in another process that sends nothing for this long is given up on.
REMOTE_SILENCE_SECONDS = 300.0


class ChatServicer(chat_pb2_grpc.ChatServiceServicer):
    def __init__(self, deps: ServiceDeps) -> None:
        settings = deps.settings
        self._deps = deps
        self._registry = TurnRegistry(
            deps.backends,
            grace_seconds=settings.chat_resume_grace_seconds,
            ttl_seconds=settings.chat_event_ttl_seconds,
        )
        self._runner = TurnRunner(deps, self._registry)

    async def StreamChat(
        self, request: chat_pb2.StreamChatRequest, context: ServicerContext
    ) -> AsyncIterator[chat_pb2.StreamChatResponse]:
        turn_request = validate(request)
        turn_id = turn_request.turn_id
        if request.turn_id.strip() and not await self._registry.claim(turn_id):
            # A retried start (here or on another replica): replay the turn, never run it twice.
            owner = await self._registry.wait_owner(turn_id)
            if owner is None:
                raise UpstreamUnavailable("the turn with this turnId did not start; try again")
            _check_owner(owner, turn_id)
            async for event in self._follow(turn_id, 0):
                yield chat_pb2.StreamChatResponse(event=event)
            return
        turn = await self._runner.begin(turn_request)
        async for event in self._read_local(turn, 0):
            yield chat_pb2.StreamChatResponse(event=event)

    async def ResumeChat(
        self, request: chat_pb2.ResumeChatRequest, context: ServicerContext
    ) -> AsyncIterator[chat_pb2.ResumeChatResponse]:
        turn_id = _turn_id(request.turn_id)
        if request.after_sequence < 0:
            raise BadInput("afterSeq must not be negative", field="afterSeq")
        owner = await self._registry.owner(turn_id)
        if owner is None:
            raise NotFound("turn not found (or no longer resumable)")
        _check_owner(owner, turn_id)
        async for event in self._follow(turn_id, request.after_sequence):
            yield chat_pb2.ResumeChatResponse(event=event)

    async def CancelChat(
        self, request: chat_pb2.CancelChatRequest, context: ServicerContext
    ) -> chat_pb2.CancelChatResponse:
        turn_id = _turn_id(request.turn_id)
        owner = await self._registry.owner(turn_id)
        if owner is None:
            raise NotFound("turn not found")
        _check_owner(owner, turn_id)
        turn = self._registry.get(turn_id)
        if turn is not None:
            running = not turn.finished
        else:
            running = not await self._ended_by(turn_id, await self._last_seq(turn_id))
        if running:
            await self._registry.cancel(turn_id)
        return chat_pb2.CancelChatResponse(cancelled=running)

    async def _last_seq(self, turn_id: str) -> int:
        return await self._deps.backends.event_log.last_seq(log_stream(turn_id))

    async def _ended_by(self, turn_id: str, seq: int) -> bool:
        """Whether the recorded turn ended at or before `seq` (a client that already has everything)."""
        last = await self._last_seq(turn_id)
        if last == 0 or last > seq:
            return False
        recorded = await self._deps.backends.event_log.read(log_stream(turn_id), last - 1)
        return bool(recorded) and is_terminal(decode_event(recorded[-1][1]))

    async def _read_local(self, turn: Turn, after: int) -> AsyncIterator[chat_pb2.ChatEvent]:
        """The events of a turn running here, coalesced as this reader is ready for them."""
        self._registry.attach(turn)
        try:
            seq = after
            while True:
                batch = await turn.wait_after(seq)
                if not batch:
                    if turn.error is not None:
                        raise turn.error
                    return
                for event in batch:
                    yield event
                seq = batch[-1].sequence
        finally:
            self._registry.detach(turn)

    async def _follow(self, turn_id: str, after: int) -> AsyncIterator[chat_pb2.ChatEvent]:
        """A turn's events after `after`: from this process when it runs here, else from the event log,
        keeping the turn alive with heartbeats while this reader waits."""
        turn = self._registry.get(turn_id)
        if turn is not None:
            async for event in self._read_local(turn, after):
                yield event
            return
        event_log = self._deps.backends.event_log
        stream = log_stream(turn_id)
        seq = after
        loop = asyncio.get_running_loop()
        silent_since = loop.time()
        if await self._ended_by(turn_id, seq):
            return
        while True:
            await self._registry.heartbeat(turn_id)
            entries = await event_log.read(stream, seq, wait_seconds=self._registry.heartbeat_seconds)
            if not entries:
                if loop.time() - silent_since > REMOTE_SILENCE_SECONDS:
                    raise UpstreamUnavailable("the turn stopped answering")
                continue
            silent_since = loop.time()
            for seq_number, data in entries:
                event = decode_event(data)
                yield event
                seq = seq_number
                if is_terminal(event):
                    return

    async def aclose(self) -> None:
        await self._registry.aclose()
        await self._runner.aclose()


def _turn_id(raw: str) -> str:
    return named_id(raw, field="turnId", not_found="turn not found")


def _check_owner(owner: TurnOwner, turn_id: str) -> None:
    """Only the user who ran a turn sees it; to anyone else it does not exist."""
    principal = require_user()
    if owner.tenant_id != principal.tenant_id or owner.user_id != principal.user_id:
        raise NotFound("turn not found")


def create(deps: ServiceDeps) -> ServiceRegistration:
    servicer = ChatServicer(deps)
    return ServiceRegistration(
        name=SERVICE_NAME,
        servicer=servicer,
        add_to_server=chat_pb2_grpc.add_ChatServiceServicer_to_server,
        stop=servicer.aclose,
    )
