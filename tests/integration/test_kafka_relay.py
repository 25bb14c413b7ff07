"""Outbox events from PostgreSQL transactions relayed to Kafka (tansu), across an outage too."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from click.testing import CliRunner
from kafka_broker import Tansu, own_broker, read_back, tansu, unique

from relaybox.adapters.kafka import from_url
from relaybox.cli import relaybox
from relaybox.core.backoff import FixedBackoff
from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.writer import Outbox
from relaybox.ports.store import DeadFilter
from relaybox.service.publishers import PublisherOptions
from relaybox.testing import wait_until

pytestmark = pytest.mark.integration
__all__ = ["own_broker", "tansu"]

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def commit(dsn: str, outbox: Outbox, *events: Event) -> None:
    """One business transaction that adds ``events``."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await outbox.add_async(conn, *events)
    finally:
        await conn.close()


def orders(topic: str, key: str | None, start: int, count: int) -> list[Event]:
    return [
        Event(topic, {"n": n}, key=key, type="Step", headers={"traceparent": TRACE})
        for n in range(start, start + count)
    ]


async def test_relay_once_delivers_committed_events_to_kafka_in_key_order(
    tansu: Tansu, pg_store, pg_dsn: str, tables
) -> None:
    topic = unique("orders")
    outbox = Outbox(tables)
    for round_ in range(3):
        await commit(
            pg_dsn, outbox, *orders(topic, "a", round_ * 4, 4), *orders(topic, "b", round_ * 2, 2)
        )
    await commit(pg_dsn, outbox, *orders(topic, None, 0, 3))

    result = await asyncio.to_thread(
        CliRunner().invoke,
        relaybox,
        ["relay", "--db", pg_dsn, "--table", tables.name, "--to", tansu.url(), "--once"],
        catch_exceptions=False,
    )

    assert result.exit_code == 0, result.output
    assert "delivered 21" in result.stdout
    read = await asyncio.to_thread(read_back, tansu.bootstrap, topic, 21)
    assert len(read) == 21
    numbers: dict[bytes | None, list[int]] = {}
    for m in read:
        numbers.setdefault(m.key(), []).append(int(m.value().split(b":")[1].strip(b" }")))
        assert dict(m.headers() or [])["traceparent"] == TRACE.encode()
    assert numbers[b"a"] == list(range(12))
    assert numbers[b"b"] == list(range(6))
    assert sorted(numbers[None]) == [0, 1, 2]
    assert (await pg_store.status()).pending == 0


async def test_the_relay_resumes_after_the_broker_is_killed_and_restarted(
    own_broker: Tansu, pg_store, pg_dsn: str, tables
) -> None:
    topic = unique("outage")
    await asyncio.to_thread(own_broker.create_topic, topic, 3)
    outbox = Outbox(tables)
    publisher = from_url(own_broker.url(), PublisherOptions(timeout=1.0))
    settings = RelaySettings(batch_size=50, max_attempts=3, backoff=FixedBackoff(0.3), poll_max=0.1)
    relay = Relay(pg_store, publisher, settings=settings)
    runner = asyncio.create_task(relay.run())
    try:
        await commit(pg_dsn, outbox, *orders(topic, "a", 0, 10), *orders(topic, "b", 0, 10))
        await wait_until(lambda: relay.stats.delivered >= 20, within=20, what="the first 20")

        own_broker.kill()
        await commit(pg_dsn, outbox, *orders(topic, "a", 10, 10), *orders(topic, "b", 10, 10))
        # More publish calls fail than max_attempts allows, so an outage counted as attempts
        # would dead-letter; it must not.
        tries = publisher.batches + settings.max_attempts + 1
        await wait_until(
            lambda: publisher.batches >= tries or relay.stats.dead,
            within=30,
            what="failed publishes",
        )
        assert relay.stats.dead == 0, "an outage dead-lettered events"
        own_broker.start()  # memory storage: the topic is gone and made again
        await asyncio.to_thread(own_broker.create_topic, topic, 3)

        await wait_until(lambda: relay.stats.delivered >= 40, within=30, what="the later 20")
    finally:
        await relay.stop()
        await runner
        await publisher.close()
    read = await asyncio.to_thread(read_back, own_broker.bootstrap, topic, 20)
    later = {int(m.value().split(b":")[1].strip(b" }")) for m in read}
    assert set(range(10, 20)) <= later
    assert await pg_store.dead_letters(DeadFilter(), 10) == []
    assert relay.stats.dead == 0
