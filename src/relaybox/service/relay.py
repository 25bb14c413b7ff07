"""The relay process: settings in, a running relay out, everything closed at the end."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from relaybox.outbox.relay import Relay
from relaybox.outbox.source import RelayStats
from relaybox.pipeline.runner import serve
from relaybox.ports.publisher import Publisher
from relaybox.ports.store import Status
from relaybox.service.admin import ready_store
from relaybox.service.destinations import require_destination
from relaybox.service.publishers import publisher_for
from relaybox.service.redaction import redact
from relaybox.service.settings import Settings
from relaybox.service.stores import Store

logger = logging.getLogger("relaybox.relay")


@dataclass(frozen=True, slots=True)
class Drained:
    """What one pass did: events ``handled``, the relay's ``stats``, and the outbox after."""

    handled: int
    stats: RelayStats
    status: Status

    @property
    def undelivered(self) -> int:
        """Events handled but not delivered: retried, released, lost or dead-lettered."""
        s = self.stats
        return s.retried + s.released + s.lost + s.dead

    def summary(self) -> dict[str, object]:
        """The pass as plain values, for ``--json``."""
        s = self.stats
        return {
            "handled": self.handled,
            "delivered": s.delivered,
            "retried": s.retried,
            "released": s.released + s.lost,
            "dead": s.dead,
            "parked": s.parked,
            "pending": self.status.pending,
            "retrying": self.status.retrying,
            "dead_letters": self.status.dead,
            "parked_keys": self.status.parked_keys,
        }


@asynccontextmanager
async def relay_for(settings: Settings) -> AsyncIterator[Relay]:
    """A relay built from ``settings``, not started; its store's schema is checked first.

    Bad settings fail before anything is opened. On exit the publisher is
    closed, then the store.
    """
    relay_settings = settings.relay_settings()
    destination = settings.require_to()
    if settings.publisher is None:  # a named factory takes any URL it understands
        require_destination(destination)
    async with ready_store(settings) as store, _opened(settings, store) as publisher:
        yield Relay(store, publisher, settings=relay_settings)


async def relay_once(settings: Settings) -> Drained:
    """Relay everything due now, then report how many events were handled."""
    relay_settings = settings.relay_settings()
    destination = settings.require_to()
    if settings.publisher is None:  # a named factory takes any URL it understands
        require_destination(destination)
    async with ready_store(settings) as store, _opened(settings, store) as publisher:
        relay = Relay(store, publisher, settings=relay_settings)
        handled = await relay.drain()
        return Drained(handled, relay.stats, await store.status())


async def relay_until_stopped(settings: Settings, *, handle_signals: bool = True) -> None:
    """Relay until SIGINT or SIGTERM: the first stops gracefully, a second cancels."""
    async with relay_for(settings) as relay:
        await serve(relay, handle_signals=handle_signals)


@asynccontextmanager
async def _opened(settings: Settings, store: Store) -> AsyncIterator[Publisher]:
    """The publisher of ``settings``, once every pending topic is known to have a destination.

    Only a map without a template can leave a topic unplaced: then the topics
    pending in the outbox are checked now, so a missing route stops start-up
    instead of dead-lettering events. Publishing is bounded by a third of the lease.
    """
    options = settings.publisher_options()
    if options.topics.template is None:
        options.topics.check(await store.pending_topics())
    publisher = publisher_for(settings.require_to(), options, factory=settings.publisher)
    try:
        yield publisher
    finally:
        try:
            await publisher.close()
        except Exception as exc:
            # Every outcome is settled by now: a publish the close failed to flush was
            # reported failed and will be retried. Say so once, without a traceback.
            logger.warning(
                "closing the destination %s failed: %s", redact(settings.require_to()), exc
            )
