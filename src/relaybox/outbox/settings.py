"""How a relay behaves, in one validated settings object with documented defaults."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from relaybox.core.backoff import Backoff, BackoffStrategy
from relaybox.core.errors import ConfigurationError

KeyFailure = Literal["park", "continue"]
_MAX_SECONDS = 10 * 365 * 24 * 3600.0

DEFAULT_BACKOFF = Backoff(initial=1.0, max_delay=600.0, multiplier=2.0, jitter=0.2)
"""Durable retries: 1 s doubling to 10 min, 20 % jitter, on the database clock."""

OUTAGE_BACKOFF = Backoff(initial=1.0, max_delay=30.0, multiplier=2.0, jitter=0.2)
"""While the destination is unavailable: 1 s doubling to 30 s between probes, 20 % jitter."""


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """Every knob of a relay.

    * ``batch_size`` (1000) - events claimed per poll.
    * ``lease`` (30 s) - how long a claim is ours; renewed every third of it while
      publishing, so only a crashed or frozen relay loses it.
    * ``max_attempts`` (10) - deliveries that failed for the event itself before
      it becomes a dead letter. An unavailable destination (a connection
      error, a timeout, :class:`DestinationUnavailableError`, a publish call
      that raised) counts none, however long it lasts.
    * ``max_lease_expiries`` (10) - leases on an event that may run out
      unsettled (its relay crashed or froze while publishing it) before it
      becomes a dead letter, counted apart from ``max_attempts``.
    * ``max_age`` (``None``) - when set, an event that keeps failing because
      the destination is unavailable becomes a dead letter once that many
      seconds passed since its first failure. Off by default: an outage alone
      never dead-letters anything.
    * ``outage_backoff`` - while the destination is unavailable the relay's
      breaker is open: it waits 1 s doubling to 30 s between probes, and the
      events wait as long.
    * ``backoff`` - wait before the next durable attempt (exponential 1 s to
      10 min with jitter; :class:`~relaybox.core.backoff.LinearBackoff`,
      :class:`~relaybox.core.backoff.FixedBackoff` or any ``delay(n)`` rule work).
    * ``on_key_failure`` - when a keyed event becomes a dead letter: ``"park"``
      (default) stops its key until an operator unparks or replays it, keeping
      strict order; ``"continue"`` lets the key's later events flow.
    * ``poll_min`` / ``poll_max`` (2 ms / 1 s) - adaptive polling: after work,
      poll again at once; when idle, wait ``poll_min`` doubling to ``poll_max``.
    * ``dead_retention`` (7 days), ``cleanup_interval`` (1 h), ``cleanup_batch``
      (1000) - dead letters older than the retention are removed in batches of
      ``cleanup_batch`` until none is left, at start and then every interval.
    * ``owner`` - this relay's name in leases (host:pid:random by default).
    * ``grace`` (30 s) - how long ``stop()`` lets in-flight work finish.
    """

    batch_size: int = 1000
    lease: float = 30.0
    max_attempts: int = 10
    max_lease_expiries: int = 10
    max_age: float | None = None
    outage_backoff: Backoff = OUTAGE_BACKOFF
    backoff: BackoffStrategy = DEFAULT_BACKOFF
    on_key_failure: KeyFailure = "park"
    poll_min: float = 0.002
    poll_max: float = 1.0
    dead_retention: float = 7 * 24 * 3600.0
    cleanup_interval: float = 3600.0
    cleanup_batch: int = 1000
    owner: str | None = None
    grace: float = 30.0

    def __post_init__(self) -> None:
        _positive_int("batch_size", self.batch_size, 100_000)
        _positive_int("max_attempts", self.max_attempts, 1_000_000)
        _positive_int("cleanup_batch", self.cleanup_batch, 1_000_000)
        _positive_int("max_lease_expiries", self.max_lease_expiries, 1_000_000)
        if self.max_age is not None:
            _positive("max_age", self.max_age)
        if not isinstance(self.outage_backoff, Backoff):
            raise ConfigurationError("outage_backoff must be a Backoff")
        _positive("lease", self.lease)
        _positive("poll_min", self.poll_min)
        _positive("dead_retention", self.dead_retention)
        _positive("cleanup_interval", self.cleanup_interval)
        _positive("poll_max", self.poll_max)
        if self.poll_max < self.poll_min:
            raise ConfigurationError("poll_max must be at least poll_min")
        if not isinstance(self.grace, int | float) or not 0 <= self.grace <= _MAX_SECONDS:
            raise ConfigurationError(f"grace must be within 0..{_MAX_SECONDS:.0f} seconds")
        if self.on_key_failure not in ("park", "continue"):
            raise ConfigurationError(
                f"on_key_failure must be 'park' or 'continue', got {self.on_key_failure!r}"
            )
        if not callable(getattr(self.backoff, "delay", None)):
            raise ConfigurationError("backoff needs a delay(retry) method")
        if self.owner is not None and not (isinstance(self.owner, str) and self.owner):
            raise ConfigurationError("owner must be a non-empty string")


def _positive_int(name: str, value: object, limit: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
        raise ConfigurationError(f"{name} must be an int within 1..{limit}, got {value!r}")


def _positive(name: str, value: object) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not 0 < value <= _MAX_SECONDS
    ):
        raise ConfigurationError(
            f"{name} must be a positive number of seconds up to {_MAX_SECONDS:.0f}, got {value!r}"
        )
