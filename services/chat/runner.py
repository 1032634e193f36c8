"""One chat turn end to end (DESIGN.md §2): checks and reservation → provider stream → settlement.

The turn runs in a task of its own, detached from the call that started it: a client that goes away does not
stop it at once (see registry.py's grace period), and whatever ends it — done, provider failure, cancel,
client gone — it is settled exactly once: usage committed under the turn id (or queued in the outbox when
billing is unreachable), or the reservation released when the provider produced nothing; the messages stored;
audited; and exactly one terminal event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from geko.billing.v1 import billing_pb2, billing_pb2_grpc
from geko.chat.v1 import chat_pb2
from geko.memory.v1 import memory_pb2, memory_pb2_grpc
from services.chat import events
from services.chat.audit import AuditBatcher
from services.chat.preflight import Preflight, Prepared, TurnRequest
from services.chat.registry import TurnRegistry
from services.chat.turn import Turn, TurnOwner
from services.chat.upstreams import Upstreams
from services.events.audit import AuditAction, record_audit
from services.events.usage import queue_usage_commit
from services.providers.base import ChatRequest, StreamEnd, TextDelta, ToolCallDelta
from services.runtime.access import require_user
from services.runtime.eager import start_eagerly
from services.runtime.errors import ErrorCode, GekoError, InternalError, UpstreamUnavailable
from services.runtime.ids import new_id
from services.runtime.logging import get_logger
from services.runtime.messages import timestamp
from services.runtime.server import ServiceDeps
from services.runtime.token_estimate import estimate_tokens

log = get_logger(__name__)

SERVICE = "chat"
# Billing failures that mean "not now" rather than "never": the usage goes to the outbox.
RETRYABLE_BILLING = frozenset({ErrorCode.UPSTREAM_UNAVAILABLE, ErrorCode.INTERNAL})
# The first streamed items of a turn each yield the loop, whether or not a reader was waiting (see `_stream`).
EARLY_ITEMS_YIELDED = 8


@dataclass
class Outcome:
    """What the provider call produced, filled in as it streams (so a cancelled call keeps its part)."""

    parts: list[str] = field(default_factory=list)
    end: StreamEnd | None = None
    failure: GekoError | None = None
    cancelled: bool = False

    @property
    def text(self) -> str:
        return "".join(self.parts)


class _Started:
    """The question's store: a task started with the provider call, after its request went out (or at
    settlement when no request did). Once stored it announces the turn itself, in the same loop round: the
    answer streams after that, and waits for it only when its first token comes first."""

    def __init__(self, start: Callable[[], Coroutine[Any, Any, bool]], then: Callable[[], None]) -> None:
        self._start = start
        self._then = then
        self._task: asyncio.Task[bool] | None = None
        self._ended = asyncio.Event()

    @property
    def started(self) -> bool:
        return self._task is not None

    def task(self) -> asyncio.Task[bool]:
        if self._task is None:
            self._task = asyncio.create_task(self._run())
            self._task.add_done_callback(lambda _: self._ended.set())  # also when cancelled before it ran
        return self._task

    async def _run(self) -> bool:
        try:
            stored = await self._start()
            self._then()
            return stored
        finally:
            self._ended.set()

    async def outcome(self) -> bool:
        """The task's result, waited for without cancelling the task when the waiter is cancelled. What
        `asyncio.shield` does, one loop round sooner: the task sets the event itself, where shield's two
        callbacks take a round each."""
        task = self.task()
        if not task.done():
            await self._ended.wait()
        return task.result()


class TurnRunner:
    def __init__(self, deps: ServiceDeps, registry: TurnRegistry) -> None:
        self._deps = deps
        self._registry = registry
        self._preflight = Preflight(deps.channels, deps.settings, deps.backends.cache)
        self._upstreams = Upstreams(deps.secret_box)
        self._audits = AuditBatcher(deps.database)
        # While a turn's provider call streams: its task, and whether this runner cancelled that call.
        self._generations: dict[str, asyncio.Task[Any]] = {}
        self._cancelling: set[str] = set()
        self._cancel_requested: set[str] = set()  # cancelled before the provider call began
        self._running: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

    async def begin(self, request: TurnRequest) -> Turn:
        """Registers the turn and starts it in the background; its events flow through the returned Turn."""
        principal = require_user()
        owner = TurnOwner(principal.tenant_id or "", principal.user_id or "", request.workspace_id)
        turn = Turn(request.turn_id, owner)
        await self._registry.start(turn, lambda: self._cancel(turn.id))
        # Eager (eager.py): the checks, the reservation and the provider request run in this loop round.
        task = start_eagerly(self._run(turn, request), name=f"geko-chat-turn-{turn.id}")
        self._running.add(task)

        def finished(done: asyncio.Task[None]) -> None:
            self._running.discard(done)
            self._cancel_requested.discard(turn.id)
            self._cancelling.discard(turn.id)

        task.add_done_callback(finished)
        return turn

    def _cancel(self, turn_id: str) -> None:
        generation = self._generations.get(turn_id)
        if generation is None:
            self._cancel_requested.add(turn_id)
        elif turn_id not in self._cancelling:
            self._cancelling.add(turn_id)
            generation.cancel()

    async def _run(self, turn: Turn, request: TurnRequest) -> None:
        try:
            prepared = await self._preflight.prepare(request)
        except GekoError as error:
            if error.code in events.TERMINAL_CODES:
                turn.emit(events.failed(error))
            else:
                turn.reject(error)
            return
        except Exception:
            log.exception("chat_preflight_failed", turn_id=turn.id)
            turn.emit(events.failed(InternalError("the turn could not start")))
            return
        # Ids in this order, so the question sorts before the answer.
        prompt_id, message_id = new_id(), new_id()

        def announce() -> None:
            if not turn.events:  # ChatStarted is the first event, and comes once
                turn.emit(events.started(prepared, message_id))

        prompt = _Started(lambda: self._store_prompt(prepared, prompt_id), then=announce)
        outcome = await self._generate(turn, prepared, prompt)
        if prompt.started:  # ChatStarted names a conversation that exists: after the question's store
            with suppress(Exception):  # what it raised is settlement's to report (`_store_answer`)
                await prompt.outcome()
        announce()  # when the provider call failed before, or never began
        try:
            await self._settle(turn, prepared, outcome, prompt, message_id)
        except Exception:
            # E.g. billing down and the outbox not writable either: the turn still has to end for its readers.
            log.exception("chat_settle_failed", turn_id=turn.id)
            if not turn.finished:
                turn.emit(events.failed(InternalError("the turn could not be settled")))

    async def _generate(self, turn: Turn, prepared: Prepared, prompt: _Started) -> Outcome:
        outcome = Outcome()
        if turn.id in self._cancel_requested:
            outcome.cancelled = True
            return outcome
        # The provider call runs in the turn's task (one of its own cost a loop round on the way to the first
        # token). Cancelling the call cancels this task while it streams; the cancellation is taken back once
        # the call stopped, and the turn settles.
        current = asyncio.current_task()
        assert current is not None
        self._generations[turn.id] = current
        try:
            await self._stream(turn, prepared, outcome, prompt)
        except asyncio.CancelledError:
            if turn.id not in self._cancelling:
                raise  # the turn's own task is cancelled: the process is stopping
            outcome.cancelled = True
        except GekoError as error:
            outcome.failure = error
        except Exception:
            log.exception("chat_provider_call_failed", turn_id=turn.id)
            outcome.failure = UpstreamUnavailable("the model provider failed")
        finally:
            self._generations.pop(turn.id, None)
        if turn.id in self._cancelling:
            self._cancelling.discard(turn.id)
            if current.uncancel() > 0:  # cancelled by the stopping process too
                raise asyncio.CancelledError
        return outcome

    async def _stream(self, turn: Turn, prepared: Prepared, outcome: Outcome, prompt: _Started) -> None:
        """The provider call. Its request goes out first, then the question is stored while the provider
        thinks (a store on the inline SQLite does not yield, so started first it would delay the request);
        the answer streams after ChatStarted, which the store announces."""
        adapter = self._upstreams.adapter(prepared.route)
        request = ChatRequest(
            model=prepared.model.name,
            messages=prepared.messages,
            max_output_tokens=prepared.max_output_tokens,
        )
        stream: AsyncIterator[Any] = adapter.stream(request)
        prompt.task()  # runs in the next loop round: this one sends the request
        # A reader woken by a token (it was idle) sends it before the next ones pile up; the first items yield
        # one by one, so the first delta travels on (a hop per yield: reader, gateway, WebSocket) before a
        # burst already buffered behind it is parsed whole.
        early = EARLY_ITEMS_YIELDED
        try:
            async for item in stream:
                if not turn.events:
                    await prompt.outcome()
                if self._take(turn, outcome, item) or early > 0:
                    await asyncio.sleep(0)
                early -= 1
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    @staticmethod
    def _take(turn: Turn, outcome: Outcome, item: Any) -> bool:
        """Files one streamed item; True when an idle reader was woken by it (plain, not a coroutine: it runs
        for every token)."""
        if isinstance(item, TextDelta):
            outcome.parts.append(item.text)
            return turn.add_text(item.text)
        if isinstance(item, ToolCallDelta):
            call = item.call
            turn.emit(
                chat_pb2.ChatEvent(
                    tool_call=chat_pb2.ChatToolCall(
                        id=call.id, name=call.name, arguments_json=call.arguments_json
                    )
                )
            )
        elif isinstance(item, StreamEnd):
            outcome.end = item
        return False

    async def _settle(
        self,
        turn: Turn,
        prepared: Prepared,
        outcome: Outcome,
        prompt: _Started,
        message_id: str,
    ) -> None:
        text = outcome.text
        exact = outcome.end.usage if outcome.end is not None else None
        produced = bool(text) or outcome.end is not None
        input_tokens = exact.input_tokens if exact else (prepared.prompt_tokens if produced else 0)
        output_tokens = exact.output_tokens if exact else estimate_tokens(text)
        turn_usage = events.usage(input_tokens, output_tokens)
        if outcome.failure is not None:
            status = memory_pb2.MESSAGE_STATUS_FAILED
        elif outcome.cancelled or outcome.end is None:
            status = memory_pb2.MESSAGE_STATUS_CUT
        else:
            status = memory_pb2.MESSAGE_STATUS_COMPLETE
        used_at = datetime.now(UTC)
        commit, _ = await asyncio.gather(
            self._commit(prepared, input_tokens, output_tokens, used_at)
            if produced
            else self._release(prepared),
            self._store_answer(prepared, prompt, message_id, text, turn_usage, status),
        )
        if outcome.failure is not None:
            turn.emit(events.failed(outcome.failure, turn_usage, commit))
        else:
            if outcome.cancelled or outcome.end is None:
                finish = chat_pb2.FINISH_REASON_CANCELLED
            else:
                finish = events.FINISH_REASONS.get(outcome.end.finish_reason, chat_pb2.FINISH_REASON_STOP)
            turn.emit(events.completed(message_id, turn_usage, commit, finish))
        if produced:
            await self._audit(prepared, turn_usage, commit, status, outcome)

    def _billing(self) -> billing_pb2_grpc.BillingServiceStub:
        return self._deps.channels.stub("billing", billing_pb2_grpc.BillingServiceStub)

    def _memory(self) -> memory_pb2_grpc.MemoryServiceStub:
        return self._deps.channels.stub("memory", memory_pb2_grpc.MemoryServiceStub)

    async def _commit(
        self, prepared: Prepared, input_tokens: int, output_tokens: int, used_at: datetime
    ) -> billing_pb2.CommitUsageResponse | None:
        """The turn's usage, once (keyed by the turn id); into the outbox when billing cannot take it now.
        None when it went to the outbox (or could not be committed at all)."""
        request = billing_pb2.CommitUsageRequest(
            reservation_id=prepared.reservation_id,
            idempotency_key=prepared.request.turn_id,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            model_id=prepared.request.model_id,
            workspace_id=prepared.request.workspace_id,
            user_id=prepared.user_id,
            usage_time=timestamp(used_at),
        )
        try:
            response: billing_pb2.CommitUsageResponse = await self._billing().CommitUsage(request)
            return response
        except GekoError as error:
            if error.code not in RETRYABLE_BILLING:
                log.error("chat_usage_refused", turn_id=prepared.request.turn_id, error=error.message)
                return None
            log.warning("chat_usage_queued", turn_id=prepared.request.turn_id, error=error.message)
        request.tenant_id = prepared.tenant_id
        await queue_usage_commit(self._deps.database, SERVICE, request)
        return None

    async def _release(self, prepared: Prepared) -> None:
        """Nothing was produced: the reservation goes back (the sweeper does it if this fails)."""
        try:
            await self._billing().ReleaseReservation(
                billing_pb2.ReleaseReservationRequest(reservation_id=prepared.reservation_id)
            )
        except GekoError as error:
            log.warning("chat_release_failed", turn_id=prepared.request.turn_id, error=error.message)

    async def _store(
        self, prepared: Prepared, *, create: bool, message: memory_pb2.AppendMessageRequest
    ) -> bool:
        """Appends one message (creating a new conversation under the id ChatStarted announced). A memory
        failure is logged, never turned into a failed turn: the answer was streamed and billed."""
        message.turn_id = prepared.request.turn_id
        try:
            await self._memory().AppendMessages(
                memory_pb2.AppendMessagesRequest(
                    workspace_id=prepared.request.workspace_id,
                    conversation_id=prepared.conversation_id,
                    create_conversation=create,
                    messages=[message],
                )
            )
        except GekoError as error:
            log.error("chat_message_not_stored", turn_id=prepared.request.turn_id, error=error.message)
            return False
        return True

    async def _store_prompt(self, prepared: Prepared, prompt_id: str) -> bool:
        return await self._store(
            prepared,
            create=prepared.new_conversation,
            message=memory_pb2.AppendMessageRequest(
                message_id=prompt_id,
                role=memory_pb2.MESSAGE_ROLE_USER,
                content=prepared.request.message,
                status=memory_pb2.MESSAGE_STATUS_COMPLETE,
            ),
        )

    async def _store_answer(
        self,
        prepared: Prepared,
        prompt: _Started,
        message_id: str,
        text: str,
        turn_usage: chat_pb2.Usage,
        status: memory_pb2.MessageStatus,
    ) -> None:
        """The answer, after the question (so the conversation reads in order). A conversation deleted
        while its turn ran stays deleted: only a question that could not be stored lets the answer create
        it."""
        asked = await prompt.task()
        await self._store(
            prepared,
            create=prepared.new_conversation and not asked,
            message=memory_pb2.AppendMessageRequest(
                message_id=message_id,
                role=memory_pb2.MESSAGE_ROLE_ASSISTANT,
                content=text,
                model_id=prepared.request.model_id,
                input_tokens=turn_usage.input_tokens,
                output_tokens=turn_usage.output_tokens,
                status=status,
            ),
        )

    async def _audit(
        self,
        prepared: Prepared,
        turn_usage: chat_pb2.Usage,
        commit: billing_pb2.CommitUsageResponse | None,
        status: memory_pb2.MessageStatus,
        outcome: Outcome,
    ) -> None:
        details: dict[str, object] = {
            "model": prepared.request.model_id,
            "conversation_id": prepared.conversation_id,
            "input_tokens": turn_usage.input_tokens,
            "output_tokens": turn_usage.output_tokens,
            "cost_micros": commit.record.cost_micros if commit is not None else None,
            "status": memory_pb2.MessageStatus.Name(status).removeprefix("MESSAGE_STATUS_").lower(),
        }
        if outcome.failure is not None:
            details["error"] = outcome.failure.code.value
        await self._audits.record(
            lambda session: record_audit(
                session,
                service=SERVICE,
                action=AuditAction.CHAT_COMPLETED,
                tenant_id=prepared.tenant_id,
                workspace_id=prepared.request.workspace_id,
                resource_type="chat_turn",
                resource_id=prepared.request.turn_id,
                actor_user_id=prepared.user_id,
                details=details,
            )
        )

    async def aclose(self) -> None:
        await self._audits.aclose()
        await self._upstreams.aclose()
