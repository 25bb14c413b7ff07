"""Scriptable appliers for unit tests."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

from relaybox.core.outcome import Failure, Outcome

T = TypeVar("T")


class ScriptedApplier(Generic[T]):
    """Delivers records except those it is told to fail.

    ``fail_times`` maps a record key to how many times it fails before it is
    delivered (use a huge number for "always"); ``fail_when`` fails records
    matching a predicate. ``error`` builds the exception. ``calls`` keeps
    every batch received, ``delivered`` every record delivered, in order.
    """

    def __init__(
        self,
        *,
        fail_times: Mapping[Hashable, int] | None = None,
        fail_when: Callable[[T], bool] | None = None,
        error: Callable[[T], BaseException] = lambda r: RuntimeError(f"failed: {r!r}"),
        key: Callable[[T], Hashable] = lambda r: r,
    ) -> None:
        self._left = dict(fail_times or {})
        self._fail_when = fail_when
        self._error = error
        self._key = key
        self.calls: list[list[T]] = []
        self.delivered: list[T] = []

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        self.calls.append(list(records))
        delivered: list[T] = []
        failed: list[Failure[T]] = []
        for record in records:
            if self._should_fail(record):
                failed.append(Failure(record, self._error(record)))
            else:
                delivered.append(record)
        self.delivered.extend(delivered)
        return Outcome(delivered, failed)

    def _should_fail(self, record: T) -> bool:
        if self._fail_when is not None and self._fail_when(record):
            return True
        key = self._key(record)
        left = self._left.get(key, 0)
        if left > 0:
            self._left[key] = left - 1
            return True
        return False
