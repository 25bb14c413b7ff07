"""Where records go: the applier contract and the middleware shape."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeAlias, TypeVar

from relaybox.core.outcome import Outcome

T = TypeVar("T")


class Applier(Protocol[T]):
    """Applies a batch of records and accounts for each of them.

    Contract:

    * Return the very record objects received (identity, not equality), each
      in at most one of ``delivered``, ``failed`` and ``dead``.
    * ``failed`` entries carry the real exception; ``dead`` entries have
      already been handled for good (stored as dead letters, parked or skipped).
    * A fatal problem of the whole call is reported in ``Outcome.error`` (or
      raised); records named in no list then count as failed with it, and the
      ones already delivered are still recorded as delivered.
    * ``apply`` may be called concurrently unless the implementation says not.
    """

    async def apply(self, records: Sequence[T], /) -> Outcome[T]: ...


async def attempt(applier: Applier[T], records: Sequence[T]) -> Outcome[T]:
    """``applier.apply(records)``, with a raised exception turned into the outcome's fatal error.

    The contract lets an applier report a fatal problem either way; middleware
    that must account for records delivered before the failure calls this, so
    both forms arrive as one. ``CancelledError`` is never caught.
    """
    try:
        return await applier.apply(records)
    except Exception as exc:
        return Outcome(error=exc)


Middleware: TypeAlias = Callable[[Applier[T]], Applier[T]]
"""Wraps an applier of ``T`` in another; ``chain(a, b)(x)`` runs ``a`` outermost."""


class AnyMiddleware(Protocol):
    """Middleware that works for every record type (retry, timeout, breaker...).

    Factories whose settings do not mention the record type return this, so
    the result fits any ``Middleware[T]`` slot without naming ``T``.
    """

    def __call__(self, inner: Applier[T], /) -> Applier[T]: ...
