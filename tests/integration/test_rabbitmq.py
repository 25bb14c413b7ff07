"""RabbitMQ on loopback: the publisher, the queue source, and the relay through the CLI."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence

import aio_pika
import pytest
from broker_checks import (
    PgOutbox,
    assert_intact,
    assert_key_order,
    keyed_batch,
    step_events,
    unique,
)

from relaybox.adapters.postgres import PostgresStore
from relaybox.adapters.rabbitmq import RabbitAddress, RabbitPublisher, RabbitQueueSource
from relaybox.core.backoff import FixedBackoff
from relaybox.core.errors import (
    DestinationUnavailableError,
    KeyBlockedError,
    PermanentError,
    TemporaryError,
    is_unavailable,
)
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.relay import Relay
from relaybox.outbox.routing import TopicMap
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.tables import Tables
from relaybox.pipeline.appliers import process
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.ports.publisher import Publisher
from relaybox.service.publishers import PublisherOptions, publisher_for
from relaybox.testing import wait_until

pytestmark = pytest.mark.integration

URL = os.environ.get("RELAYBOX_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


@pytest.fixture
def pg_outbox(pg_store: object, pg_dsn: str, tables: Tables) -> PgOutbox:
    return PgOutbox(pg_dsn, tables)


@pytest.fixture
async def queue() -> AsyncIterator[str]:
    """A fresh durable queue (durable, so it outlives a broker restart), deleted afterwards."""
    name = unique("rbt")
    async with await aio_pika.connect(URL) as connection:
        channel = await connection.channel()
        await channel.declare_queue(name, durable=True)
    yield name
    async with await aio_pika.connect(URL) as connection:  # the first may have died with a broker
        channel = await connection.channel()
        await channel.queue_delete(name)


async def read(name: str, count: int, *, within: float = 20.0) -> list[Message]:
    """``count`` messages from queue ``name`` through the source, acked, in arrival order."""
    source = RabbitQueueSource(URL, name, prefetch=500)
    got: list[Message] = []

    async def take() -> None:
        async for record in source.records():
            got.append(record)
            await source.ack(record)
            if len(got) >= count:
                return

    try:
        await asyncio.wait_for(take(), within)
    finally:
        await source.close()
    return got


def publisher(**query: str) -> RabbitPublisher:
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    return RabbitPublisher(RabbitAddress.parse(f"{URL}?{suffix}"), TopicMap(), timeout=5.0)


async def test_a_keyed_batch_arrives_intact_and_in_key_order(queue: str) -> None:
    sent = keyed_batch(600, 40, topic=queue)
    amqp = publisher_for(URL, PublisherOptions(timeout=10.0))
    try:
        outcome = await amqp.publish(sent)
    finally:
        await amqp.close()

    assert len(outcome.delivered) == 600, outcome.failed[:3]
    received = await read(queue, 600)
    assert_intact(sent, received)
    assert_key_order(received)


async def test_an_unroutable_message_fails_alone_and_blocks_only_its_key(queue: str) -> None:
    good = keyed_batch(20, 4, topic=queue)
    lost = keyed_batch(2, 1, topic=unique("nobody-listens"))
    lost = [_rekey(m, "k0") for m in lost]
    batch = [*good[:5], *lost, *good[5:]]
    amqp = publisher()
    try:
        outcome = await amqp.publish(batch)
    finally:
        await amqp.close()

    failures = {f.record.id: f.error for f in outcome.failed}
    assert isinstance(failures[lost[0].id], PermanentError)
    assert "unroutable" in str(failures[lost[0].id])
    assert isinstance(failures[lost[1].id], KeyBlockedError)
    assert len(outcome.delivered) == 20 - sum(1 for m in good[5:] if m.key == "k0")
    assert all(m.key != "k0" or m in good[:5] for m in outcome.delivered)


def _rekey(message: Message, key: str) -> Message:
    message.key = key
    return message


async def test_a_missing_exchange_fails_its_messages_for_good() -> None:
    amqp = publisher(exchange=unique("no-such-exchange"))
    try:
        outcome = await amqp.publish(keyed_batch(3, 3, topic="orders"))
    finally:
        await amqp.close()

    assert [type(f.error) for f in outcome.failed] == [PermanentError] * 3


async def test_an_unreachable_broker_is_unavailable_within_the_timeout() -> None:
    amqp = RabbitPublisher(
        RabbitAddress.parse("amqp://guest:secret@127.0.0.1:1/"), TopicMap(), timeout=1.0
    )
    with pytest.raises(DestinationUnavailableError) as caught:
        await asyncio.wait_for(amqp.publish(keyed_batch(3, 1, topic="orders")), 10.0)
    await amqp.close()
    assert "secret" not in str(caught.value)


async def test_the_source_acks_delivered_requeues_temporary_and_dead_letters_permanent() -> None:
    name, dead = unique("rbt"), unique("rbt-dead")
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(dead, aio_pika.ExchangeType.FANOUT)
        parked = await channel.declare_queue(dead)
        await parked.bind(exchange)
        await channel.declare_queue(name, arguments={"x-dead-letter-exchange": dead})
        sent = keyed_batch(30, 3, topic=name)
        amqp = publisher()
        await amqp.publish(sent)
        await amqp.close()
        tries: dict[str, int] = {}

        def handle(message: Message) -> None:
            n = int(message.headers["n"])
            tries[message.id] = tries.get(message.id, 0) + 1
            if n == 7:
                raise PermanentError("bad record")
            if n % 5 == 0 and tries[message.id] == 1:
                raise TemporaryError("try again")

        source = RabbitQueueSource(URL, name)
        coordinator = StreamingCoordinator(source, process(handle, offload=False), max_wait=0.01)
        running = asyncio.create_task(coordinator.run())
        try:
            await wait_until(lambda: len(tries) == 30 and sum(tries.values()) == 36)
        finally:
            await coordinator.stop()
            await running
        declared = await channel.declare_queue(name, passive=True)
        assert declared.declaration_result.message_count == 0
        [dead_letter] = await read(dead, 1)
        assert dead_letter.headers["n"] == "7"
        await channel.queue_delete(name)
        await channel.queue_delete(dead)
        await channel.exchange_delete(dead)


async def test_events_committed_in_postgres_reach_rabbitmq_through_the_cli(
    queue: str, pg_outbox
) -> None:
    events = step_events(120, 7, topic=queue)
    await pg_outbox.write(*events)

    result = await pg_outbox.cli("relay", "--once", "--to", URL)

    assert "delivered 120" in result.output, result.output
    received = await read(queue, 120)
    assert sorted(m.id for m in received) == sorted(e.id for e in events)
    assert {m.headers["traceparent"] for m in received} == {events[0].headers["traceparent"]}
    assert_key_order(received)


class Watching:
    """A publisher that counts the failures that said the broker is unavailable."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner
        self.unavailable = 0

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        try:
            outcome = await self.inner.publish(messages)
        except DestinationUnavailableError:
            self.unavailable += 1
            raise
        self.unavailable += sum(is_unavailable(f.error) for f in outcome.failed)
        return outcome

    async def close(self) -> None:
        await self.inner.close()


async def rabbitmqctl(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.DEVNULL
    )
    assert await asyncio.wait_for(process.wait(), 120) == 0, f"rabbitmqctl {args} failed"


async def test_a_broker_stopped_during_a_relay_run_loses_nothing(
    queue: str, pg_store: PostgresStore, pg_outbox: PgOutbox
) -> None:
    events = step_events(400, 10, topic=queue)
    await pg_outbox.write(*events[:200])
    amqp = Watching(publisher_for(URL, PublisherOptions(timeout=2.0)))
    settings = RelaySettings(batch_size=50, poll_max=0.05, backoff=FixedBackoff(0.2))
    relay = Relay(pg_store, amqp, settings=settings)
    running = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: relay.stats.delivered > 0, within=20)
        await rabbitmqctl("stop_app")
        try:
            await pg_outbox.write(*events[200:])
            await asyncio.sleep(10)  # the outage itself, not a wait for a condition
        finally:
            await rabbitmqctl("start_app")
            await rabbitmqctl("await_startup")
        await wait_until(lambda: relay.stats.delivered >= 400, within=60)
    finally:
        await relay.stop()
        await running
        await amqp.close()

    assert amqp.unavailable > 0, "the relay never published during the outage"
    status = await pg_store.status()
    assert (status.pending, status.dead) == (0, 0)
    received = await read(queue, 400, within=30)
    assert {m.id for m in received} == {e.id for e in events}


async def test_a_publisher_on_the_callers_connection_leaves_it_open(queue: str) -> None:
    sent = keyed_batch(60, 6, topic=queue)
    async with await aio_pika.connect_robust(URL) as connection:
        amqp = RabbitPublisher.from_connection(connection, TopicMap(), timeout=5.0)
        outcome = await amqp.publish(sent)
        await amqp.close()

        assert len(outcome.delivered) == 60
        assert not connection.is_closed
        channel = await connection.channel()  # the connection still works
        await channel.close()
    received = await read(queue, 60)
    assert_intact(sent, received)
    assert_key_order(received)
