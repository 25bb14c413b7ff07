"""Rate limiting: a token bucket, and middleware that makes the downstream see its rate.

The bucket holds float tokens refilled continuously at ``rate / per`` per
second, up to ``burst``, and starts full. Fractions are kept, so a slow rate
still adds up instead of being rounded away.

A waiter computes how long its tokens take to arrive and sleeps once for that
long: there is no polling loop, so a huge rate cannot spin the CPU. Waiters are
served strictly in arrival order (an :class:`asyncio.Lock` wakes them FIFO and
:meth:`TokenBucket.try_acquire` never jumps the queue). Tokens are taken only
after the sleep, so a cancelled or stopped waiter takes nothing.

Per-record limiting applies a batch in chunks of at most ``burst`` records and
pays for each chunk before applying it, so the downstream never receives more
than the bucket allows, whatever the batch size.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Generic, Literal, TypeVar

from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import ConfigurationError
from relaybox.core.outcome import Outcome, merge
from relaybox.core.stopping import sleep_unless_stopped
from relaybox.ports.applier import AnyMiddleware, Applier, attempt

T = TypeVar("T")

Per = Literal["batch", "record"]


class TokenBucket:
    """``rate`` tokens every ``per`` seconds (default 1.0), holding at most ``burst``.

    ``burst`` defaults to ``rate`` (at least 1 token, so one record can always
    pass). The bucket starts full. Asking for more than ``burst`` tokens at
    once raises :class:`ConfigurationError`, since the bucket could never hold them.
    """

    def __init__(
        self,
        rate: float,
        per: float = 1.0,
        *,
        burst: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ConfigurationError(f"rate must be a positive number of tokens, not {rate!r}")
        if not (math.isfinite(per) and per > 0):
            raise ConfigurationError(f"per must be a positive number of seconds, not {per!r}")
        burst = max(rate, 1.0) if burst is None else burst
        if not (math.isfinite(burst) and burst >= 1):
            raise ConfigurationError(f"burst must be at least 1 token, not {burst!r}")
        self.rate = rate
        self.per = per
        self.burst = float(burst)
        self._clock = clock
        self._per_second = rate / per
        self._tokens = self.burst
        self._last = clock.monotonic()
        self._lock = asyncio.Lock()
        self._queued = 0

    @property
    def tokens(self) -> float:
        """Tokens available now (may be a fraction)."""
        self._refill()
        return self._tokens

    def try_acquire(self, n: float = 1) -> bool:
        """Take ``n`` tokens if they are there now and nobody is waiting; never waits."""
        self._check(n)
        if self._queued:
            return False
        self._refill()
        if self._tokens < n:
            return False
        self._tokens -= n
        return True

    async def acquire(self, n: float = 1) -> bool:
        """Take ``n`` tokens, waiting in line as long as needed.

        Returns False, having taken nothing, when the pipeline is asked to stop
        while waiting. Cancellation also takes nothing.
        """
        if self.try_acquire(n):
            return True
        self._queued += 1
        try:
            async with self._lock:
                return await self._wait_and_take(n)
        finally:
            self._queued -= 1

    async def _wait_and_take(self, n: float) -> bool:
        self._refill()
        missing = n - self._tokens
        if missing > 0:
            if not await sleep_unless_stopped(self._clock, missing / self._per_second):
                return False
            self._refill()
        # The sleep lasted as long as the tokens needed; a clock that wakes a
        # hair early leaves a tiny debt that the next refill pays, instead of
        # a second sleep.
        self._tokens -= n
        return True

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self._per_second)
            self._last = now

    def _check(self, n: float) -> None:
        if not 0 < n <= self.burst:
            raise ConfigurationError(
                f"can only take between 0 and burst={self.burst:g} tokens at once, not {n!r}"
            )

    def __repr__(self) -> str:
        return (
            f"TokenBucket(rate={self.rate:g}, per={self.per:g}, burst={self.burst:g}, "
            f"tokens={self.tokens:.3f}, waiting={self._queued})"
        )


class RateLimitedApplier(Generic[T]):
    """Applies records no faster than ``bucket`` allows; see :func:`rate_limit`."""

    def __init__(self, inner: Applier[T], bucket: TokenBucket, per: Per) -> None:
        self._inner = inner
        self._bucket = bucket
        self._per = per
        self._chunk = int(bucket.burst)

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        if not records:
            return await self._inner.apply(records)
        if self._per == "batch":
            if not await self._bucket.acquire(1):
                return Outcome.released(records)
            return await self._inner.apply(records)
        if len(records) <= self._chunk:
            if not await self._bucket.acquire(len(records)):
                return Outcome.released(records)
            return await self._inner.apply(records)
        return await self._apply_chunks(records)

    async def _apply_chunks(self, records: Sequence[T]) -> Outcome[T]:
        outcomes: list[Outcome[T]] = []
        for start in range(0, len(records), self._chunk):
            chunk = records[start : start + self._chunk]
            if not await self._bucket.acquire(len(chunk)):
                outcomes.append(Outcome.released(records[start:]))
                break
            # Earlier chunks were delivered: a crash must not lose them, so it is an outcome.
            outcome = await attempt(self._inner, chunk)
            outcomes.append(outcome)
            if outcome.error is not None:
                return merge(outcomes).reconcile(records)
        return merge(outcomes)

    def __repr__(self) -> str:
        return f"RateLimitedApplier({self._inner!r}, {self._bucket!r}, per={self._per!r})"


def rate_limit(bucket: TokenBucket, *, per: Per = "record") -> AnyMiddleware:
    """Middleware applying records no faster than ``bucket`` allows.

    ``per="record"`` (the default) takes one token per record, applying big
    batches in chunks of at most ``burst`` records; ``per="batch"`` takes one
    token per apply call. When the pipeline stops during a wait, the records
    not yet applied fail with :class:`ShutdownReleasedError`; delivered chunks
    stay delivered.
    """
    if per not in ("batch", "record"):
        raise ConfigurationError(f"per must be 'batch' or 'record', not {per!r}")
    if not isinstance(bucket, TokenBucket):
        raise ConfigurationError(f"bucket must be a TokenBucket, not {bucket!r}")

    def wrap(inner: Applier[T]) -> Applier[T]:
        return RateLimitedApplier(inner, bucket, per)

    return wrap
