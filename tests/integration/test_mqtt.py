"""MQTT on loopback (Mosquitto): what the publisher sends, a real subscriber reads back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

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
from relaybox.adapters.postgres import PostgresStore
from relaybox.core.backoff import FixedBackoff
from relaybox.core.errors import (
    DestinationUnavailableError,
    KeyBlockedError,
    PermanentError,
    is_unavailable,
)
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.relay import Relay
from relaybox.outbox.routing import TopicMap
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.tables import Tables
from relaybox.ports.publisher import Publisher
from relaybox.service.publishers import PublisherOptions, publisher_for
from relaybox.testing import wait_until

pytestmark = pytest.mark.integration

HOST = os.environ.get("RELAYBOX_TEST_MQTT", "127.0.0.1:1883")
PID_FILE = Path("/run/mosquitto/mosquitto.pid")


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


@pytest.fixture
def pg_outbox(pg_store: object, pg_dsn: str, tables: Tables) -> PgOutbox:
    return PgOutbox(pg_dsn, tables)


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


async def test_a_publisher_from_the_callers_client_leaves_it_open(
    subscriber: Subscriber,
) -> None:
    sent = keyed_batch(60, 6, topic="orders")
    host, _, port = HOST.partition(":")
    async with aiomqtt.Client(host, int(port), protocol=aiomqtt.ProtocolVersion.V5) as client:
        mqtt = MqttPublisher.from_client(
            client, TopicMap(f"{subscriber.prefix}/{{topic}}"), timeout=10.0
        )
        outcome = await mqtt.publish(sent)
        await mqtt.close()

        assert len(outcome.delivered) == 60
        await wait_until(lambda: len(subscriber.received) >= 60, what="60 deliveries")
        assert_intact(sent, subscriber.received)
        assert_key_order(subscriber.received)
        await client.publish(f"{subscriber.prefix}/after", b"still open", qos=1)


class Gated:
    """A publisher whose calls wait while ``open`` is clear, and that counts outage failures."""

    def __init__(self, inner: Publisher) -> None:
        self.inner = inner
        self.open = asyncio.Event()
        self.open.set()
        self.unavailable = 0

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        await self.open.wait()
        try:
            outcome = await self.inner.publish(messages)
        except DestinationUnavailableError:
            self.unavailable += 1
            raise
        self.unavailable += sum(is_unavailable(f.error) for f in outcome.failed)
        return outcome

    async def close(self) -> None:
        await self.inner.close()


async def stop_mosquitto() -> None:
    os.kill(mosquitto_pid(), signal.SIGTERM)
    await wait_until(lambda: not answers(1883), what="Mosquitto to stop")


def mosquitto_pid() -> int:
    return int(PID_FILE.read_text())


async def start_mosquitto() -> None:
    if not answers(1883):
        os.makedirs("/run/mosquitto", exist_ok=True)
        shutil.chown("/run/mosquitto", "mosquitto")
        start = await asyncio.create_subprocess_exec(
            "mosquitto", "-d", "-c", "/etc/mosquitto/mosquitto.conf"
        )
        await asyncio.wait_for(start.wait(), 30)
    await wait_until(lambda: answers(1883), within=30, what="Mosquitto to answer again")


def answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
        return True
    return False


async def test_a_broker_stopped_during_a_relay_run_loses_nothing(
    pg_store: PostgresStore, pg_outbox: PgOutbox
) -> None:
    before, after = Subscriber(unique("rbt")), Subscriber(unique("rbt"))
    # Each half goes to the subscriber that is listening while it is published.
    events = [
        *step_events(100, 10, topic=f"{before.prefix}/orders"),
        *step_events(100, 10, topic=f"{after.prefix}/orders"),
    ]
    await pg_outbox.write(*events[:100])
    mqtt = Gated(publisher_for(f"mqtt://{HOST}", PublisherOptions(timeout=2.0)))
    settings = RelaySettings(batch_size=50, poll_max=0.05, backoff=FixedBackoff(0.2))
    relay = Relay(pg_store, mqtt, settings=settings)
    listening = [await listen(before)]
    running = asyncio.create_task(relay.run())
    try:
        await wait_until(lambda: len(before.received) >= 100, what="the first half")
        await stop_mosquitto()
        try:
            await pg_outbox.write(*events[100:])
            await wait_until(lambda: mqtt.unavailable > 0, what="a publish during the outage")
            mqtt.open.clear()  # hold the relay until the second subscriber listens
        finally:
            await start_mosquitto()
        listening.append(await listen(after))
        mqtt.open.set()
        await wait_until(lambda: relay.stats.delivered >= 200, within=30, what="all delivered")
        await wait_until(lambda: len(after.received) >= 100, what="the second half")
    finally:
        mqtt.open.set()
        await relay.stop()
        await running
        await mqtt.close()
        for task in listening:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)

    status = await pg_store.status()
    assert (status.pending, status.dead) == (0, 0)
    assert {m.id for m in [*before.received, *after.received]} == {e.id for e in events}
    assert_key_order(after.received)


async def listen(subscriber: Subscriber) -> asyncio.Task[None]:
    ready = asyncio.Event()
    task = asyncio.create_task(subscriber.run(ready))
    await asyncio.wait_for(ready.wait(), 10)
    return task
