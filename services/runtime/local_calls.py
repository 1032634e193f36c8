"""In-process calls: services hosted in this process call each other without a socket.

Python gRPC has no in-process transport, and a call over loopback costs ~1-1.5 ms of CPU on both sides
(HTTP/2 framing, the C core's completion queue). When a `GrpcServer` publishes its routes
(`Channels.serve_locally`), stubs for its services are built on a `LocalChannel` instead, which keeps
everything but the socket:
- the protobuf contract: messages are serialized across the boundary, so neither side holds the other's
  objects;
- the server interceptor (request id, identity from the forwarded token, access log, metrics, error mapping),
  wrapped once per method;
- the client behaviour of clients.py: default deadline, outgoing metadata, failures raised as the peer's
  `GekoError` through `errors.from_rpc_error` (from the same status, details and trailers);
- the RPC's own context: the server's behaviour runs in a copy of the context the server was built in
  (grpc.aio's RPC tasks copy the server's), so the ContextVars it sets never reach the caller, nor the
  caller's it. A server stream runs in a task of its own (its first step at once: eager.py); a unary call
  runs in the task that awaits it (`_InContext`), which saves a task per call and changes nothing else: the
  caller waits for it anyway;
- flow control: a server stream hands over one message at a time, so a slow reader holds the writer back (the
  chat turn coalesces deltas meanwhile), and a reader's cancel reaches the servicer as a cancellation.
Health and reflection are not among a server's registrations: their stubs stay on the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc

from services.runtime.clients import outgoing_metadata
from services.runtime.eager import start_eagerly
from services.runtime.errors import GekoError, from_rpc_error
from services.runtime.interceptors import ServerInterceptor
from services.runtime.types import AddServicerFn, Metadata

# The servicer's peer: the caller is this process, i.e. loopback (rate limits and audit records key on it).
LOCAL_PEER = "ipv4:127.0.0.1:0"
# grpc.aio sends "grpc-python-asyncio/<version> grpc-c/<core> (linux; chttp2)"; only the transport differs.
LOCAL_USER_AGENT = f"grpc-python-asyncio/{grpc.__version__} (in-process)"
UNKNOWN_METHOD = "Method not found!"  # grpc's own details for an unknown method

Deserialize = Callable[[bytes], Any]
Serialize = Callable[[Any], bytes]


@dataclass(frozen=True, slots=True)
class _Route:
    """One method, its behaviour wrapped by the server interceptor."""

    request_deserializer: Deserialize
    response_serializer: Serialize
    behaviour: Callable[..., Any]


class _Recorder:
    """Stands in for the `grpc.aio.Server` a generated `add_<Name>Servicer_to_server` fills."""

    def __init__(self) -> None:
        self.methods: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
        self.generic: list[grpc.GenericRpcHandler] = []

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self.generic.extend(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        for name, handler in handlers.items():
            self.methods[f"/{service}/{name}"] = handler


class _CallDetails:
    """The `grpc.HandlerCallDetails` a generic handler looks a method up by."""

    def __init__(self, method: str) -> None:
        self.method = method
        self.invocation_metadata: tuple[tuple[str, str | bytes], ...] = ()


class LocalRoutes:
    """The methods of the services one `GrpcServer` hosts, callable in-process until the server stops."""

    def __init__(self, services: Iterable[str], interceptor: ServerInterceptor) -> None:
        self.services = frozenset(services)
        self._interceptor = interceptor
        self._recorder = _Recorder()
        self._routes: dict[str, _Route | None] = {}
        self._calls: set[_Call] = set()
        self._closed = False
        # Like grpc.aio (each RPC in a copy of the context its server started in): the one it is built in.
        self._context = contextvars.copy_context()

    def add(self, servicer: object, add_to_server: AddServicerFn) -> None:
        """Records what `add_to_server(servicer, server)` registers."""
        add_to_server(servicer, self._recorder)  # type: ignore[arg-type]  # duck-types the server's two methods

    def route(self, method: str) -> _Route | None:
        """The wrapped method, or None when no registration has it (looked up and wrapped once)."""
        if method in self._routes:
            return self._routes[method]
        handler = self._recorder.methods.get(method)
        if handler is None:  # the generic handlers, as the server asks them after the registered ones
            details = _CallDetails(method)
            found = (generic.service(details) for generic in self._recorder.generic)
            handler = next((h for h in found if h is not None), None)
        route = None
        if handler is not None and not handler.request_streaming:
            wrapped = self._interceptor.wrap(handler, method)
            behaviour = wrapped.unary_stream if wrapped.response_streaming else wrapped.unary_unary
            assert behaviour is not None
            route = _Route(
                wrapped.request_deserializer or _identity,
                wrapped.response_serializer or _identity,
                behaviour,
            )
        self._routes[method] = route
        return route

    def channel(self, fallback: Callable[[], Any], default_timeout: float) -> LocalChannel:
        """A channel for stubs of these services; `fallback()` gives the socket channel for other methods."""
        return LocalChannel(self, fallback, default_timeout)

    def _start(
        self, call: _Call, serve: Coroutine[Any, Any, Any], created: Callable[[asyncio.Task[Any]], None]
    ) -> None:
        """Runs `serve` as the call's server task, in a copy of the server's context; `created` gets the task
        first. Its first step runs at once (eager.py): a stream's server reaches its first wait in the
        caller's loop round, not the next."""
        self._calls.add(call)
        start_eagerly(serve, context=self._context.copy(), created=created)

    def _forget(self, call: _Call) -> None:
        self._calls.discard(call)

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self, grace: float) -> None:
        """Refuses new calls (UNAVAILABLE, as a stopped server's socket would), lets the running ones finish
        within `grace`, then cancels the rest."""
        self._closed = True
        running = [call.ended() for call in self._calls]
        if running:
            await asyncio.wait(running, timeout=grace)
        for call in list(self._calls):
            call.abort(grpc.StatusCode.UNAVAILABLE)


def _identity(value: Any) -> Any:
    return value


class LocalChannel:
    """What generated stubs call on a channel, served by `LocalRoutes`; other services' methods (health,
    reflection) go to the socket channel `fallback` returns."""

    def __init__(self, routes: LocalRoutes, fallback: Callable[[], Any], default_timeout: float) -> None:
        self._routes = routes
        self._fallback = fallback
        self._default_timeout = default_timeout

    def _is_local(self, method: str) -> bool:
        return method.lstrip("/").rpartition("/")[0] in self._routes.services

    def unary_unary(
        self,
        method: str,
        request_serializer: Serialize | None = None,
        response_deserializer: Deserialize | None = None,
        _registered_method: bool | None = False,
    ) -> Any:
        if not self._is_local(method):
            return self._fallback().unary_unary(
                method, request_serializer, response_deserializer, _registered_method
            )
        return _Callable(
            self._routes, method, request_serializer, response_deserializer, self._default_timeout, _UnaryCall
        )

    def unary_stream(
        self,
        method: str,
        request_serializer: Serialize | None = None,
        response_deserializer: Deserialize | None = None,
        _registered_method: bool | None = False,
    ) -> Any:
        if not self._is_local(method):
            return self._fallback().unary_stream(
                method, request_serializer, response_deserializer, _registered_method
            )
        # Server streams get no default deadline (a chat stream may run for minutes), as in clients.py.
        return _Callable(self._routes, method, request_serializer, response_deserializer, None, _StreamCall)

    def stream_unary(
        self,
        method: str,
        request_serializer: Serialize | None = None,
        response_deserializer: Deserialize | None = None,
        _registered_method: bool | None = False,
    ) -> Any:
        if self._is_local(method):
            raise NotImplementedError("no GEKO service takes a client stream")
        return self._fallback().stream_unary(
            method, request_serializer, response_deserializer, _registered_method
        )

    def stream_stream(
        self,
        method: str,
        request_serializer: Serialize | None = None,
        response_deserializer: Deserialize | None = None,
        _registered_method: bool | None = False,
    ) -> Any:
        if self._is_local(method):
            raise NotImplementedError("no GEKO service takes a client stream")
        return self._fallback().stream_stream(
            method, request_serializer, response_deserializer, _registered_method
        )


class _Callable:
    """A stub's method: `stub.GetMe(request, timeout=…, metadata=…)` starts a call."""

    def __init__(
        self,
        routes: LocalRoutes,
        method: str,
        request_serializer: Serialize | None,
        response_deserializer: Deserialize | None,
        default_timeout: float | None,
        call_class: type[_Call],
    ) -> None:
        self._routes = routes
        self._method = method
        self._serialize = request_serializer or _identity
        self._deserialize = response_deserializer or _identity
        self._default_timeout = default_timeout
        self._call_class = call_class

    def __call__(
        self,
        request: Any,
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
        **_options: Any,  # credentials, wait_for_ready, compression: nothing to do in-process
    ) -> Any:
        routes = self._routes
        timeout = self._default_timeout if timeout is None else timeout
        sent = outgoing_metadata(metadata, user_agent=LOCAL_USER_AGENT)
        route = None if routes.closed else routes.route(self._method)
        return self._call_class(routes, route, self._serialize(request), self._deserialize, sent, timeout)


class LocalServicerContext(grpc.aio.ServicerContext[Any, Any]):
    """What grpc.aio's ServicerContext gives a servicer (and our interceptor), for one in-process call."""

    def __init__(self, call: _Call, metadata: grpc.aio.Metadata, deadline: float | None) -> None:
        self._call = call
        self._metadata = metadata
        self._deadline = deadline
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None
        self.sent_initial_metadata: Metadata = ()
        self.sent_trailing_metadata: Metadata = ()

    def invocation_metadata(self) -> grpc.aio.Metadata:
        return self._metadata

    def peer(self) -> str:
        return LOCAL_PEER

    async def send_initial_metadata(self, initial_metadata: Metadata) -> None:
        self.sent_initial_metadata = tuple(initial_metadata)

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()
    ) -> NoReturn:
        self._code, self._details = code, details
        if trailing_metadata:
            self.sent_trailing_metadata = tuple(trailing_metadata)
        raise grpc.aio.AbortError()

    async def abort_with_status(self, status: grpc.Status) -> NoReturn:
        await self.abort(status.code, status.details, status.trailing_metadata)

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode | None:  # type: ignore[override]  # None until set, as in grpc.aio
        return self._code

    def set_details(self, details: str) -> None:
        self._details = details

    def details(self) -> str | None:  # type: ignore[override]  # None until set, as in grpc.aio
        return self._details

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None:
        self.sent_trailing_metadata = tuple(trailing_metadata)

    def trailing_metadata(self) -> grpc.aio.Metadata:
        return grpc.aio.Metadata(*self.sent_trailing_metadata)

    def time_remaining(self) -> float | None:  # type: ignore[override]  # None without a deadline
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    def cancelled(self) -> bool:
        """Whether the caller, the deadline or the stopping server ended the call."""
        return self._call.aborted()

    def done(self) -> bool:
        return self._call.done()

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self._call.add_done_callback(lambda: callback(self))

    async def read(self) -> NoReturn:
        raise NotImplementedError("no GEKO service takes a client stream")

    async def write(self, message: Any) -> NoReturn:
        raise NotImplementedError("servicers yield their stream's messages")

    def set_compression(self, compression: grpc.Compression) -> None:
        """Nothing to compress in-process."""

    def disable_next_message_compression(self) -> None:
        """Nothing to compress in-process."""

    def peer_identities(self) -> None:
        return None

    def peer_identity_key(self) -> None:
        return None

    def auth_context(self) -> dict[str, Iterable[bytes]]:
        return {}


class _Call:
    """What a stub call returns: the server's behaviour, run in a context of its own, and its outcome."""

    def __init__(
        self,
        routes: LocalRoutes,
        route: _Route | None,
        request: bytes,
        deserialize: Deserialize,
        metadata: grpc.aio.Metadata,
        timeout: float | None,
    ) -> None:
        self._routes = routes
        self._route = route
        self._request = request
        self._deserialize = deserialize
        self._deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        self.context = LocalServicerContext(self, metadata, self._deadline)
        # Set when the caller, the deadline or the stopping server cancelled the server's behaviour.
        self._cancel_code: grpc.StatusCode | None = None
        # What the server's behaviour raised (an abort, a failure, a cancellation), once it ended.
        self._raised: BaseException | None = None
        self._done_callbacks: list[Callable[[], None]] = []

    def _serve(self) -> Any:
        """The coroutine (or async generator) that runs the server's side of the call."""
        if self._route is None:
            return self._refuse(
                grpc.StatusCode.UNAVAILABLE if self._routes.closed else grpc.StatusCode.UNIMPLEMENTED
            )
        return self._behaviour(self._route, self._request)

    def _behaviour(self, route: _Route, request: bytes) -> Any:
        raise NotImplementedError

    async def _refuse(self, code: grpc.StatusCode) -> NoReturn:
        """An unknown method (or a stopped server) answers before any interceptor, as over the socket."""
        await self.context.abort(code, UNKNOWN_METHOD if code is grpc.StatusCode.UNIMPLEMENTED else "")

    def _ended(self, raised: BaseException | None) -> None:
        """Records how the server's behaviour ended, and tells whoever waits."""
        self._raised = raised
        self._routes._forget(self)
        for callback in self._done_callbacks:
            callback()

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        if self.done():
            callback()
        else:
            self._done_callbacks.append(callback)

    def ended(self) -> asyncio.Future[Any]:
        """A future done when the server's behaviour ended (for `LocalRoutes.close`)."""
        raise NotImplementedError

    def abort(self, code: grpc.StatusCode) -> bool:
        """Cancels the server's behaviour, which ends the call with `code`."""
        raise NotImplementedError

    def done(self) -> bool:
        raise NotImplementedError

    def aborted(self) -> bool:
        return self._cancel_code is not None

    def cancel(self) -> bool:
        return self.abort(grpc.StatusCode.CANCELLED)

    def cancelled(self) -> bool:
        return self._cancel_code is grpc.StatusCode.CANCELLED

    def time_remaining(self) -> float | None:
        return self.context.time_remaining()

    async def _wait(self) -> None:
        raise NotImplementedError

    async def initial_metadata(self) -> grpc.aio.Metadata:
        if not self.context.sent_initial_metadata:
            await self._wait()
        return grpc.aio.Metadata(*self.context.sent_initial_metadata)

    async def trailing_metadata(self) -> grpc.aio.Metadata:
        await self._wait()
        return self.context.trailing_metadata()

    async def code(self) -> grpc.StatusCode:
        await self._wait()
        return self._status()[0]

    async def details(self) -> str | None:
        await self._wait()
        return self._status()[1]

    def _status(self) -> tuple[grpc.StatusCode, str | None]:
        """The finished call's status, as the caller would get it over the socket."""
        if self._cancel_code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return self._cancel_code, "Deadline Exceeded"
        if self._cancel_code is not None:
            return self._cancel_code, "Locally cancelled by application!"
        code, raised = self.context.code(), self._raised
        if isinstance(raised, asyncio.CancelledError) or (raised is not None and code is None):
            return grpc.StatusCode.UNKNOWN, "Unexpected error in RPC handling"
        return code or grpc.StatusCode.OK, self.context.details()

    def _raise_failure(self) -> None:
        """Raises the finished call's failure; CancelledError after the caller's own `cancel()` (grpc.aio)."""
        if self._cancel_code is grpc.StatusCode.CANCELLED:
            raise asyncio.CancelledError()
        error = self.error()
        if error is not None:
            raise error

    def error(self) -> GekoError | None:
        """The finished call's failure as the `GekoError` clients.py would raise for it, or None."""
        code, details = self._status()
        if code is grpc.StatusCode.OK:
            return None
        failure = grpc.aio.AioRpcError(
            code,
            grpc.aio.Metadata(*self.context.sent_initial_metadata),
            self.context.trailing_metadata(),
            details,
        )
        return from_rpc_error(failure)


class _InContext:
    """Awaits `coroutine` with each of its steps run in `context`.

    The ContextVars it sets stay in `context`, as in a task of its own, without the task: one costs ~8 µs
    (made, started a loop turn later, waking its awaiter a turn after it ends), a tenth of a small call.
    Its awaits suspend the awaiting task, whose cancellation reaches it as a task's awaiter's does.
    """

    __slots__ = ("_context", "_coroutine")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], context: contextvars.Context) -> None:
        self._coroutine = coroutine
        self._context = context

    def __await__(self) -> Generator[Any, Any, Any]:
        run, coroutine = self._context.run, self._coroutine
        value: Any = None
        thrown: BaseException | None = None
        while True:
            try:
                yielded = run(coroutine.send, value) if thrown is None else run(coroutine.throw, thrown)
            except StopIteration as stop:
                return stop.value
            try:
                value, thrown = (yield yielded), None
            except GeneratorExit:  # the awaiter is closed: so is the coroutine, in its context
                run(coroutine.close)
                raise
            except BaseException as exc:  # e.g. the awaiting task's cancellation: the coroutine's to handle
                value, thrown = None, exc


class _UnaryCall(_Call):
    """`await call` gives the response (or raises the peer's `GekoError`); the deadline cancels the server.

    The server's behaviour runs when the call is first awaited, in the awaiting task (`_InContext`): it
    ends before the caller goes on, so no task of its own is needed. Cancelling the call (`cancel()`, the
    deadline, the stopping server) cancels that task's wait, and takes the cancellation back once the
    behaviour ended: the caller sees the call's outcome, never a cancellation of its own.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._response: Any = None
        self._started = False
        self._done = False
        self._driver: asyncio.Task[Any] | None = None  # the task awaiting the behaviour, while it runs
        self._ended_future: asyncio.Future[None] | None = None

    async def _behaviour(self, route: _Route, request: bytes) -> bytes:
        response = await route.behaviour(route.request_deserializer(request), self.context)
        serialized: bytes = route.response_serializer(response)
        return serialized

    def __await__(self) -> Generator[Any, None, Any]:
        return self._result().__await__()

    async def _result(self) -> Any:
        if not self._started:
            await self._run()
        else:
            await self._wait()
        self._raise_failure()
        return self._response

    async def _wait(self) -> None:
        if not self._started:
            with contextlib.suppress(Exception):
                await self._run()
        elif not self._done:
            await asyncio.shield(self.ended())

    async def _run(self) -> None:
        self._started = True
        if self._cancel_code is not None:  # cancelled before it was awaited
            self._finish(None)
            return
        driver = asyncio.current_task()
        assert driver is not None  # awaited in a coroutine, under asyncio
        cancelling = driver.cancelling()
        timer = None
        if self._deadline is not None:
            timer = driver.get_loop().call_at(self._deadline, self.abort, grpc.StatusCode.DEADLINE_EXCEEDED)
        self._driver = driver
        self._routes._calls.add(self)
        raised: BaseException | None = None
        try:
            serialized = await _InContext(self._serve(), self._routes._context.copy())
        except BaseException as exc:  # sorted out below, once the wait is taken back
            raised = exc
        finally:
            self._driver = None
            if timer is not None:
                timer.cancel()
        if self._cancel_code is not None:
            driver.uncancel()  # `abort` cancelled the wait: the call's cancellation, not the caller's
        self._finish(raised)
        if isinstance(raised, asyncio.CancelledError) and driver.cancelling() > cancelling:
            self._cancel_code = self._cancel_code or grpc.StatusCode.CANCELLED  # the caller's own
            raise raised
        if raised is not None and not isinstance(raised, Exception | asyncio.CancelledError):
            raise raised  # KeyboardInterrupt, SystemExit: not a status
        if raised is None and self._cancel_code is None:
            self._response = self._deserialize(serialized)

    def _finish(self, raised: BaseException | None) -> None:
        self._done = True
        if self._ended_future is not None:
            self._ended_future.set_result(None)
        self._ended(raised)

    def ended(self) -> asyncio.Future[None]:
        if self._ended_future is None:
            self._ended_future = asyncio.get_running_loop().create_future()
            if self._done:
                self._ended_future.set_result(None)
        return self._ended_future

    def abort(self, code: grpc.StatusCode) -> bool:
        """Ends the call with `code`: cancels the running behaviour's wait, or the behaviour before it ran."""
        if self._done or self._cancel_code is not None:
            return False
        self._cancel_code = code
        if self._driver is not None:
            self._driver.cancel()
        return True

    def done(self) -> bool:
        return self._done


_END = object()  # what `_Handoff.get` gives once the stream ended
_EMPTY = object()


class _Handoff:
    """One message in flight from a stream's server task to its reader: `asyncio.Queue(maxsize=1)` without
    its bookkeeping (finished-task counting, deques of waiters), which is ~1.5 µs of each streamed message."""

    __slots__ = ("_ended", "_item", "_reader", "_writer")

    def __init__(self) -> None:
        self._item: Any = _EMPTY
        self._ended = False
        self._reader: asyncio.Future[None] | None = None
        self._writer: asyncio.Future[None] | None = None

    async def put(self, item: Any) -> None:
        """Waits until the reader took the previous message, then hands `item` over."""
        while self._item is not _EMPTY:
            self._writer = asyncio.get_running_loop().create_future()
            await self._writer
        self._item = item
        _wake(self._reader)

    def end(self) -> None:
        """No more messages come: a waiting reader wakes up to `_END` (after the one in flight, if any)."""
        self._ended = True
        _wake(self._reader)

    async def get(self) -> Any:
        """The next message, or `_END`."""
        while self._item is _EMPTY:
            if self._ended:
                return _END
            self._reader = asyncio.get_running_loop().create_future()
            await self._reader
        item, self._item = self._item, _EMPTY
        _wake(self._writer)
        return item


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class _StreamCall(_Call):
    """Iterate it for the responses; a failure (mid-stream too) is raised as the peer's `GekoError`.

    The server's behaviour runs in a task of its own from the start, as over the socket (its first step at
    once). Closing the iterator early, or `cancel()`, cancels that task: the servicer sees the cancellation.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # One message in flight: the server task waits until the reader took the previous one.
        self._handoff = _Handoff()
        self._messages: AsyncIterator[Any] | None = None
        self.task: asyncio.Task[Any]
        self._routes._start(self, self._serve(), self._server_started)

    def _server_started(self, task: asyncio.Task[Any]) -> None:
        """The server task, bound before its first step runs (at once: eager.py)."""
        self.task = task
        task.add_done_callback(self._task_done)
        if self._deadline is not None:
            timer = task.get_loop().call_at(self._deadline, self.abort, grpc.StatusCode.DEADLINE_EXCEEDED)
            task.add_done_callback(lambda _: timer.cancel())

    async def _behaviour(self, route: _Route, request: bytes) -> None:
        messages = route.behaviour(route.request_deserializer(request), self.context)
        serialize, put = route.response_serializer, self._handoff.put
        try:
            async for message in messages:
                await put(serialize(message))
        finally:
            await messages.aclose()  # at once, not when collected: the servicer's cleanup runs now

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._ended(asyncio.CancelledError() if task.cancelled() else task.exception())
        self._handoff.end()

    def ended(self) -> asyncio.Future[Any]:
        return self.task

    def abort(self, code: grpc.StatusCode) -> bool:
        """Cancels the server task, which ends the call with `code`."""
        if self.task.done():
            return False
        self._cancel_code = code
        return self.task.cancel()

    def done(self) -> bool:
        return self.task.done()

    async def _wait(self) -> None:
        await asyncio.wait([self.task])

    def __aiter__(self) -> AsyncIterator[Any]:
        if self._messages is None:
            self._messages = self._read()
        return self._messages

    async def _read(self) -> AsyncIterator[Any]:
        get, deserialize = self._handoff.get, self._deserialize
        try:
            while (item := await get()) is not _END:
                yield deserialize(item)
            self._raise_failure()
        finally:
            self.cancel()
