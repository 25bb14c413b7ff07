"""Lifecycle hooks: user callbacks around fetch, apply and settle.

Hooks are for side effects (tracing spans, audit logs, test probes), never for
steering delivery, so a hook can not lose records: an exception raised by a hook
is logged on the ``relaybox.hooks`` logger with its traceback and the pipeline
carries on as if the hook had returned. After-hooks run when the wrapped call
raised too (then the exception is re-raised unchanged); cancellation skips them,
so a stopping task is never held up by user code.

``on_record`` is called once per record after every apply, with ``None`` for a
delivered record and the failure's error for a failed or dead one. Records the
inner applier left out count as failed with its fatal error, as everywhere else.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar

from relaybox.core.calls import call_maybe_async
from relaybox.core.outcome import Outcome
from relaybox.ports.applier import Applier, Middleware
from relaybox.ports.source import BatchSource

T = TypeVar("T")

_log = logging.getLogger("relaybox.hooks")


# No slots: on Python 3.11 a frozen slotted generic dataclass cannot be built
# through its subscripted alias (``Hooks[str](...)`` raises TypeError).
@dataclass(frozen=True)
class Hooks(Generic[T]):
    """Optional callbacks, each a ``def`` or an ``async def``; ``None`` (the default) skips it.

    * ``before_fetch()`` and ``after_fetch(records, error)``: around ``fetch``;
      on a fetch error ``records`` is empty and ``error`` the exception.
    * ``before_apply(records)`` and ``after_apply(outcome)``: around ``apply``; when
      the applier raised, ``outcome`` lists every record failed with that error
      and carries it as ``outcome.error``.
    * ``before_settle(outcome)`` and ``after_settle(outcome, error)``: around ``settle``.
    * ``on_record(record, error)``: once per applied record, ``error`` is ``None``
      when it was delivered.
    """

    before_fetch: Callable[[], object] | None = None
    after_fetch: Callable[[Sequence[T], BaseException | None], object] | None = None
    before_apply: Callable[[Sequence[T]], object] | None = None
    after_apply: Callable[[Outcome[T]], object] | None = None
    before_settle: Callable[[Outcome[T]], object] | None = None
    after_settle: Callable[[Outcome[T], BaseException | None], object] | None = None
    on_record: Callable[[T, BaseException | None], object] | None = None

    def names(self) -> list[str]:
        """The names of the hooks that are set."""
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


class _HookRunner:
    """Calls hooks so that a broken one is logged and counted, never propagated."""

    def __init__(self) -> None:
        self.hook_errors = 0

    async def call(self, name: str, hook: Callable[..., Any] | None, *args: Any) -> None:
        if hook is None:
            return
        try:
            await call_maybe_async(hook, *args)
        except Exception:
            # A hook observes delivery; letting it raise would fail records that
            # were applied fine, so it is reported and ignored.
            self.hook_errors += 1
            _log.exception("hook %s raised; continuing without it", name)


class HookedApplier(_HookRunner, Generic[T]):
    """Runs ``before_apply``, ``after_apply`` and ``on_record`` around ``inner``."""

    def __init__(self, inner: Applier[T], hooks: Hooks[T]) -> None:
        super().__init__()
        self._inner = inner
        self._hooks = hooks

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        hooks = self._hooks
        await self.call("before_apply", hooks.before_apply, records)
        try:
            outcome = await self._inner.apply(records)
        except Exception as exc:
            failed: Outcome[T] = Outcome(error=exc)
            await self._after(failed.reconcile(records), records)
            raise
        await self._after(outcome, records)
        return outcome

    async def _after(self, outcome: Outcome[T], records: Sequence[T]) -> None:
        await self.call("after_apply", self._hooks.after_apply, outcome)
        on_record = self._hooks.on_record
        if on_record is None:
            return
        complete = outcome.reconcile(records)
        for record in complete.delivered:
            await self.call("on_record", on_record, record, None)
        for failure in itertools.chain(complete.failed, complete.dead):
            await self.call("on_record", on_record, failure.record, failure.error)

    def __repr__(self) -> str:
        return (
            f"HookedApplier({self._inner!r}, hooks={self._hooks.names()}, "
            f"hook_errors={self.hook_errors})"
        )


class HookedSource(_HookRunner, Generic[T]):
    """A :class:`BatchSource` running the fetch and settle hooks around ``source``."""

    def __init__(self, source: BatchSource[T], hooks: Hooks[T]) -> None:
        super().__init__()
        self._source = source
        self._hooks = hooks

    async def fetch(self, limit: int, /) -> Sequence[T]:
        hooks = self._hooks
        await self.call("before_fetch", hooks.before_fetch)
        try:
            records = await self._source.fetch(limit)
        except Exception as exc:
            await self.call("after_fetch", hooks.after_fetch, (), exc)
            raise
        await self.call("after_fetch", hooks.after_fetch, records, None)
        return records

    async def settle(self, outcome: Outcome[T], /) -> None:
        hooks = self._hooks
        await self.call("before_settle", hooks.before_settle, outcome)
        try:
            await self._source.settle(outcome)
        except Exception as exc:
            await self.call("after_settle", hooks.after_settle, outcome, exc)
            raise
        await self.call("after_settle", hooks.after_settle, outcome, None)

    def __repr__(self) -> str:
        return (
            f"HookedSource({self._source!r}, hooks={self._hooks.names()}, "
            f"hook_errors={self.hook_errors})"
        )


def hooked(hooks: Hooks[T]) -> Middleware[T]:
    """Middleware running the apply hooks and ``on_record`` of ``hooks``; see :class:`Hooks`."""

    def wrap(inner: Applier[T]) -> Applier[T]:
        return HookedApplier(inner, hooks)

    return wrap
