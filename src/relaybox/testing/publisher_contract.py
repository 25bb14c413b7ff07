"""The contract suite every publisher must pass, run against a real destination.

Subclass :class:`PublisherContract` in a pytest module (the class name must
start with ``Test``), implement the harness and set the capability flags; pytest
then runs every ``test_*`` method against your publisher. The suite needs
``pytest`` and ``pytest-asyncio`` (async test methods)::

    class TestMyBroker(PublisherContract):
        broker_dedup = True            # the broker drops a second copy of an id
        can_stop_broker = False        # no stop_broker()/start_broker() here

        async def make_publisher(self, options: PublisherOptions) -> Publisher:
            self.topic = f"t-{uuid.uuid4().hex}"     # a fresh destination per call
            return my_publisher(f"mybroker://127.0.0.1?prefix={self.topic}", options)

        async def received(self) -> list[Received]:
            return [Received(...) for m in await read_all(self.topic)]

        async def unreachable_publisher(self, options: PublisherOptions) -> Publisher:
            return my_publisher("mybroker://127.0.0.1:1", options)   # nothing listens

Optional hooks: :meth:`rejected_message` (a message the destination refuses
alone, such as one over its size limit) and :meth:`stop_broker` /
:meth:`start_broker` when ``can_stop_broker`` is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial

from relaybox.core.errors import KeyBlockedError, is_unavailable
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.destinations import PublisherOptions
from relaybox.ports.publisher import Publisher
from relaybox.testing.deliveries import (
    Received,
    eventually_delivered,
    expect_unavailable,
    sample,
    skip,
)

__all__ = ["PublisherContract", "Received"]


class PublisherContract:
    """What :class:`~relaybox.ports.publisher.Publisher` promises, checked end to end."""

    broker_dedup = False
    """The destination drops a second message with the same id (``Nats-Msg-Id``...)."""
    can_stop_broker = False
    """:meth:`stop_broker` and :meth:`start_broker` are implemented."""
    count = 200
    """Messages per batch in the bulk tests."""
    timeout = 2.0
    """``PublisherOptions.timeout`` in the outage tests."""

    async def make_publisher(self, options: PublisherOptions) -> Publisher:
        """A publisher for a fresh destination; :meth:`received` reads that destination.

        Replace ``options.topics`` if the destination needs unique names per test.
        """
        raise NotImplementedError("return a publisher for a fresh destination")

    async def received(self) -> list[Received]:
        """Everything that arrived at the latest fresh destination, in arrival order."""
        raise NotImplementedError("read back what arrived at the destination")

    async def unreachable_publisher(self, options: PublisherOptions) -> Publisher:
        """A publisher whose destination does not answer (a closed port, say)."""
        raise NotImplementedError("return a publisher pointed at a destination that is down")

    async def rejected_message(self, row_id: int, key: str) -> Message | None:
        """A message the destination refuses on its own, or ``None`` if it refuses none."""
        return None

    async def stop_broker(self) -> None:
        raise NotImplementedError("stop the broker (only with can_stop_broker)")

    async def start_broker(self) -> None:
        """Start the broker again and return once it answers."""
        raise NotImplementedError("start the broker (only with can_stop_broker)")

    # -- the contract -------------------------------------------------------

    def batch(self, start: int = 0, keys: int = 7) -> list[Message]:
        """``count`` messages over ``keys`` keys (every tenth unkeyed), grouped as a relay does."""
        made = [
            sample(start + n, None if n % 10 == 9 else f"key-{n % keys}") for n in range(self.count)
        ]
        return sorted(made, key=lambda m: (m.key or "", m.seq or 0, m.row_id))

    async def _publish(self, publisher: Publisher, messages: Sequence[Message]) -> Outcome[Message]:
        # Generous, so only a publisher that ignores its own timeout trips it.
        async with asyncio.timeout(self.timeout * 5 + 10):
            return await publisher.publish(messages)

    async def test_messages_arrive_intact(self) -> None:
        publisher = await self.make_publisher(PublisherOptions())
        try:
            sent = self.batch()
            outcome = await self._publish(publisher, sent)
        finally:
            await publisher.close()
        assert len(outcome.delivered) == len(sent), outcome.failed[:3]
        got = {r.id: r for r in await self.received()}
        assert sorted(got) == sorted(m.id for m in sent)
        for m in sent:
            arrived = got[m.id]
            assert (arrived.key, arrived.type, arrived.topic) == (m.key, m.type, m.topic)
            assert arrived.payload == m.payload
            assert {k: arrived.headers.get(k) for k in m.headers} == dict(m.headers)

    async def test_each_key_arrives_in_order(self) -> None:
        publisher = await self.make_publisher(PublisherOptions())
        try:
            for start in (0, self.count):
                outcome = await self._publish(publisher, self.batch(start, keys=3))
                assert not outcome.failed, outcome.failed[:3]
        finally:
            await publisher.close()
        by_key: dict[str, list[int]] = {}
        for r in await self.received():
            if r.key is not None:
                by_key.setdefault(r.key, []).append(int(r.id.removeprefix("id-")))
        assert len(by_key) == 3
        for numbers in by_key.values():
            assert numbers == sorted(numbers)

    async def test_an_unreachable_destination_is_unavailable_within_the_timeout(self) -> None:
        publisher = await self.unreachable_publisher(PublisherOptions(timeout=self.timeout))
        try:
            await expect_unavailable(self._publish(publisher, self.batch()))
        finally:
            await publisher.close()

    async def test_a_stopped_broker_is_unavailable_then_recovers(self) -> None:
        if not self.can_stop_broker:
            skip("the harness cannot stop its broker")
        publisher = await self.make_publisher(PublisherOptions(timeout=self.timeout))
        try:
            assert not (await self._publish(publisher, self.batch(0, keys=2))).failed
            await self.stop_broker()
            try:
                await expect_unavailable(self._publish(publisher, self.batch(1000)))
            finally:
                await self.start_broker()
            publish = partial(self._publish, publisher)
            await eventually_delivered(publish, self.received, self.batch(2000))
        finally:
            await publisher.close()

    async def test_the_broker_drops_a_second_copy_of_an_id(self) -> None:
        if not self.broker_dedup:
            skip("the destination has no duplicate detection")
        publisher = await self.make_publisher(PublisherOptions())
        try:
            first = await self._publish(publisher, [sample(1, "k")])
            again = await self._publish(publisher, [sample(1, "k")])
        finally:
            await publisher.close()
        assert len(first.delivered) == len(again.delivered) == 1
        assert [r.id for r in await self.received()] == ["id-1"]

    async def test_a_rejected_message_fails_alone_and_holds_its_key(self) -> None:
        publisher = await self.make_publisher(PublisherOptions())
        try:
            bad = await self.rejected_message(10_000, "bad")
            if bad is None:
                skip("the destination rejects no single message")
            later = sample(10_001, "bad")
            good = self.batch()
            outcome = await self._publish(publisher, [bad, later, *good])
        finally:
            await publisher.close()
        errors = {f.record.id: f.error for f in outcome.failed}
        assert set(errors) == {bad.id, later.id}
        assert not is_unavailable(errors[bad.id])
        assert isinstance(errors[later.id], KeyBlockedError)
        assert {r.id for r in await self.received()} == {m.id for m in good}

    async def test_an_empty_batch_and_a_second_close_do_nothing(self) -> None:
        publisher = await self.make_publisher(PublisherOptions())
        outcome = await self._publish(publisher, [])
        await publisher.close()
        await publisher.close()
        assert not outcome.delivered
        assert not outcome.failed
