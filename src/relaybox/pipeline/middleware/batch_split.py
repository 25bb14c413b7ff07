"""Batch splitting: hand a downstream at most ``max_size`` records per call.

Some downstreams cap the size of a request (a bulk API, a SQL parameter limit).
The splitter cuts a batch into chunks and applies them one after another, in
input order, so a downstream that cares about order sees the records in order.

Choices:

* Chunks run sequentially, never concurrently: the cap usually exists because
  the downstream cannot take more load at once.
* A fatal error of chunk ``i`` stops the batch. What was delivered before stays
  delivered (it really was applied), the records of chunk ``i`` fail with that
  error and the outcome carries it, so outer layers see the call as fatal. The
  chunks not sent are released (:class:`~relaybox.core.errors.ReleasedError`
  caused by that error): they were not attempted, so even when a middleware
  further out (``route``, ``ordered``, ``fan_out``) drops the fatal error they
  are neither counted as an attempt nor dead-lettered.
* Between chunks the splitter honours the stop signal: once the pipeline is
  stopping, the chunks not yet sent are released with
  :class:`~relaybox.core.errors.ShutdownReleasedError` (not an attempt, never
  dead-lettered) instead of holding shutdown up.
* A batch that already fits is passed through untouched: no copy, no cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from relaybox.core.errors import ConfigurationError, ReleasedError
from relaybox.core.outcome import Outcome, merge
from relaybox.core.stopping import stop_requested
from relaybox.ports.applier import AnyMiddleware, Applier, attempt

T = TypeVar("T")


class BatchSplitter(Generic[T]):
    """Applies records in chunks of at most ``max_size``, sequentially and in order."""

    def __init__(self, inner: Applier[T], max_size: int) -> None:
        self._inner = inner
        self._max_size = _checked_size(max_size)
        self._chunks_applied = 0

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        size = self._max_size
        if len(records) <= size:
            self._chunks_applied += 1
            return await self._inner.apply(records)
        outcomes: list[Outcome[T]] = []
        for start in range(0, len(records), size):
            if start and stop_requested():
                outcomes.append(Outcome.released(records[start:]))
                break
            chunk = records[start : start + size]
            outcome = await self._apply_chunk(chunk)
            outcomes.append(outcome)
            if outcome.error is not None:
                rest = records[start + size :]
                outcomes.append(Outcome.released(rest, _not_sent(outcome.error)))
                break
        return merge(outcomes)

    async def _apply_chunk(self, chunk: Sequence[T]) -> Outcome[T]:
        """The chunk's outcome; on a fatal error, complete so no record goes missing."""
        self._chunks_applied += 1
        # Earlier chunks were applied; raising would lose their deliveries.
        outcome = await attempt(self._inner, chunk)
        return outcome if outcome.error is None else outcome.reconcile(chunk)

    def __repr__(self) -> str:
        return (
            f"BatchSplitter(max_size={self._max_size}, chunks_applied={self._chunks_applied}, "
            f"inner={self._inner!r})"
        )


def _not_sent(fatal: BaseException) -> ReleasedError:
    """Why a record of a later chunk was not sent: the call failed fatally before."""
    error = ReleasedError("not sent: an earlier chunk failed the whole call")
    error.__cause__ = fatal
    return error


def split_batches(max_size: int) -> AnyMiddleware:
    """Middleware that applies at most ``max_size`` records per inner call.

    Chunks run sequentially in input order; see :mod:`this module
    <relaybox.pipeline.middleware.batch_split>` for fatal errors and shutdown.
    Raises :class:`~relaybox.core.errors.ConfigurationError` unless ``max_size``
    is a positive int. There is no default: the right size is the downstream's.
    """
    size = _checked_size(max_size)

    def wrap(inner: Applier[T], /) -> Applier[T]:
        return BatchSplitter(inner, size)

    return wrap


def _checked_size(max_size: int) -> int:
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1:
        raise ConfigurationError(
            f"max_size must be a positive int (records per inner call), got {max_size!r}"
        )
    return max_size
