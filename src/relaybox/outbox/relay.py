"""The relay: claimed outbox batches -> middleware -> publisher -> settled back.

It is a pipeline like any other (:class:`PollingCoordinator`), so retry,
circuit breaker, rate limit, timeout and the rest wrap the publisher unchanged;
beside it runs the janitor that applies the retention.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
import warnings
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from relaybox.core.backoff import Backoff
from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import ConfigurationError, SchemaMissingError, is_permanent
from relaybox.core.events import Message
from relaybox.core.outcome import Failure, Outcome
from relaybox.outbox.janitor import Janitor
from relaybox.outbox.key_order import KeyOrder
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.source import OutboxSource, RelayStats
from relaybox.pipeline.chain import chain
from relaybox.pipeline.grace import shielded
from relaybox.pipeline.lifecycle import Lifecycle
from relaybox.pipeline.polling import PollingCoordinator, PollResult
from relaybox.pipeline.reporting import ErrorHandler
from relaybox.ports.applier import Applier, Middleware
from relaybox.ports.observer import Observer
from relaybox.ports.publisher import Publisher
from relaybox.ports.store import OutboxStore, SchemaCheck, Wakeups

logger = logging.getLogger("relaybox.relay")


class Publishing:
    """A publisher seen as the pipeline's applier.

    A publish call that raises failed as a whole: each of its messages fails
    with that error, marked ``fatal`` (it says nothing about the message), and
    the call itself is not an error of the poll. The relay's breaker
    (:mod:`~relaybox.outbox.outage`) paces and logs an outage once; the
    coordinator's error path would add its own backoff and log every batch.
    """

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher

    async def apply(self, records: Sequence[Message], /) -> Outcome[Message]:
        try:
            outcome = await self.publisher.publish(records)
        except Exception as exc:
            return Outcome(failed=tuple(Failure(m, exc, fatal=True) for m in records))
        if outcome.error is None or is_permanent(outcome.error):
            return outcome
        # A publisher that reported the whole call failed (``Outcome.failed(...,
        # fatal=True)``) says the same as one that raised.
        whole = outcome.reconcile(records)
        failed = tuple(replace(f, fatal=True) for f in whole.failed)
        return Outcome(whole.delivered, failed, whole.dead)


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Relay:
    """Delivers committed outbox events to a publisher, at least once, in key order.

    * ``run()`` first checks the store's schema (a missing or older one raises
      :class:`SchemaMissingError`, naming ``relaybox migrate``), then polls
      until ``stop()``: at once while there is work, ``poll_min`` doubling to
      ``poll_max`` when idle; ``wake()`` polls now.
    * ``relay_batch()`` claims, publishes and settles one batch; ``drain()``
      repeats it until nothing is due and returns how many events it handled
      (what ``relaybox relay --once`` does). Both check the schema first, as
      ``run()`` does (``relay_batch()`` once per relay). ``run_once()`` is the
      deprecated name of ``relay_batch()``.
    * ``stop()`` finishes the batch in flight (settling it within ``grace``) and
      releases what was claimed but not published.
    * ``middleware`` wraps the publisher, first = outermost, as in any pipeline.
    """

    def __init__(
        self,
        store: OutboxStore,
        publisher: Publisher,
        *,
        settings: RelaySettings | None = None,
        middleware: Sequence[Middleware[Message]] = (),
        observer: Observer | None = None,
        on_error: ErrorHandler | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings = settings or RelaySettings()
        self.store = store
        self.publisher = publisher
        self.owner = settings.owner or default_owner()
        self.stats = RelayStats()
        self.source = OutboxSource(store, settings, self.owner, self.stats, clock)
        # Per-key order is the relay's own: between any middleware and the publisher.
        self.order = KeyOrder(Publishing(publisher))
        self.source.order = self.order
        applier: Applier[Message] = chain(*middleware)(self.order)
        self.coordinator = PollingCoordinator(
            self.source,
            applier,
            interval=settings.poll_max,
            batch_size=settings.batch_size,
            idle=Backoff(initial=settings.poll_min, max_delay=settings.poll_max, jitter=0.0),
            # A database that cannot be reached backs off like a destination that is down.
            error_backoff=settings.outage_backoff,
            grace=settings.grace,
            clock=clock,
            observer=observer,
            on_error=on_error,
            name=f"relay[{self.owner}]",
        )
        self.janitor = Janitor(store, settings, self.stats, clock)
        self._life = Lifecycle(settings.grace, clock)
        self._clock = clock
        self._schema_checked = False

    @property
    def running(self) -> bool:
        return self._life.active

    async def run(self) -> None:
        """Relay and clean up until :meth:`stop`."""
        with self._life.running() as stopping:
            await self._check_schema()
            self.source.pipelined = self.source.pace = True
            unsubscribe = await self._listen()
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self.coordinator.run())
                    group.create_task(self.janitor.run())
                    await stopping.wait()
                    await self.coordinator.stop()
                    await self.janitor.stop()
            finally:
                self.source.pipelined = self.source.pace = False
                try:
                    await shielded(
                        self.source.close(), grace=self.settings.grace, clock=self._clock
                    )
                finally:
                    if unsubscribe is not None:
                        await unsubscribe()

    async def _check_schema(self) -> None:
        """Refuse to start on a database without the schema, naming the command that fixes it."""
        if not isinstance(self.store, SchemaCheck):
            return
        state = await self.store.schema()
        if state.current > state.latest:
            raise ConfigurationError(
                f"the outbox schema of {self.store!r} is at version {state.current}, newer than "
                f"this relaybox knows ({state.latest}): upgrade relaybox"
            )
        if state.current == 0:
            raise SchemaMissingError(f"the outbox schema is missing from {self.store!r}")
        if not state.ready:
            raise SchemaMissingError(
                f"the outbox schema of {self.store!r} is at version {state.current}, "
                f"this relaybox needs {state.latest}"
            )

    async def _listen(self) -> Callable[[], Awaitable[None]] | None:
        """Take commit hints from the store when it offers them; polling stays the safety net."""
        if not isinstance(self.store, Wakeups):
            return None
        try:
            return await self.store.subscribe(self.wake)
        except Exception:
            logger.warning("%s: no commit hints (polling only)", self.owner, exc_info=True)
            return None

    async def stop(self) -> None:
        await self._life.stop()

    def wake(self) -> None:
        """New events were committed: poll now rather than at the next idle tick."""
        self.coordinator.wake()

    async def relay_batch(self) -> PollResult[Message]:
        """Claim, publish and settle one batch; the settle is written when this returns.

        Cancelled (under ``asyncio.wait_for``, say), it hands back what it had
        claimed, as :meth:`close` does: nothing stays leased behind it.
        """
        if not self._schema_checked:
            await self._check_schema()
            self._schema_checked = True
        try:
            return await self.coordinator.run_once()
        except BaseException:
            await shielded(self.source.close(), grace=self.settings.grace, clock=self._clock)
            raise

    async def drain(self, *, max_polls: int | None = None) -> int:
        """Poll until a poll finds nothing due; return the events handled.

        Claims and settles are pipelined as in :meth:`run`; when this returns,
        every settle is written and nothing is left claimed.
        """
        await self._check_schema()
        handled = polls = 0
        self.source.pipelined = True
        try:
            while max_polls is None or polls < max_polls:
                result = await self.coordinator.run_once()
                polls += 1
                if self.source.last_claimed == 0:
                    break
                handled += result.fetched
        finally:
            self.source.pipelined = False
            await self.source.close()
        return handled

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"Relay(owner={self.owner!r}, running={self.running}, delivered={s.delivered}, "
            f"retried={s.retried}, dead={s.dead}, store={self.store!r})"
        )

    async def run_once(self) -> PollResult[Message]:
        """Deprecated name of :meth:`relay_batch`: one batch, unlike ``relaybox relay --once``."""
        warnings.warn(
            "Relay.run_once() is renamed Relay.relay_batch(); drain() relays everything due",
            DeprecationWarning,
            stacklevel=2,
        )
        return await self.relay_batch()
