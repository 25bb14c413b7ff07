"""One consumer-group membership, driven from a single worker thread.

librdkafka serves rebalance callbacks inside ``consume()``, on the thread that
calls it; every call here runs on the source's one worker thread, so the
consumer is never used from two threads at once.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from relaybox.adapters.kafka.offsets import Ledger, Partition
from relaybox.adapters.kafka.record import KafkaRecord, record_of
from relaybox.adapters.kafka.settings import KafkaSettings

log = logging.getLogger("relaybox.kafka")
Polled = list[tuple[KafkaRecord, int]]
_PRODUCER_ONLY = frozenset({"acks", "compression.type", "linger.ms"})


class GroupMember:
    """Reads, moves back, commits and answers rebalances for a :class:`KafkaSource`."""

    def __init__(
        self, settings: KafkaSettings, ledger: Ledger, poll_timeout: float, revoke_grace: float
    ) -> None:
        self.settings = settings
        self.poll_timeout = poll_timeout
        self.revoke_grace = revoke_grace
        self.closing = False
        self._ledger = ledger
        self._consumer: Consumer | None = None
        self._paused: dict[Partition, float] = {}

    def poll(self) -> Polled:
        """Records read now, each with its partition's epoch when it was read."""
        if self.closing:  # never join the group again once closing
            return []
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
        self._ledger.revoke(owned, 0.0 if self.closing else self.revoke_grace)
        self._commit(consumer, self._ledger.commits(owned))
        self._forget(owned)

    def _lost(self, _: Consumer, partitions: list[TopicPartition]) -> None:
        self._forget([(tp.topic, tp.partition) for tp in partitions])

    def _forget(self, partitions: list[Partition]) -> None:
        self._ledger.forget(partitions)
        for partition in partitions:
            self._paused.pop(partition, None)

    def leave(self) -> None:
        """Commit what was acked and leave the group."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            self._commit(consumer, self._ledger.commits())
            consumer.close()
