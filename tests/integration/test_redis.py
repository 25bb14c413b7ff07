"""Redis Streams on a real server: the publisher contract, and the consumer-group source."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import replace

import pytest
import redis.asyncio as aioredis

from brokers import REDIS_HOST, REDIS_PORT, REDIS_URL, start_redis, stop_redis
from relaybox.adapters.redis import (
    RedisStreamPublisher,
    RedisStreamSource,
    StreamEntry,
    redis_publisher,
)
from relaybox.core.errors import PermanentError
from relaybox.core.events import Message
from relaybox.outbox.destinations import PublisherOptions
from relaybox.outbox.routing import TopicMap
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.ports.publisher import Publisher
from relaybox.testing import ScriptedApplier, message, wait_until
from relaybox.testing.publisher_contract import PublisherContract, Received

pytestmark = pytest.mark.integration


def client() -> aioredis.Redis:
    return aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT)


class TestRedisPublisher(PublisherContract):
    can_stop_broker = True

    async def make_publisher(self, options: PublisherOptions) -> Publisher:
        self.prefix = f"rbt-{uuid.uuid4().hex[:12]}"
        async with client() as redis:
            await redis.set(f"{self.prefix}.wrongtype", "a string, not a stream")
        topics = TopicMap(self.prefix + ".{topic}")
        return redis_publisher(REDIS_URL, replace(options, topics=topics))

    async def received(self) -> list[Received]:
        async with client() as redis:
            entries = await redis.xrange(f"{self.prefix}.orders")
        return [_received(StreamEntry.of("orders", i, fields)) for i, fields in entries]

    async def unreachable_publisher(self, options: PublisherOptions) -> Publisher:
        return redis_publisher("redis://127.0.0.1:1/0", options)

    async def rejected_message(self, row_id: int, key: str) -> Message | None:
        return message(row_id, key=key, topic="wrongtype")

    async def stop_broker(self) -> None:
        await stop_redis()

    async def start_broker(self) -> None:
        await start_redis()


def _received(entry: StreamEntry) -> Received:
    return Received(
        entry.event_id or "",
        entry.key,
        entry.text("type") or "",
        entry.text("topic") or "",
        entry.headers,
        entry.payload,
    )


async def _published(stream: str, count: int, keys: int = 4) -> list[Message]:
    sent = [
        message(n, key=f"k{n % keys}", headers={"traceparent": "00-ab-cd-01"}) for n in range(count)
    ]
    publisher = RedisStreamPublisher(client(), stream=stream)
    try:
        outcome = await publisher.publish(sorted(sent, key=lambda m: (m.key, m.seq)))
    finally:
        await publisher.close()
    assert len(outcome.delivered) == count
    return sent


async def test_trimming_keeps_a_stream_near_its_maxlen() -> None:
    stream = f"rbt-{uuid.uuid4().hex[:12]}"
    publisher = redis_publisher(f"{REDIS_URL}?stream={stream}&maxlen=100", PublisherOptions())
    try:
        for start in range(0, 3000, 500):
            await publisher.publish([message(start + n) for n in range(500)])
    finally:
        await publisher.close()
    async with client() as redis:
        length = await redis.xlen(stream)
        await redis.delete(stream)
    assert 100 <= length < 3000  # approximate trimming keeps whole nodes


async def test_age_trimming_drops_entries_older_than_minid_age() -> None:
    stream = f"rbt-{uuid.uuid4().hex[:12]}"
    await _published(stream, 1000)
    trimming = redis_publisher(f"{REDIS_URL}?stream={stream}&minid_age=0", PublisherOptions())
    try:
        assert not (await trimming.publish([message(5000)])).failed
    finally:
        await trimming.close()
    async with client() as redis:
        length = await redis.xlen(stream)
        await redis.delete(stream)
    assert 1 <= length < 1000  # whole nodes of older entries went; the newest stays


async def test_two_consumers_in_one_group_share_the_entries() -> None:
    stream, group = f"rbt-{uuid.uuid4().hex[:12]}", "workers"
    await _published(stream, 40)
    first = RedisStreamSource(client(), stream, group, "a", count=10)
    second = RedisStreamSource(client(), stream, group, "b", count=10)
    try:
        a = await _take(first, 10)
        b = await _take(second, 10)
        assert not {e.entry_id for e in a} & {e.entry_id for e in b}
        for entry in a:
            await first.ack(entry)
        for entry in b:
            await second.ack(entry)
        async with client() as redis:
            pending = await redis.xpending(stream, group)
            await redis.delete(stream)
        assert pending["pending"] == 0
    finally:
        await first.close()
        await second.close()


async def _take(source: RedisStreamSource, count: int) -> list[StreamEntry]:
    taken: list[StreamEntry] = []
    async with asyncio.timeout(10):
        async for entry in source.records():
            taken.append(entry)
            if len(taken) == count:
                break
    return taken


async def test_the_coordinator_acks_reclaims_failures_and_dead_letters_poison() -> None:
    stream, dead = f"rbt-{uuid.uuid4().hex[:12]}", f"rbt-dead-{uuid.uuid4().hex[:12]}"
    sent = await _published(stream, 30)
    poison, flaky = sent[3].id, sent[7].id
    applier: ScriptedApplier[StreamEntry] = ScriptedApplier(
        fail_times={flaky: 1},
        fail_when=lambda e: e.event_id == poison,
        error=lambda e: PermanentError("bad") if e.event_id == poison else OSError("busy"),
        key=lambda e: e.event_id,
    )
    source = RedisStreamSource(client(), stream, "g", "c1", claim_idle=0.2, dead_letters=dead)
    coordinator = StreamingCoordinator(source, applier, batch_size=10, max_wait=0.05)
    task = asyncio.create_task(coordinator.run())
    try:
        await wait_until(lambda: len(applier.delivered) == 29, within=20, what="29 deliveries")
    finally:
        await coordinator.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert {e.event_id for e in applier.delivered} == {m.id for m in sent} - {poison}
    async with client() as redis:
        dead_entries = await redis.xrange(dead)
        pending = await redis.xpending(stream, "g")
        await redis.delete(stream, dead)
    assert [fields[b"id"].decode() for _, fields in dead_entries] == [poison]
    assert json.loads(dead_entries[0][1][b"headers"])["traceparent"] == "00-ab-cd-01"
    assert pending["pending"] == 0


async def test_a_consumer_outlives_a_server_restart_that_forgot_its_group() -> None:
    stream = f"rbt-{uuid.uuid4().hex[:12]}"
    applier: ScriptedApplier[StreamEntry] = ScriptedApplier(key=lambda e: e.entry_id)
    source = RedisStreamSource(client(), stream, "g", "c1", block=0.1)
    coordinator = StreamingCoordinator(source, applier, batch_size=10, max_wait=0.05)
    task = asyncio.create_task(coordinator.run())
    try:
        await _published(stream, 10)
        await wait_until(lambda: len(applier.delivered) == 10, within=10, what="10 deliveries")
        await stop_redis()
        await start_redis()  # no persistence: the stream and its group are gone
        await _published(stream, 10)
        await wait_until(lambda: len(applier.delivered) == 20, within=20, what="20 deliveries")
    finally:
        await coordinator.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    async with client() as redis:
        await redis.delete(stream)
    assert task.done()
    assert task.exception() is None
