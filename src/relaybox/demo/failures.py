"""A publisher wrapper that fails some deliveries on purpose, as a real broker sometimes does."""

from __future__ import annotations

import random
from collections.abc import Sequence

from relaybox.core.errors import (
    ConfigurationError,
    PermanentError,
    TemporaryError,
)
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome, merge
from relaybox.outbox.publishers import screen
from relaybox.ports.publisher import Publisher


class BrokerTimeout(TemporaryError):
    """The broker did not acknowledge in time (injected by the demo)."""


class BrokerRejection(PermanentError):
    """The broker rejected the message for good (injected by the demo)."""


class FlakyPublisher:
    """Passes messages to ``inner`` but fails some of them first.

    Each delivery attempt fails with a temporary :class:`BrokerTimeout` with
    probability ``fail_rate`` and with a permanent :class:`BrokerRejection` with
    probability ``dead_rate``, drawn from ``rng`` (seed it to repeat a run).
    It keeps the publisher contract: after a key's message fails, that key's
    later messages in the call are released unsent with ``KeyBlockedError``.
    ``timeouts`` and ``rejections`` count what was injected.
    """

    def __init__(
        self, inner: Publisher, *, fail_rate: float, dead_rate: float, rng: random.Random
    ) -> None:
        for name, rate in (("fail_rate", fail_rate), ("dead_rate", dead_rate)):
            if not 0.0 <= rate <= 1.0:
                raise ConfigurationError(f"{name} must be within 0.0..1.0, got {rate!r}")
        if fail_rate + dead_rate > 1.0:
            raise ConfigurationError("fail_rate + dead_rate must be at most 1.0")
        self.inner = inner
        self.fail_rate = fail_rate
        self.dead_rate = dead_rate
        self._rng = rng
        self.timeouts = 0
        self.rejections = 0

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        passed, failed = screen(messages, self._draw)
        delivered = await self.inner.publish(passed) if passed else Outcome[Message]()
        return merge([delivered, Outcome(failed=tuple(failed))])

    def _draw(self, message: Message) -> Exception | None:
        roll = self._rng.random()
        if roll < self.dead_rate:
            self.rejections += 1
            return BrokerRejection(f"{message.type} {message.key}: schema registry said no")
        if roll < self.dead_rate + self.fail_rate:
            self.timeouts += 1
            return BrokerTimeout(f"{message.type} {message.key}: no ack within 5 s")
        return None

    async def close(self) -> None:
        await self.inner.close()

    def __repr__(self) -> str:
        return (
            f"FlakyPublisher({self.inner!r}, fail_rate={self.fail_rate}, "
            f"dead_rate={self.dead_rate}, timeouts={self.timeouts}, rejections={self.rejections})"
        )
