"""Pure retry decisions: how long to wait before attempt ``n``.

Nothing here sleeps. The functions are total: huge attempt numbers, zero or
huge multipliers never overflow, and jitter never pushes a delay past its cap.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

from relaybox.core.errors import ConfigurationError

_MAX_SECONDS = 365 * 24 * 3600.0


class BackoffStrategy(Protocol):
    """Any rule that gives the wait in seconds before retry ``retry`` (1 = the first retry)."""

    def delay(self, retry: int, rng: random.Random | None = None, /) -> float: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter inside the cap.

    The wait before retry ``n`` (1 = the first retry) is
    ``min(max_delay, initial * multiplier ** (n - 1))``, then moved by up to
    ``jitter`` (a fraction) either way and clamped to ``[0, max_delay]``.
    Defaults: 100 ms doubling to 30 s with 10 % jitter.
    """

    initial: float = 0.1
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.initial <= _MAX_SECONDS:
            raise ConfigurationError(f"initial delay must be within 0..{_MAX_SECONDS:.0f} s")
        if not self.initial <= self.max_delay <= _MAX_SECONDS:
            raise ConfigurationError("max_delay must be at least the initial delay")
        if not 1.0 <= self.multiplier <= 1000.0:
            raise ConfigurationError("multiplier must be within 1.0..1000.0")
        if not 0.0 <= self.jitter <= 1.0:
            raise ConfigurationError("jitter must be a fraction within 0.0..1.0")

    def base_delay(self, retry: int) -> float:
        """The delay before retry ``retry`` (1-based) without jitter."""
        if retry <= 0 or self.initial == 0:
            return 0.0
        # Compare in log space so multiplier ** (retry - 1) can never overflow.
        exponent = (retry - 1) * math.log(self.multiplier)
        if exponent >= math.log(self.max_delay) - math.log(self.initial):
            return self.max_delay
        return min(self.max_delay, self.initial * math.exp(exponent))

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """The delay before retry ``retry``, with jitter applied within ``[0, max_delay]``."""
        base = self.base_delay(retry)
        if base == 0 or self.jitter == 0:
            return base
        spread = (rng or random).uniform(-1.0, 1.0) * self.jitter * base
        return min(self.max_delay, max(0.0, base + spread))


@dataclass(frozen=True, slots=True)
class LinearBackoff:
    """``step * retry`` seconds, capped at ``max_delay`` (defaults: 1 s steps up to 10 min)."""

    step: float = 1.0
    max_delay: float = 600.0

    def __post_init__(self) -> None:
        if not 0 <= self.step <= self.max_delay <= _MAX_SECONDS:
            raise ConfigurationError("need 0 <= step <= max_delay (seconds)")

    def delay(self, retry: int, rng: random.Random | None = None, /) -> float:
        if retry <= 0:
            return 0.0
        # Clamp the count first: a float times a huge int would overflow.
        return min(self.max_delay, self.step * min(retry, 1_000_000_000))


@dataclass(frozen=True, slots=True)
class FixedBackoff:
    """The same wait before every retry (default 5 s)."""

    seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.seconds <= _MAX_SECONDS:
            raise ConfigurationError(f"seconds must be within 0..{_MAX_SECONDS:.0f}")

    def delay(self, retry: int, rng: random.Random | None = None, /) -> float:
        return self.seconds if retry > 0 else 0.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry failed records inside one apply call.

    ``attempts`` counts every try including the first (default 5). ``None``
    means no limit on attempts, in which case ``max_elapsed`` bounds how long
    one call keeps retrying (default 60 s) before it hands the still-failing
    records back to their source as released, so a poison record never blocks
    a poll forever. :class:`~relaybox.core.errors.PermanentError` failures are
    never retried.
    """

    attempts: int | None = 5
    backoff: Backoff = Backoff()
    max_elapsed: float | None = None

    def __post_init__(self) -> None:
        if self.attempts is not None and self.attempts < 1:
            raise ConfigurationError(
                "attempts counts every try including the first and must be at least 1; "
                "use attempts=None for no limit"
            )
        if self.max_elapsed is not None and self.max_elapsed <= 0:
            raise ConfigurationError("max_elapsed must be positive seconds")

    @property
    def elapsed_limit(self) -> float | None:
        """The time budget of one call: ``max_elapsed``, or 60 s when attempts are unlimited."""
        if self.max_elapsed is None and self.attempts is None:
            return 60.0
        return self.max_elapsed

    def should_retry(self, attempts_made: int) -> bool:
        """True when a record that failed ``attempts_made`` times may be tried again."""
        return self.attempts is None or attempts_made < self.attempts

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        return self.backoff.delay(retry, rng)
