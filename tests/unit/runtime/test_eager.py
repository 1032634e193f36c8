import asyncio
import contextvars

import pytest

from services.runtime.eager import start_eagerly

probe: contextvars.ContextVar[str] = contextvars.ContextVar("probe", default="")


async def test_the_first_step_runs_at_once_as_the_new_task_and_the_rest_in_it() -> None:
    seen: list[object] = []
    gate = asyncio.get_running_loop().create_future()

    async def body() -> str:
        seen.append(asyncio.current_task())
        await gate
        seen.append(asyncio.current_task())
        return "done"

    caller = asyncio.current_task()
    task = start_eagerly(body(), name="eager")

    assert seen == [task]  # ran before `start_eagerly` returned, as the task itself
    assert asyncio.current_task() is caller
    gate.set_result(None)
    assert await task == "done"
    assert seen == [task, task]
    assert task.get_name() == "eager"


async def test_a_coroutine_that_never_suspends_is_done_with_its_result_or_error() -> None:
    async def answer() -> int:
        return 42

    async def fail() -> None:
        raise ValueError("no")

    assert await start_eagerly(answer()) == 42
    with pytest.raises(ValueError, match="no"):
        await start_eagerly(fail())


async def test_its_context_vars_stay_in_its_context() -> None:
    probe.set("caller")
    seen: list[str] = []

    async def body() -> None:
        seen.append(probe.get())
        probe.set("task")
        await asyncio.sleep(0)
        seen.append(probe.get())

    context = contextvars.copy_context()
    await start_eagerly(body(), context=context)

    assert seen == ["caller", "task"]
    assert probe.get() == "caller"
    assert context[probe] == "task"


async def test_a_cancel_before_its_next_step_reaches_the_coroutine_where_it_waits() -> None:
    cancelled = asyncio.Event()

    async def body() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = start_eagerly(body())
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set()


async def test_eager_starts_nest() -> None:
    order: list[str] = []

    async def inner() -> None:
        order.append("inner")
        await asyncio.sleep(0)

    async def outer() -> None:
        order.append("outer")
        child = start_eagerly(inner())
        order.append("outer again")
        await child

    await start_eagerly(outer())
    assert order == ["outer", "inner", "outer again"]


async def test_created_gets_the_task_before_its_first_step() -> None:
    order: list[object] = []

    async def body() -> None:
        order.append("first step")

    task = start_eagerly(body(), created=lambda created: order.append(created))

    assert order == [task, "first step"]
    await task
