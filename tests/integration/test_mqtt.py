"""MQTT on loopback (Mosquitto): what the publisher sends, a real subscriber reads back."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence

import aiomqtt
import pytest
from broker_checks import (
    TRACEPARENT,
    PgOutbox,
    assert_intact,
    assert_key_order,
    keyed_batch,
    step_events,
    unique,
)

from relaybox.adapters.mqtt import MqttAddress, MqttPublisher, incoming
from relaybox.core.errors import DestinationUnavailableError, KeyBlockedError, PermanentError
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.routing import TopicMap
from relaybox.outbox.tables import Tables
from relaybox.service.publishers import PublisherOptions, publisher_for
from relaybox.testing import wait_until

pytestmark = pytest.mark.integration

HOST = os.environ.get("RELAYBOX_TEST_MQTT", "127.0.0.1:1883")


class Subscriber:
    """A QoS 1 subscription to ``prefix/#`` that keeps what arrives, in arrival order."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.received: list[Message] = []

    async def run(self, ready: asyncio.Event) -> None:
        host, _, port = HOST.partition(":")
        async with aiomqtt.Client(
            host, int(port), protocol=aiomqtt.ProtocolVersion.V5, max_queued_incoming_messages=0
        ) as client:
            await client.subscribe(f"{self.prefix}/#", qos=1)
            ready.set()
            async for delivery in client.messages:
                self.received.append(incoming(delivery))


@pytest.fixture
async def subscriber() -> AsyncIterator[Subscriber]:
    listening = Subscriber(unique("rbt"))
    ready = asyncio.Event()
    task = asyncio.create_task(listening.run(ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield listening
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def publish(url: str, messages: Sequence[Message], prefix: str) -> Outcome[Message]:
    options = PublisherOptions(topics=TopicMap(f"{prefix}/{{topic}}"), timeout=10.0)
    mqtt = publisher_for(url, options)
    try:
        return await mqtt.publish(messages)
    finally:
        await mqtt.close()


@pytest.mark.parametrize("qos", [1, 2])
async def test_a_keyed_batch_arrives_intact_and_in_key_order(
    subscriber: Subscriber, qos: int
) -> None:
    sent = keyed_batch(500, 25, topic="orders")

    outcome = await publish(f"mqtt://{HOST}?qos={qos}", sent, subscriber.prefix)

    assert len(outcome.delivered) == 500
    await wait_until(lambda: len(subscriber.received) >= 500, what="500 deliveries")
    assert_intact(sent, subscriber.received)
    assert_key_order(subscriber.received)


async def test_a_topic_the_client_refuses_fails_alone_and_blocks_its_key(
    subscriber: Subscriber,
) -> None:
    good = keyed_batch(6, 3, topic="orders")
    bad = keyed_batch(2, 1, topic="wild/#")
    for m in bad:
        m.key = "k0"
    mqtt = MqttPublisher(
        MqttAddress.parse(f"mqtt://{HOST}"), TopicMap(f"{subscriber.prefix}/{{topic}}")
    )
    try:
        outcome = await mqtt.publish([good[0], *bad, *good[1:]])
    finally:
        await mqtt.close()

    failures = {f.record.id: f.error for f in outcome.failed}
    assert isinstance(failures[bad[0].id], PermanentError)
    assert isinstance(failures[bad[1].id], KeyBlockedError)
    assert {m.key for m in outcome.delivered} == {"k0", "k1", "k2"}
    assert good[1].key == "k0"
    assert isinstance(failures[good[1].id], KeyBlockedError)


async def test_an_unreachable_broker_is_unavailable_within_the_timeout() -> None:
    mqtt = MqttPublisher(MqttAddress.parse("mqtt://127.0.0.1:1"), TopicMap(), timeout=1.0)
    with pytest.raises(DestinationUnavailableError):
        await asyncio.wait_for(mqtt.publish(keyed_batch(3, 1, topic="x")), 10.0)
    await mqtt.close()


async def test_events_committed_in_postgres_reach_a_subscriber_through_the_cli(
    subscriber: Subscriber, pg_store: object, pg_dsn: str, tables: Tables
) -> None:
    outbox = PgOutbox(pg_dsn, tables)
    events = step_events(100, 5, topic=f"{subscriber.prefix}/orders")
    await outbox.write(*events)

    result = await outbox.cli("relay", "--once", "--to", f"mqtt://{HOST}?qos=1")

    assert "delivered 100" in result.output, result.output
    await wait_until(lambda: len(subscriber.received) >= 100, what="100 deliveries")
    assert sorted(m.id for m in subscriber.received) == sorted(e.id for e in events)
    assert {m.headers["traceparent"] for m in subscriber.received} == {TRACEPARENT}
    assert_key_order(subscriber.received)
