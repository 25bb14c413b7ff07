"""Checks of the blocks of docs/brokers.md and docs/kafka.md, on the real brokers here.

Redis and NATS are the machine's own on loopback; Kafka is a tansu broker of
the check's own (the docs' fixed topic and group names then meet nobody else's).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from docs_relay import Database, SmallOutbox, refused, relay_lines, relay_once, unique
from kafka_broker import Tansu, read_back

from brokers import NATS_URL, REDIS_HOST, REDIS_PORT, REDIS_URL
from docblocks import Block, run_python
from relaybox import Event, Outbox, PermanentError
from relaybox.testing import wait_until


async def redis_and_nats(found: Block, tmp_path: Path, **_: object) -> None:
    """The Redis line authenticates as a user of its own; the NATS line fills a stream."""
    import nats
    import redis.asyncio as aioredis

    user, password, topic = unique("docs-"), unique("pw-"), unique("docs")
    outbox = await SmallOutbox(tmp_path).migrate()
    to_redis, to_nats = relay_lines(found, {"app@cache:6379": f"{user}@{REDIS_HOST}:{REDIS_PORT}"})
    admin = aioredis.Redis.from_url(REDIS_URL)
    client = await nats.connect(NATS_URL)
    js, stream = client.jetstream(), unique("DOCS")
    await admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", "~*", "+@all")
    await js.add_stream(name=stream, subjects=[f"shop.{topic}"])
    try:
        await refused(to_redis[3], {"REDIS_PASSWORD": "not-the-password"}, "username-password")
        outbox.write(Event(topic, {"n": 1}, key="k"))
        await asyncio.to_thread(relay_once, to_redis, outbox.url, {"REDIS_PASSWORD": password})
        ((_id, fields),) = await admin.xrange(topic)
        assert (fields[b"payload"], fields[b"key"]) == (b'{"n":1}', b"k")

        outbox.write(Event(topic, {"n": 2}))
        await asyncio.to_thread(relay_once, to_nats, outbox.url, {})
        stored = await js.get_last_msg(stream, f"shop.{topic}")
        assert stored.data == b'{"n":2}'
    finally:
        await admin.execute_command("ACL", "DELUSER", user)
        await admin.delete(topic)
        await admin.aclose()
        await js.delete_stream(stream)
        await client.close()


@contextmanager
def own_tansu(tmp_path: Path) -> Iterator[Tansu]:
    broker = Tansu(log=tmp_path / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


async def kafka_relay(found: Block, tmp_path: Path, schema: Database, **_: object) -> None:
    """Both bootstrap addresses name the one local broker; the outbox is PostgreSQL."""
    import asyncpg

    with own_tansu(tmp_path) as broker:
        await asyncio.to_thread(broker.create_topic, "orders")
        conn = await asyncpg.connect(schema.dsn)
        try:
            async with conn.transaction():
                await Outbox().add_async(conn, Event("orders", {"n": 1}, key="order-1"))
        finally:
            await conn.close()
        swaps = {
            "postgresql://...": schema.dsn,
            "broker1:9092,broker2:9092": f"{broker.bootstrap},{broker.bootstrap}",
        }
        (words,) = relay_lines(found, swaps)
        await asyncio.to_thread(relay_once, words, schema.dsn, {})
        (stored,) = await asyncio.to_thread(read_back, broker.bootstrap, "orders", 1)
        assert (stored.key(), stored.value()) == (b"order-1", b'{"n":1}')


async def kafka_consume(found: Block, tmp_path: Path, **_: object) -> None:
    """Runs until two records are handled, one of them dead-lettered; then it is cancelled."""
    import relaybox

    applied: list[object] = []

    def apply(record: object) -> None:
        applied.append(record)
        if json.loads(record.payload) == {"refund": "bad"}:  # type: ignore[attr-defined]
            raise PermanentError("refund refused")

    with own_tansu(tmp_path) as broker:
        for topic in ("orders", "refunds", "orders.dead"):
            await asyncio.to_thread(broker.create_topic, topic)
        await asyncio.to_thread(produce, broker.bootstrap)
        namespace: dict[str, object] = {"applier": relaybox.process(apply)}
        code = found.code.replace("kafka://broker:9092", f"kafka://{broker.bootstrap}")
        assert code != found.code
        running = asyncio.create_task(run_python(found, namespace, code))
        try:
            await wait_until(lambda: len(applied) == 2 or running.done(), within=30)
            if running.done():
                running.result()  # it stopped before handling both: show why
            (dead,) = await asyncio.to_thread(read_back, broker.bootstrap, "orders.dead", 1)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
        assert dead.value() == b'{"refund":"bad"}'
        error = dict(dead.headers() or [])["error"]
        assert isinstance(error, bytes)
        assert b"refund refused" in error


def produce(bootstrap: str) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce("orders", b'{"order":1}', key=b"o-1")
    producer.produce("refunds", b'{"refund":"bad"}', key=b"o-1")
    assert producer.flush(10) == 0
