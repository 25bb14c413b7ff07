"""The relay's breaker for a destination that is down.

An outage is the normal weather of a relay, not a property of its events. When
a publish call raised, or every failure of a batch said the destination is
unavailable and nothing was delivered, the breaker opens: the relay claims
nothing until a pause has passed (``outage_backoff``: 1 s doubling to 30 s),
then probes with one batch. A delivery closes it. The events of failed probes
are offered again after the same pause with no attempt counted. The outage is
logged once when it starts (WARNING) and once when it ends (INFO), never per
batch.
"""

from __future__ import annotations

import logging

from relaybox.core.backoff import Backoff
from relaybox.core.clock import Clock
from relaybox.core.stopping import sleep_unless_stopped

logger = logging.getLogger("relaybox.relay")


class Outage:
    """Open while the destination is unavailable; ``pause()`` says how long to wait."""

    def __init__(self, backoff: Backoff, clock: Clock, owner: str) -> None:
        self.backoff = backoff
        self.owner = owner
        self.streak = 0
        self.outages = 0
        self._clock = clock
        self._since = 0.0
        self._until = 0.0

    @property
    def open(self) -> bool:
        return self.streak > 0

    def pause(self) -> float:
        """How long events wait, and the relay before its next probe, at this point."""
        return self.backoff.delay(self.streak + 1)

    def record(self, delivered: int, unavailable: int, error: str | None) -> None:
        """One batch's result: nothing delivered and unavailable failures open (or keep) it."""
        now = self._clock.monotonic()
        if unavailable and not delivered:
            wait = self.pause()
            self.streak += 1
            self._until = now + wait
            if self.streak == 1:
                self.outages += 1
                self._since = now
                logger.warning(
                    "%s: the destination is unavailable (%s); backing off, no attempts counted",
                    self.owner,
                    error,
                    extra={"event": "destination.unavailable", "error": error},
                )
        elif delivered and self.streak:
            down = now - self._since
            self.streak = 0
            self._until = 0.0
            logger.info(
                "%s: the destination is back after %.1f s; delivering",
                self.owner,
                down,
                extra={"event": "destination.available", "down_seconds": down},
            )

    async def wait(self) -> None:
        """While open, sleep until the next probe is due (returns at once on a stop)."""
        remaining = self._until - self._clock.monotonic()
        if self.streak and remaining > 0:
            await sleep_unless_stopped(self._clock, remaining)

    def __repr__(self) -> str:
        return f"Outage(open={self.open}, streak={self.streak}, outages={self.outages})"
