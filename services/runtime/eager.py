"""Tasks whose first step runs at once, in their creator's loop round (Python 3.12's eager tasks, for 3.11).

`asyncio.create_task` runs nothing until the next loop round. Under load a round is long (every ready
callback of every turn runs in it), and a chat turn on its way to its first token used to cross several such
hand-offs: the in-process server stream's task, the turn's own task. `start_eagerly` runs the coroutine up
to its first suspension right away, as the new task: `asyncio.current_task()` is that task during the step
(a deadline or cancel that a call captured there reaches the right task), its ContextVars are the task's
context. The task then goes on from where the step stopped. What a caller may rely on is unchanged: the
task exists, and is running or done, when `start_eagerly` returns.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar

T = TypeVar("T")

_NOTHING: Any = object()


class _Resumed(Coroutine[Any, Any, T]):
    """A task's coroutine whose first step already ran: its first `send` gives what that step awaited (or
    its outcome), later ones go on in `coroutine`."""

    __slots__ = ("_coroutine", "_error", "_result", "_started", "_yielded")

    def __init__(self, coroutine: Coroutine[Any, Any, T]) -> None:
        self._coroutine = coroutine
        self._started = False
        self._yielded: Any = _NOTHING
        self._result: Any = _NOTHING
        self._error: BaseException | None = None

    def first_step(self) -> None:
        try:
            self._yielded = self._coroutine.send(None)
        except StopIteration as stop:
            self._result = stop.value
        except BaseException as error:  # the task's outcome: raised when the task takes its first step
            self._error = error

    def send(self, value: Any) -> Any:
        if self._started:
            return self._coroutine.send(value)
        self._started = True
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        if self._result is not _NOTHING:
            raise StopIteration(self._result)
        return self._yielded

    def throw(self, typ: Any, value: Any = None, traceback: Any = None) -> Any:
        # A cancel before the task's first step reaches the coroutine where its first step left it.
        self._started = True
        if self._result is not _NOTHING or self._error is not None:
            raise typ if value is None else value
        if value is None and traceback is None:
            return self._coroutine.throw(typ)
        return self._coroutine.throw(typ, value, traceback)

    def close(self) -> None:
        self._coroutine.close()

    def __await__(self) -> Generator[Any, None, T]:
        raise TypeError("a task's coroutine, not for await")


def start_eagerly(
    coroutine: Coroutine[Any, Any, T],
    *,
    name: str | None = None,
    context: contextvars.Context | None = None,
    created: Callable[[asyncio.Task[T]], None] | None = None,
) -> asyncio.Task[T]:
    """A task of `coroutine` whose first step has run when this returns (see the module's docstring);
    `created` gets the task before that step, for what its step may already ask of it."""
    loop = asyncio.get_running_loop()
    resumed = _Resumed(coroutine)
    context = contextvars.copy_context() if context is None else context
    task: asyncio.Task[T] = loop.create_task(resumed, name=name, context=context)
    if created is not None:
        created(task)
    parent = asyncio.current_task(loop)
    if parent is not None:
        asyncio.tasks._leave_task(loop, parent)
    asyncio.tasks._enter_task(loop, task)
    try:
        context.run(resumed.first_step)
    finally:
        asyncio.tasks._leave_task(loop, task)
        if parent is not None:
            asyncio.tasks._enter_task(loop, parent)
    return task
