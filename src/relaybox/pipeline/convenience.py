"""One-call helpers: a whole pipeline from three plain functions.

``fetch(limit)`` gets up to ``limit`` records, ``process(record)`` (or
``process_batch(records)``) does the work, ``mark(records)`` records them as
done. Each may be ``def`` (run in a worker thread) or ``async def``.
"""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.core.clock import SYSTEM_CLOCK
from relaybox.pipeline.appliers import BatchFn, RecordFn, process, process_batch
from relaybox.pipeline.middleware.retry import retry
from relaybox.pipeline.polling import PollingCoordinator, PollResult
from relaybox.pipeline.sources import FetchFn, FunctionSource, MarkFn
from relaybox.ports.applier import Applier, Middleware

T = TypeVar("T")

FAST_POLLING = 0.1
"""A 100 ms interval, for low latency."""
SLOW_POLLING = 30.0
"""A 30 s interval, for infrequent syncs."""


def sync(
    fetch: FetchFn[T],
    process_one: RecordFn[T],
    mark: MarkFn[T],
    *,
    middleware: Middleware[T] | None = None,
    **options: Any,
) -> PollingCoordinator[T]:
    """A polling coordinator that calls ``process_one`` for each fetched record.

    Records whose call raised are left unmarked, so the next fetch offers them
    again; the others are marked even when some failed. ``middleware`` wraps
    the per-record applier (for example ``relaybox.resilient``). ``options`` are
    those of :class:`PollingCoordinator` (``interval=5.0``, ``batch_size=100``...).
    """
    applier = _wrapped(process(process_one), middleware)
    return PollingCoordinator(FunctionSource(fetch, mark), applier, **options)


def sync_batch(
    fetch: FetchFn[T],
    process_all: BatchFn[T],
    mark: MarkFn[T],
    *,
    middleware: Middleware[T] | None = None,
    **options: Any,
) -> PollingCoordinator[T]:
    """Like :func:`sync`, with one all-or-nothing call per batch."""
    applier = _wrapped(process_batch(process_all), middleware)
    return PollingCoordinator(FunctionSource(fetch, mark), applier, **options)


def sync_with_retry(
    fetch: FetchFn[T],
    process_one: RecordFn[T],
    mark: MarkFn[T],
    attempts: int | None = 5,
    *,
    backoff: Backoff = Backoff(),
    **options: Any,
) -> PollingCoordinator[T]:
    """Like :func:`sync`, retrying each failed record up to ``attempts`` tries in all.

    Retries wait 100 ms doubling to 30 s (10 % jitter) by default.
    ``attempts=None`` retries without a count limit but for at most 60 s per
    poll, then leaves the record for the next poll, so a poison record never
    blocks the pipeline.
    """
    policy = RetryPolicy(attempts=attempts, backoff=backoff)
    applier = retry(policy, clock=options.get("clock", SYSTEM_CLOCK))(process(process_one))
    return PollingCoordinator(FunctionSource(fetch, mark), applier, **options)


async def sync_once(
    fetch: FetchFn[T], process_one: RecordFn[T], mark: MarkFn[T], *, batch_size: int = 100
) -> PollResult[T]:
    """Fetch one batch, process each record, mark the delivered ones; no loop. A coroutine.

    The one-pass sibling of :func:`sync` (``relaybox.run(sync(...))`` blocks
    and loops; ``await sync_once(...)`` does one batch and returns).

    Returns the :class:`PollResult`: its ``outcome.failed`` lists each failed
    record with its real exception, and ``error`` is set when fetching or
    marking failed (call ``raise_for_error()`` to raise it).
    """
    coordinator = PollingCoordinator(
        FunctionSource(fetch, mark), process(process_one), batch_size=batch_size
    )
    return await coordinator.run_once()


async def run_once(
    fetch: FetchFn[T], process_one: RecordFn[T], mark: MarkFn[T], *, batch_size: int = 100
) -> PollResult[T]:
    """Deprecated name of :func:`sync_once` (it read as the one-pass twin of ``run``)."""
    warnings.warn(
        "relaybox.run_once(...) is renamed relaybox.sync_once(...)",
        DeprecationWarning,
        stacklevel=2,
    )
    return await sync_once(fetch, process_one, mark, batch_size=batch_size)


def _wrapped(applier: Applier[T], middleware: Middleware[T] | None) -> Applier[T]:
    return applier if middleware is None else middleware(applier)
