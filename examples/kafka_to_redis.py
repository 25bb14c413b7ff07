"""A Kafka topic, read by a consumer group, written to a Redis Stream in per-key order.

A :class:`~relaybox.StreamingCoordinator` reads the topic through a
:class:`~relaybox.adapters.kafka.KafkaSource` and hands batches, split by
message key over four workers, to a Redis Stream writer wrapped in
``resilient()`` (retries, dead letters, circuit breaker). A record is acked,
and its offset becomes committable, only once the writer has delivered it or
dead-lettered it, so a crash re-reads what was not yet written.

Run: .venv/bin/python examples/kafka_to_redis.py --kafka 127.0.0.1:9092 \\
         --redis redis://127.0.0.1:6379/0 --topic payments --stream payments --count 100

``KAFKA_BOOTSTRAP``, ``REDIS_URL``, ``TOPIC``, ``GROUP`` and ``STREAM`` give the
defaults. It stops after ``--count`` records or ``--idle`` quiet seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import relaybox
from relaybox import Failure, Message, Outcome, StreamingCoordinator
from relaybox.adapters.kafka import KafkaRecord, source_from_url
from relaybox.service.publishers import PublisherOptions, publisher_for


class RedisStreamWriter:
    """Appends each record to one Redis Stream, a whole batch in one round trip.

    The record's key, id, type and headers travel with it, so the stream entry
    says where it came from; outcomes name the very records received.
    """

    def __init__(self, redis_url: str, stream: str) -> None:
        sep = "&" if "?" in redis_url else "?"
        self.publisher = publisher_for(f"{redis_url}{sep}stream={stream}", PublisherOptions())
        self.written = 0

    async def apply(self, records: Sequence[KafkaRecord], /) -> Outcome[KafkaRecord]:
        now = datetime.now(UTC)
        messages = [message_of(record, now) for record in records]
        record_of = {id(m): r for m, r in zip(messages, records, strict=True)}
        outcome = await self.publisher.publish(messages)
        self.written += len(outcome.delivered)
        return Outcome(
            delivered=tuple(record_of[id(m)] for m in outcome.delivered),
            failed=tuple(
                Failure(record_of[id(f.record)], f.error, f.attempts, fatal=f.fatal)
                for f in outcome.failed
            ),
        )


def message_of(record: KafkaRecord, now: datetime) -> Message:
    return Message(
        row_id=record.offset, id=record.id, topic=record.topic, key=record.key, seq=None,
        type=record.type, aggregate_type="", content_type=record.content_type,
        payload=record.payload, headers=record.headers, created_at=now,
    )  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    kafka = args.kafka if "://" in args.kafka else f"kafka://{args.kafka}"
    source = source_from_url(f"{kafka}?group={args.group}&topics={args.topic}")
    writer = RedisStreamWriter(args.redis, args.stream)
    dead: relaybox.InMemoryDeadLetterQueue[KafkaRecord] = relaybox.InMemoryDeadLetterQueue()
    applier = relaybox.resilient(writer, dead, retry=relaybox.RetryPolicy(attempts=3))
    coordinator = StreamingCoordinator(
        source, applier, batch_size=50, max_wait=0.05, workers=4, key=lambda r: r.key
    )
    runner = asyncio.create_task(coordinator.run())
    last, quiet_since = -1, time.monotonic()
    while writer.written + await dead.count() < args.count and not runner.done():
        done = writer.written + await dead.count()
        if done != last:
            last, quiet_since = done, time.monotonic()
        elif time.monotonic() - quiet_since > args.idle:
            break
        await asyncio.sleep(0.05)  # a progress poll, not a wait for a result
    await coordinator.stop()
    await runner
    await writer.publisher.close()
    print(f"read {args.topic} as group {args.group}: wrote {writer.written} to {args.stream}, "
          f"dead-lettered {await dead.count()}, batches {coordinator.batches}")  # fmt: skip


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--kafka", default=env("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--redis", default=env("REDIS_URL", "redis://127.0.0.1:6379/0"))
    parser.add_argument("--topic", default=env("TOPIC", "payments"))
    parser.add_argument("--group", default=env("GROUP", "kafka-to-redis"))
    parser.add_argument("--stream", default=env("STREAM", "payments"))
    parser.add_argument("--count", type=int, default=10**9, help="stop after this many")
    parser.add_argument("--idle", type=float, default=30.0, help="stop after quiet seconds")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(arguments()))
