"""Mosquitto on loopback runs the publisher contract, read back by a real QoS 1 subscriber."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import aiomqtt
import pytest

from relaybox.adapters.mqtt import from_url, incoming
from relaybox.core.events import Message
from relaybox.outbox.destinations import PublisherOptions
from relaybox.outbox.routing import TopicMap
from relaybox.ports.publisher import Publisher
from relaybox.testing import message
from relaybox.testing.publisher_contract import PublisherContract, Received

pytestmark = pytest.mark.integration

HOST, _, PORT = os.environ.get("RELAYBOX_TEST_MQTT", "127.0.0.1:1883").partition(":")
END = "end-of-test"


def client() -> aiomqtt.Client:
    return aiomqtt.Client(
        HOST, int(PORT), protocol=aiomqtt.ProtocolVersion.V5, max_queued_incoming_messages=0
    )


class Subscription:
    """Keeps what arrives under ``prefix/#`` until the end marker comes through."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.got: list[Received] = []
        self.ready, self.ended = asyncio.Event(), asyncio.Event()

    async def run(self) -> None:
        async with client() as mqtt:
            await mqtt.subscribe(f"{self.prefix}/#", qos=1)
            self.ready.set()
            async for delivery in mqtt.messages:
                if delivery.topic.value == f"{self.prefix}/{END}":
                    self.ended.set()
                    continue
                m = incoming(delivery)
                self.got.append(Received(m.id, m.key, m.type, m.topic, m.headers, m.payload))

    async def everything(self) -> list[Received]:
        # Mosquitto queues to a subscriber in the order it accepted the publishes: once the
        # marker, sent after the publisher's PUBACKs, arrives, everything before it has too.
        async with client() as mqtt:
            await mqtt.publish(f"{self.prefix}/{END}", b"", qos=1)
        await asyncio.wait_for(self.ended.wait(), 20)
        return self.got


class TestMqttPublisher(PublisherContract):
    """Topic ``orders`` goes to ``<prefix>/orders``; each publisher has a fresh prefix."""

    @pytest.fixture(autouse=True)
    async def _subscriptions(self) -> AsyncIterator[None]:
        self.tasks: list[asyncio.Task[None]] = []
        yield
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def make_publisher(self, options: PublisherOptions) -> Publisher:
        self.subscription = Subscription(f"rbt-{uuid.uuid4().hex[:12]}")
        self.tasks.append(asyncio.create_task(self.subscription.run()))
        await asyncio.wait_for(self.subscription.ready.wait(), 10)
        topics = TopicMap(self.subscription.prefix + "/{topic}")
        return from_url(f"mqtt://{HOST}:{PORT}", replace(options, topics=topics))

    async def received(self) -> list[Received]:
        return await self.subscription.everything()

    async def unreachable_publisher(self, options: PublisherOptions) -> Publisher:
        return from_url("mqtt://127.0.0.1:1", options)

    async def rejected_message(self, row_id: int, key: str) -> Message | None:
        return message(row_id, key=key, topic="wild/#")  # no wildcards in a published topic
