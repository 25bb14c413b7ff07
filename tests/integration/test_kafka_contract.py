"""Kafka (a tansu broker on loopback) runs the publisher contract.

The broker keeps its topics in memory, so it is not stopped here: a restart
would lose the topic being checked (``test_kafka_publisher`` kills and
restarts a broker of its own instead).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
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

END = "contract-end-of-partition"
TOO_LARGE = 2 * 1024 * 1024
"""Over librdkafka's ``message.max.bytes`` (1 MB by default): refused before it is sent."""


def everything(bootstrap: str, topic: str) -> list[Received]:
    """Every message of ``topic``, each partition in order, up to an end marker written last.

    (tansu's high watermarks do not count records, so the marker says where a partition ends.)
    """
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4()}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        for p in partitions:
            producer.produce(topic, b"", partition=p, headers=[(END, b"1")])
        assert producer.flush(10) == 0, "the end markers were not acknowledged"
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        got: list[Received] = []
        ended: set[int] = set()
        deadline = time.monotonic() + 30
        while len(ended) < len(partitions):
            assert time.monotonic() < deadline, f"end markers of {topic} never read back"
            batch = [m for m in consumer.consume(1000, 0.5) if m.error() is None]
            for m in batch:
                r = record_of(m)
                if END in dict(r.raw_headers):
                    ended.add(m.partition() or 0)
                else:
                    got.append(Received(r.id, r.key, r.type, r.topic, r.headers, r.payload))
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
