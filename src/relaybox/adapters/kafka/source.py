"""A consumer group as a :class:`~relaybox.ports.source.StreamSource` of :class:`KafkaRecord`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from confluent_kafka import Consumer, KafkaException, TopicPartition

from relaybox.adapters.kafka.deadletter import DeadLetterTopic
from relaybox.adapters.kafka.offsets import Ledger, Partition
from relaybox.adapters.kafka.record import KafkaRecord, record_of
from relaybox.adapters.kafka.settings import KafkaSettings
from relaybox.core.errors import ConfigurationError, is_permanent

R = TypeVar("R")
log = logging.getLogger("relaybox.kafka")
Polled = list[tuple[KafkaRecord, int]]
_PRODUCER_ONLY = frozenset({"acks", "compression.type", "linger.ms"})


def source_from_url(url: str, **options: float) -> KafkaSource:
    """A :class:`KafkaSource` for ``kafka://HOST:PORT?group=G&topics=a,b[&dead_letter=T]``."""
    return KafkaSource(KafkaSettings.parse(url), **options)


class KafkaSource:
    """Reads ``settings.topics`` as member of ``settings.group``; commits only what was acked.

    * Offsets are committed only up to the first record of a partition that is
      not yet acked, so a consumer that dies before acking re-reads it. Within a
      partition records are handed out in offset order.
    * ``nack``: with a permanent error and a ``dead_letter`` topic the record is
      produced there and then acked; otherwise its partition is read again from
      it after ``redelivery_delay`` seconds (records of the partition handed out
      after it are dropped and re-read, so they may be applied twice).
    * On a rebalance, revoked partitions stop being handed out at once; their
      records in flight get ``revoke_grace`` seconds to settle, the acked prefix
      is committed, and the rest is left for the new owner to read.
    * Every consumer call runs on one worker thread, never on the event loop.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        poll_timeout: float = 0.1,
        redelivery_delay: float = 1.0,
        revoke_grace: float = 10.0,
        timeout: float = 10.0,
    ) -> None:
        if settings.group is None or not settings.topics:
            raise ConfigurationError(f"{settings.redacted}: a source needs ?group=G&topics=a,b")
        self.settings = settings
        self.poll_timeout = poll_timeout
        self.redelivery_delay = redelivery_delay
        self.revoke_grace = revoke_grace
        self._ledger = Ledger()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="relaybox-kafka")
        self._consumer: Consumer | None = None
        self._paused: dict[Partition, float] = {}
        self._closed = False
        self._dead = (
            DeadLetterTopic(settings.client, settings.dead_letter, timeout=timeout)
            if settings.dead_letter
            else None
        )

    @property
    def partitions(self) -> list[Partition]:
        """The ``(topic, partition)`` pairs this member owns now."""
        return self._ledger.owned()

    @property
    def revoking(self) -> bool:
        """True while a rebalance waits for this member's records in flight to settle."""
        return self._ledger.revoking

    async def records(self) -> AsyncIterator[KafkaRecord]:
        while not self._closed:
            for record, epoch in await self._call(self._poll):
                if self._ledger.hand(record, epoch):
                    yield record

    async def ack(self, record: KafkaRecord, /) -> None:
        self._ledger.ack(record)

    async def nack(self, record: KafkaRecord, error: BaseException, /) -> None:
        if self._dead is not None and is_permanent(error):
            try:
                await self._dead.send(record, error)
            except KafkaException as exc:
                log.warning("Kafka: dead-letter topic refused %s: %s", record.id, exc)
            else:
                self._ledger.ack(record)
                return
        self._ledger.rewind(record, self.redelivery_delay)

    async def close(self) -> None:
        """Commit what was acked, leave the group, release the thread. Idempotent."""
        if self._closed and self._consumer is None:
            return
        self._closed = True
        await self._call(self._leave)
        if self._dead is not None:
            await self._dead.close()
        self._thread.shutdown(wait=False)

    async def _call(self, fn: Callable[[], R]) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    # Everything below runs on the worker thread.

    def _poll(self) -> Polled:
        consumer = self._connected()
        self._move_back(consumer)
        self._commit(consumer, self._ledger.commits())
        epochs = self._ledger.epochs()
        found = consumer.consume(500, self.poll_timeout)
        epochs |= {p: e for p, e in self._ledger.epochs().items() if p not in epochs}
        polled: Polled = []
        for message in found:
            if message.error() is not None:
                log.warning("Kafka: consumer error: %s", message.error())
                continue
            record = record_of(message)
            polled.append((record, epochs.get((record.kafka_topic, record.partition), -1)))
        return polled

    def _connected(self) -> Consumer:
        if self._consumer is None:
            client = {k: v for k, v in self.settings.client.items() if k not in _PRODUCER_ONLY}
            self._consumer = Consumer(
                {
                    **client,
                    "group.id": self.settings.group,
                    "enable.auto.commit": False,
                    "auto.offset.reset": self.settings.offset_reset,
                    # Joins wait session.timeout.ms / 2 on some brokers; 6 s is Kafka's minimum.
                    "session.timeout.ms": 6000,
                    "heartbeat.interval.ms": 1000,
                    "logger": log,
                }
            )
            self._consumer.subscribe(
                list(self.settings.topics),
                on_assign=self._assigned,
                on_revoke=self._revoked,
                on_lost=self._lost,
            )
        return self._consumer

    def _move_back(self, consumer: Consumer) -> None:
        now = time.monotonic()
        for (topic, partition), (offset, resume_at) in self._ledger.seeks().items():
            where = TopicPartition(topic, partition, offset)
            try:
                consumer.pause([where])
                consumer.seek(where)
                self._paused[(topic, partition)] = resume_at
            except KafkaException as exc:
                log.warning("Kafka: could not go back to %s: %s", where, exc)
        due = [p for p, at in self._paused.items() if at <= now]
        if due:
            consumer.resume([TopicPartition(topic, number) for topic, number in due])
            for part in due:
                del self._paused[part]

    def _commit(self, consumer: Consumer, points: dict[Partition, int]) -> None:
        if not points:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in points.items()]
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
            self._ledger.committed(points)
        except KafkaException as exc:  # kept in the ledger: tried again next round
            log.warning("Kafka: commit failed: %s", exc)

    def _assigned(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        self._ledger.assign([(tp.topic, tp.partition) for tp in partitions])

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        owned = [(tp.topic, tp.partition) for tp in partitions]
        # Closing: whatever is still unsettled will never be, so there is nothing to wait for.
        self._ledger.revoke(owned, 0.0 if self._closed else self.revoke_grace)
        self._commit(consumer, self._ledger.commits(owned))
        self._forget(owned)

    def _lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget([(tp.topic, tp.partition) for tp in partitions])

    def _forget(self, partitions: list[Partition]) -> None:
        self._ledger.forget(partitions)
        for partition in partitions:
            self._paused.pop(partition, None)

    def _leave(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            self._commit(consumer, self._ledger.commits())
            consumer.close()

    def __repr__(self) -> str:
        return (
            f"KafkaSource({self.settings.redacted!r}, group={self.settings.group!r}, "
            f"topics={list(self.settings.topics)}, partitions={len(self.partitions)}, "
            f"closed={self._closed})"
        )
