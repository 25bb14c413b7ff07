"""A consumer group as a :class:`~relaybox.ports.source.StreamSource` of :class:`KafkaRecord`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from confluent_kafka import KafkaException

from relaybox.adapters.kafka.deadletter import DeadLetterTopic
from relaybox.adapters.kafka.member import GroupMember
from relaybox.adapters.kafka.offsets import Ledger, Partition
from relaybox.adapters.kafka.record import KafkaRecord
from relaybox.adapters.kafka.settings import KafkaSettings
from relaybox.core.errors import ConfigurationError, is_permanent

R = TypeVar("R")
log = logging.getLogger("relaybox.kafka")


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
        self.redelivery_delay = redelivery_delay
        self._ledger = Ledger()
        self._member = GroupMember(settings, self._ledger, poll_timeout, revoke_grace)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="relaybox-kafka")
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
            for record, epoch in await self._call(self._member.poll):
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
        if self._closed:
            return
        self._closed = self._member.closing = True
        await self._call(self._member.leave)
        if self._dead is not None:
            await self._dead.close()
        self._thread.shutdown(wait=False)

    async def _call(self, fn: Callable[[], R]) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    def __repr__(self) -> str:
        return (
            f"KafkaSource({self.settings.redacted!r}, group={self.settings.group!r}, "
            f"topics={list(self.settings.topics)}, partitions={len(self.partitions)}, "
            f"closed={self._closed})"
        )
