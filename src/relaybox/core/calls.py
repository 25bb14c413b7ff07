"""User callables may be ``def`` or ``async def``; blocking ones leave the event loop."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A")


def is_async_callable(fn: object) -> bool:
    """True for coroutine functions, partials of them and objects with ``async __call__``."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - the bound __call__, not callable()
    )


def to_async(fn: Callable[P, R] | Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """An async callable for ``fn``: awaited as is, or run in a worker thread when sync.

    Sync callables run off the event loop with :func:`asyncio.to_thread`, so a
    blocking database call or HTTP request never stalls other coroutines.
    """
    if is_async_callable(fn):
        return cast(Callable[P, Awaitable[R]], fn)
    sync_fn = cast(Callable[P, R], fn)

    @functools.wraps(sync_fn)
    async def run_in_thread(*args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(sync_fn, *args, **kwargs)

    return run_in_thread


async def call_maybe_async(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a cheap hook inline; await the result when it is awaitable."""
    result = fn(*args)
    if inspect.isawaitable(result):
        return await result
    return result


def per_record(fn: Callable[[A], R] | Callable[[A], Awaitable[R]]) -> Callable[[A], Awaitable[R]]:
    """A cheap per-record function (key, selector) as an async callable, called inline.

    Unlike :func:`to_async`, a plain ``def`` is not sent to a thread: key and
    route functions must be fast, and a thread hop per record would cost more
    than the work.
    """
    if is_async_callable(fn):
        return cast(Callable[[A], Awaitable[R]], fn)
    sync_fn = cast(Callable[[A], R], fn)

    async def call_inline(record: A) -> R:
        return sync_fn(record)

    return call_inline
