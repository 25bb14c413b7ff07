"""The knobs of a demo run, validated before any file is touched."""

from __future__ import annotations

from dataclasses import dataclass

from relaybox.core.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """How big the run is and how often things go wrong.

    * ``orders`` (2000) placed by ``writers`` (4) threads, each on its own connection.
    * ``rollback_rate`` (0.1) - business transactions that roll back after adding events.
    * ``fail_rate`` (0.1) / ``dead_rate`` (0.01) - publish attempts failing with a
      temporary / permanent error.
    * ``seed`` - repeats the same failures; a random one (printed) when ``None``.
    """

    orders: int = 2000
    writers: int = 4
    fail_rate: float = 0.1
    dead_rate: float = 0.01
    rollback_rate: float = 0.1
    seed: int | None = None

    def __post_init__(self) -> None:
        _count("orders", self.orders, 1_000_000)
        _count("writers", self.writers, 64)
        for name in ("fail_rate", "dead_rate", "rollback_rate"):
            _rate(name, getattr(self, name))
        if self.fail_rate + self.dead_rate > 1.0:
            raise ConfigurationError("fail_rate + dead_rate must be at most 1.0")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise ConfigurationError(f"seed must be an int, got {self.seed!r}")


def _count(name: str, value: object, limit: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ConfigurationError(f"{name} must be an int within 1..{limit}, got {value!r}")


def _rate(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ConfigurationError(f"{name} must be a fraction within 0.0..1.0, got {value!r}")
