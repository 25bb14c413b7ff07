"""The relay's source: claimed batches from the store, settled back in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from relaybox.core.backoff import Backoff
from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import AttemptsExhaustedError, LeaseExpiredError
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.decisions import decide, describe
from relaybox.outbox.key_order import KeyOrder
from relaybox.outbox.outage import Outage
from relaybox.outbox.settings import RelaySettings
from relaybox.ports.store import Claim, Dead, OutboxStore, Settlement, SettleReport

logger = logging.getLogger("relaybox.relay")

CLAIMS_AHEAD = 2
"""Claims kept in flight while a batch publishes, when pipelined.

Claims are made one at a time per outbox; with two requested, the database
runs the second while the first travels back and is decoded, so it is never
idle between claims (on a 1000-key backlog this gave about 1.4x the events/s
of one claim ahead).
"""


@dataclass(slots=True)
class RelayStats:
    """Running totals of one relay (events, not batches)."""

    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    parked: int = 0
    released: int = 0
    reclaimed: int = 0
    lost: int = 0
    cleaned: int = 0
    unavailable: int = 0
    settle_failures: int = 0


SETTLE_RETRY = Backoff(initial=0.05, max_delay=1.0, multiplier=2.0, jitter=0.2)
"""A settle that failed (a dropped connection, say) is tried again on this schedule,
up to :data:`SETTLE_TRIES` times while the lease lasts: its events were
published, and recording that spares their delivery again. A failure that
outlasts it (a database that is down, a statement it refuses) leaves the
claim to expire."""

SETTLE_TRIES = 5


class OutboxSource:
    """A :class:`~relaybox.ports.source.BatchSource` over an outbox store.

    ``fetch`` claims a batch and keeps its lease alive (renewed every third of
    ``lease``) until it is settled; ``settle`` turns the outcome into a
    settlement (:func:`~relaybox.outbox.decisions.decide`) and records it.
    Events whose attempts were used up by expired leases (a relay that keeps
    crashing on them) are dead-lettered without another try; their key's later
    events wait for the next claim.

    With ``pipelined`` set (as :class:`~relaybox.outbox.relay.Relay` does while
    it runs), the database works while the relay publishes: the next batch is
    claimed as soon as one is handed out, and ``settle`` returns once the
    settlement is decided, writing it behind the next claim. Batches in flight
    never share a lane, since lanes stay leased until their settle commits. One
    settle and :data:`CLAIMS_AHEAD` claims are ahead at most; :meth:`flush`
    waits for the settle (raising its error), :meth:`release` hands back the
    claims made ahead.
    """

    def __init__(
        self,
        store: OutboxStore,
        settings: RelaySettings,
        owner: str,
        stats: RelayStats,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner
        self.stats = stats
        self.pipelined = False
        self.last_claimed = 0
        self._clock = clock
        self._rng = random.Random()
        self._claim: Claim | None = None
        self._exhausted: list[Dead] = []
        self._ahead: deque[asyncio.Task[Claim]] = deque()
        self._settling: asyncio.Task[None] | None = None
        self._renewals: dict[int, asyncio.Task[None]] = {}
        self._unrecorded: list[tuple[Claim, Settlement]] = []
        self.outage = Outage(settings.outage_backoff, clock, owner)
        self.order: KeyOrder | None = None
        self.pace = False

    # -- claiming -------------------------------------------------------------

    async def fetch(self, limit: int, /) -> Sequence[Message]:
        if self.pace:
            await self.outage.wait()  # the breaker is open: probe when the pause is over
        stale, self._claim = self._claim, None
        if stale is not None and stale.lanes:
            # A claim never settled (its publish was cancelled): hand it back, never overwrite it.
            await self._record(stale, Settlement())
        claim = await self._next(limit)
        while not claim.messages and self._ahead:
            # A later claim may have found what this one did not.
            if claim.lanes:  # leased lanes that ran dry: hand them back
                await self._record(claim, Settlement())
            claim = await self._next(limit)
        if not claim.messages and self._settling is not None:
            # The lanes that settle holds may be all that is left: wait, then look again.
            await self.flush()
            if claim.lanes:  # leased lanes that ran dry: hand them back, or they stay ours
                await self._record(claim, Settlement())
            claim = await self._take(limit)
        self._claim = claim
        self.last_claimed = len(claim.messages)
        self.stats.claimed += len(claim.messages)
        self.stats.reclaimed += claim.reclaimed
        if self.pipelined and claim.messages:
            while len(self._ahead) < CLAIMS_AHEAD:
                self._ahead.append(asyncio.create_task(self._take(limit)))
        ready, self._exhausted = self._split_exhausted(claim.messages)
        if self.order is not None:
            self.order.begin(ready)
        if not ready and claim.lanes:
            # Nothing to publish (its lanes ran dry, or only used-up events
            # remain): nothing will settle this claim, so settle it now.
            await self.settle(Outcome())
        return ready

    async def _next(self, limit: int) -> Claim:
        if not self._ahead:
            return await self._take(limit)
        # Shielded, and kept until it is ours: a stop that cancels this wait
        # must not cancel a claim that may have committed, nor lose it; the
        # claim stays ahead and :meth:`release` hands it back.
        task = self._ahead[0]
        try:
            claim = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                self._ahead.popleft()
            raise
        except BaseException:
            self._ahead.popleft()  # it failed: nothing was leased
            raise
        self._ahead.popleft()
        return claim

    async def _take(self, limit: int) -> Claim:
        claim = await self.store.claim(self.owner, limit, self.settings.lease)
        if claim.lanes:
            self._renewals[claim.token] = asyncio.create_task(self._renew(claim))
        return claim

    def _split_exhausted(self, messages: Sequence[Message]) -> tuple[list[Message], list[Dead]]:
        limit, expiries = self.settings.max_attempts, self.settings.max_lease_expiries
        if all(m.attempts < limit and m.lease_expiries < expiries for m in messages):
            return list(messages), []
        ready: list[Message] = []
        dead: list[Dead] = []
        blocked: set[str] = set()
        for message in messages:
            if message.lane in blocked:
                continue
            error = _exhausted(message, limit, expiries)
            if error is not None:
                dead.append(Dead(message, describe(error), type(error).__name__, message.attempts))
                if message.key is not None:
                    blocked.add(message.lane)
                continue
            ready.append(message)
        return ready, dead

    async def _renew(self, claim: Claim) -> None:
        interval = self.settings.lease / 3
        while True:
            await self._clock.sleep(interval)
            try:
                if not await self.store.extend(claim, self.settings.lease):
                    logger.warning("%s lost its lease on %d lanes", self.owner, len(claim.lanes))
                    return
            except Exception:
                logger.exception("%s could not renew its lease", self.owner)

    async def _stop_renewal(self, claim: Claim) -> None:
        task = self._renewals.pop(claim.token, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- settling -------------------------------------------------------------

    async def settle(self, outcome: Outcome[Message], /) -> None:
        claim, self._claim = self._claim, None
        if claim is None or not claim.lanes:
            return
        settlement = decide(
            claim,
            outcome,
            self.settings,
            self._exhausted,
            self._rng,
            pause=self.outage.pause(),
            now=datetime.now(UTC),
        )
        self._exhausted = []
        self._watch_destination(outcome, settlement)
        # Whatever happens to the settle before it, this claim's is written (or
        # kept for close()): a claim nothing settles would hold its keys for ever.
        self._unrecorded.append((claim, settlement))
        earlier: Exception | None = None
        try:
            await self.flush()
        except Exception as exc:  # the earlier settle's failure, reported below
            earlier = exc
        self._unrecorded.remove((claim, settlement))
        if self.pipelined:
            self._settling = asyncio.create_task(self._record(claim, settlement))
        else:
            await self._record(claim, settlement)
        if earlier is not None:
            raise earlier

    def _watch_destination(self, outcome: Outcome[Message], settlement: Settlement) -> None:
        waiting = [r for r in settlement.retry if not r.counted]
        self.stats.unavailable += len(waiting)
        error = waiting[0].error if waiting else None
        self.outage.record(len(outcome.delivered), len(waiting), error)

    async def _record(self, claim: Claim, settlement: Settlement) -> None:
        """Write the settlement, trying again while the lease lasts; renewal stops either way.

        A claim whose settle cannot be written in time is left to expire: its
        renewal is stopped, so its lanes come back to a claim after ``lease``.
        """
        try:
            report = await self._settle_while_leased(claim, settlement)
        finally:
            await self._stop_renewal(claim)
        self._count(settlement, report)
        _log(self.owner, settlement, report)

    async def _settle_while_leased(self, claim: Claim, settlement: Settlement) -> SettleReport:
        deadline = self._clock.monotonic() + self.settings.lease / 2
        tries = 0
        while True:
            try:
                return await self.store.settle(claim, settlement)
            except Exception:
                tries += 1
                self.stats.settle_failures += 1
                delay = SETTLE_RETRY.delay(tries, self._rng)
                if tries >= SETTLE_TRIES or self._clock.monotonic() + delay >= deadline:
                    logger.exception(
                        "%s could not settle claim %d; its lease will expire and its %d events "
                        "come back then",
                        self.owner,
                        claim.token,
                        len(claim.messages),
                    )
                    raise
                logger.warning(
                    "%s: settling claim %d failed, trying again",
                    self.owner,
                    claim.token,
                    exc_info=True,
                )
                await self._clock.sleep(delay)

    async def flush(self) -> None:
        """Wait for a settle still being written; its error, if any, is raised here.

        A cancelled wait leaves the settle running and still waited for by the
        next ``flush``.
        """
        task = self._settling
        if task is None:
            return
        try:
            await asyncio.shield(task)
        finally:
            if task.done() and self._settling is task:
                self._settling = None

    async def release(self) -> None:
        """Hand back the claims made ahead, unpublished and with no attempt counted."""
        while self._ahead:
            task = self._ahead[0]
            try:
                claim = await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.cancelled():
                    raise  # this release was cancelled: the rest stays ahead
                claim = Claim(self.owner, 0, (), ())  # cancelled before it committed
            except Exception:  # nothing was leased: a failed claim rolls back
                logger.exception("%s could not claim ahead", self.owner)
                claim = Claim(self.owner, 0, (), ())
            self._ahead.popleft()
            if claim.lanes:
                await self._record(claim, Settlement())

    async def close(self) -> None:
        """Finish what is in flight: write the pending settle, release every claim still held.

        After a hard stop (a publish cancelled half-way) the batch being
        published is released too: nothing about it is recorded, so it is
        offered again at once rather than when its lease runs out.
        """
        try:
            await self.flush()
        finally:
            try:
                while self._unrecorded:
                    await self._record(*self._unrecorded.pop())
                await self.release()
                claim, self._claim = self._claim, None
                if claim is not None and claim.lanes:
                    await self._record(claim, Settlement())
            finally:
                for task in self._renewals.values():
                    task.cancel()
                self._renewals.clear()

    def _count(self, settlement: Settlement, report: SettleReport) -> None:
        stats = self.stats
        lost = {id(m) for m in report.lost}

        def kept(messages: Iterable[Message]) -> int:
            return sum(1 for m in messages if id(m) not in lost)

        stats.delivered += kept(settlement.delivered) if lost else len(settlement.delivered)
        stats.retried += kept(r.message for r in settlement.retry)
        stats.dead += kept(d.message for d in settlement.dead)
        stats.parked += len(settlement.park)
        stats.lost += len(lost)
        stats.released = stats.claimed - stats.delivered - stats.retried - stats.dead - stats.lost
        if lost:
            logger.warning(
                "%s lost its lease before settling %d events; their new owner will deliver them",
                self.owner,
                len(lost),
            )


def _exhausted(message: Message, attempts: int, expiries: int) -> Exception | None:
    """Why a claimed event may not be tried again, if it may not."""
    if message.lease_expiries >= expiries:
        return LeaseExpiredError(
            f"its lease expired unsettled {message.lease_expiries} times (max_lease_expiries="
            f"{expiries}): a relay crashed or froze while publishing it each time"
        )
    if message.attempts >= attempts:
        return AttemptsExhaustedError(message.attempts, f"max_attempts is now {attempts}")
    return None


def _log(owner: str, settlement: Settlement, report: SettleReport) -> None:
    """Say per event what failed: retries at WARNING, dead letters and parked keys at ERROR."""
    if report.lost or not (settlement.retry or settlement.dead):
        return
    for retry in settlement.retry:
        if retry.counted:
            m = retry.message
            logger.warning(
                "%s: event %s (key %r) failed on attempt %d, next try in %.1f s: %s",
                owner, m.id, m.key, m.attempts + 1, retry.delay, retry.error,
                extra={"event": "event.retry", "event_id": m.id, "key": m.key,
                       "attempt": m.attempts + 1, "retry_in": retry.delay, "error": retry.error},
            )  # fmt: skip
    for dead in settlement.dead:
        m = dead.message
        logger.error(
            "%s: event %s (key %r) is a dead letter: %s",
            owner, m.id, m.key, dead.error,
            extra={"event": "event.dead", "event_id": m.id, "key": m.key, "error": dead.error},
        )  # fmt: skip
    for lane, (event_id, reason) in settlement.park.items():
        logger.error(
            "%s: key %r is parked behind dead event %s until an operator replays or unparks it",
            owner, lane[2:], event_id,
            extra={"event": "key.parked", "key": lane[2:], "event_id": event_id, "error": reason},
        )  # fmt: skip
