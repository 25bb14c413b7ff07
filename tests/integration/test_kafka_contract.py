"""Kafka (a tansu broker on loopback) runs the publisher contract.

The broker keeps its topics in memory, so it is not stopped here: a restart
would lose the topic being checked (``test_kafka_publisher`` kills and
restarts a broker of its own instead).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace

import pytest
from confluent_kafka import Consumer, TopicPartition
from kafka_broker import Tansu, tansu

from relaybox.adapters.kafka import from_url
from relaybox.adapters.kafka.record import record_of
from relaybox.core.events import Message
from relaybox.outbox.destinations import PublisherOptions
from relaybox.outbox.routing import TopicMap
from relaybox.ports.publisher import Publisher
from relaybox.testing import message
from relaybox.testing.publisher_contract import PublisherContract, Received

pytestmark = pytest.mark.integration
__all__ = ["tansu"]

TOO_LARGE = 2 * 1024 * 1024
"""Over librdkafka's ``message.max.bytes`` (1 MB by default): refused before it is sent."""


def everything(bootstrap: str, topic: str) -> list[Received]:
    """Every message of ``topic`` up to each partition's high watermark, partition by partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}"})
    try:
        got: list[Received] = []
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            while True:
                batch = [m for m in consumer.consume(1000, 10) if m.error() is None]
                assert batch, f"partition {p} of {topic} ends short of offset {high}"
                for r in map(record_of, batch):
                    got.append(Received(r.id, r.key, r.type, r.topic, r.headers, r.payload))
                if (batch[-1].offset() or 0) + 1 >= high:
                    break
        return got
    finally:
        consumer.close()


class TestKafkaPublisher(PublisherContract):
    """Topic ``orders`` goes to a fresh Kafka topic ``<prefix>.orders`` of three partitions."""

    @pytest.fixture(autouse=True)
    def _broker(self, tansu: Tansu) -> None:
        self.broker = tansu

    async def make_publisher(self, options: PublisherOptions) -> Publisher:
        self.prefix = f"rbt-{uuid.uuid4().hex[:12]}"
        await asyncio.to_thread(self.broker.create_topic, f"{self.prefix}.orders", 3)
        topics = TopicMap(self.prefix + ".{topic}")
        return from_url(self.broker.url(), replace(options, topics=topics))

    async def received(self) -> list[Received]:
        return await asyncio.to_thread(everything, self.broker.bootstrap, f"{self.prefix}.orders")

    async def unreachable_publisher(self, options: PublisherOptions) -> Publisher:
        return from_url("kafka://127.0.0.1:1", options)

    async def rejected_message(self, row_id: int, key: str) -> Message | None:
        return message(row_id, key=key, topic="orders", payload=b"x" * TOO_LARGE)
