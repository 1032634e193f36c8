"""Strawberry's extension runner, with the hooks of each extension class wrapped once instead of for every
operation and every streamed result (each chat event)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import asynccontextmanager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, TypeVar, cast

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    StreamResultContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext, StreamExecutionResult
from strawberry.utils.await_maybe import await_maybe

# What a stage no extension hooks into is entered as (`with` and `async with`): nothing to do.
NO_HOOKS = nullcontext()
StageT = TypeVar("StageT", bound=ExtensionContextManagerBase)


@dataclass(frozen=True, slots=True)
class HookFactory:
    """Makes the context managers of one extension class's hook: `make(extension)` (and the result, for
    `on_stream_result`), async ones when `is_async`; `make` is None for a hook that is not a generator,
    which Strawberry wraps its own way."""

    make: Callable[..., Any] | None
    is_async: bool = False


@cache
def hook_factory(extension_class: type, hook_name: str) -> HookFactory | None:
    """The factory of `extension_class`'s `hook_name` hook; None when the class leaves it to SchemaExtension.
    Its context managers are exactly what Strawberry makes from each extension's bound method: both wrap
    the same generator function."""
    hook = getattr(extension_class, hook_name)
    if hook is getattr(SchemaExtension, hook_name):
        return None
    if inspect.isgeneratorfunction(hook):
        return HookFactory(contextmanager(hook))
    if inspect.isasyncgenfunction(hook):
        return HookFactory(asynccontextmanager(hook), is_async=True)
    return HookFactory(None)


class StreamResultHooks(StreamResultContextManager):
    """Strawberry's `on_stream_result` hooks around one streamed result, with hooks looked up already."""

    def __init__(self, hooks: list[WrappedHook], result: StreamExecutionResult) -> None:
        self.hooks = hooks
        self.result = result


class ExtensionsRunner(SchemaExtensionsRunner):
    """Strawberry's runner, with what it does for every streamed result (each chat event) looked up once per
    operation: the extensions' `on_stream_result` hooks, and which extensions have results at all (the
    others' `get_results` is SchemaExtension's `{}`). Each stage's generator hooks are wrapped from
    context managers made once per extension class (`hook_factory`): Strawberry wraps each anew for every
    operation and result (~2 µs a hook), and looks them up even for the stages no extension hooks into
    (parsing, validation, execution), which are skipped here."""

    _stream_hooks: list[WrappedHook] | None = None
    _with_results: list[SchemaExtension] | None = None

    def operation(self) -> OperationContextManager:
        return self._stage(OperationContextManager)

    def parsing(self) -> ParsingContextManager:
        return self._stage(ParsingContextManager)

    def validation(self) -> ValidationContextManager:
        return self._stage(ValidationContextManager)

    def executing(self) -> ExecutingContextManager:
        return self._stage(ExecutingContextManager)

    def _stage(self, stage: type[StageT]) -> StageT:
        hooks = self._hooks(stage.HOOK_NAME)
        if hooks is None:
            return stage(self.extensions)
        if not hooks:
            return cast("StageT", NO_HOOKS)
        manager = stage.__new__(stage)  # its __init__ would look the hooks up again
        manager.hooks = hooks
        return manager

    def _hooks(self, hook_name: str) -> list[WrappedHook] | None:
        """The extensions' `hook_name` hooks as Strawberry wraps them; None when one is not a generator,
        which Strawberry then wraps its own way."""
        hooks = []
        for extension in self.extensions:
            extension_class: type = type(extension)
            factory = hook_factory(extension_class, hook_name)
            if factory is None:
                continue
            if factory.make is None:
                return None
            hooks.append(WrappedHook(extension, partial(factory.make, extension), factory.is_async))
        return hooks

    def on_stream_result(self, result: StreamExecutionResult) -> StreamResultContextManager:
        if self._stream_hooks is None:
            hooks = self._hooks(StreamResultContextManager.HOOK_NAME)
            self._stream_hooks = (
                StreamResultContextManager(self.extensions, result).hooks if hooks is None else hooks
            )
        return StreamResultHooks(self._stream_hooks, result)

    async def get_extensions_results(self, ctx: ExecutionContext) -> dict[str, Any]:
        if self._with_results is None:
            self._with_results = [
                extension
                for extension in self.extensions
                if getattr(extension.get_results, "__func__", None) is not SchemaExtension.get_results
            ]
        data: dict[str, Any] = {}
        for extension in self._with_results:
            data.update(await await_maybe(extension.get_results()))
        data.update(ctx.extensions_results)
        return data
