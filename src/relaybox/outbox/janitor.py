"""Retention: dead letters past their time and idle lane records are removed.

Runs at start (so a restarted relay catches up at once) and then every
``cleanup_interval``; each run deletes in batches of ``cleanup_batch`` until
nothing is left, so a backlog never outgrows the cleanup.
"""

from __future__ import annotations

import logging

from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.stopping import sleep_unless_stopped
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.source import RelayStats
from relaybox.pipeline.lifecycle import Lifecycle
from relaybox.ports.store import OutboxStore

logger = logging.getLogger("relaybox.relay")


class Janitor:
    def __init__(
        self,
        store: OutboxStore,
        settings: RelaySettings,
        stats: RelayStats | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.settings = settings
        self.stats = stats or RelayStats()
        self.runs = 0
        self._clock = clock
        self._life = Lifecycle(settings.grace, clock)

    async def run(self) -> None:
        with self._life.running():
            while True:
                await self.clean()
                if not await sleep_unless_stopped(self._clock, self.settings.cleanup_interval):
                    return

    async def clean(self) -> int:
        """One retention pass; returns the rows removed. Errors are logged, never raised."""
        self.runs += 1
        try:
            removed = await self.store.cleanup(
                self.settings.dead_retention, self.settings.cleanup_batch
            )
        except Exception:
            logger.exception(
                "outbox cleanup failed; it runs again in %ss", self.settings.cleanup_interval
            )
            return 0
        self.stats.cleaned += removed
        return removed

    async def stop(self) -> None:
        await self._life.stop()
