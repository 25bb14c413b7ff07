"""The broker sources keep the StreamSource contract, each against its real broker."""

from __future__ import annotations

import os
import uuid
from collections.abc import Hashable, Sequence

import aio_pika
import nats
import pytest
import redis.asyncio as aioredis
from confluent_kafka import Producer
from kafka_broker import Tansu, tansu, unique
from nats.aio.msg import Msg

from brokers import NATS_URL, REDIS_HOST, REDIS_PORT
from relaybox.adapters.kafka import KafkaRecord, source_from_url
from relaybox.adapters.nats import JetStreamSource
from relaybox.adapters.rabbitmq import RabbitQueueSource
from relaybox.adapters.redis import RedisStreamSource
from relaybox.adapters.redis.entries import StreamEntry
from relaybox.core.events import Message
from relaybox.ports.source import StreamSource
from relaybox.testing import message
from relaybox.testing.contracts import StreamSourceContract

pytestmark = pytest.mark.integration
__all__ = ["tansu"]

AMQP_URL = os.environ.get("RELAYBOX_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


def payloads(count: int) -> list[bytes]:
    return [f"record-{n}".encode() for n in range(count)]


class TestRedisStreamSource(StreamSourceContract[StreamEntry]):
    redelivers_nacked = True

    def make_records(self, count: int) -> list[StreamEntry]:
        return [StreamEntry("", "", {"payload": p}) for p in payloads(count)]

    def identity(self, record: StreamEntry) -> Hashable:
        return record.payload

    async def make_source(self, records: Sequence[StreamEntry]) -> StreamSource[StreamEntry]:
        client = aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT)
        stream = unique("contract")
        for record in records:
            await client.xadd(stream, {"payload": record.payload})
        await client.expire(stream, 300)  # left behind by a test, gone in five minutes
        # claim_idle=0: a nacked entry is claimed back at the next read
        return RedisStreamSource(client, stream, "contract", "c-1", claim_idle=0.0)


class TestRabbitQueueSource(StreamSourceContract[Message]):
    redelivers_nacked = True

    def make_records(self, count: int) -> list[Message]:
        return [message(n, payload=p) for n, p in enumerate(payloads(count))]

    def identity(self, record: Message) -> Hashable:
        return record.payload

    async def make_source(self, records: Sequence[Message]) -> StreamSource[Message]:
        queue = unique("contract")
        async with await aio_pika.connect(AMQP_URL) as connection:
            channel = await connection.channel(publisher_confirms=True)
            await channel.declare_queue(queue, auto_delete=True, arguments={"x-expires": 300_000})
            for record in records:
                await channel.default_exchange.publish(aio_pika.Message(record.payload), queue)
        return RabbitQueueSource(AMQP_URL, queue)


class TestJetStreamSource(StreamSourceContract[Msg]):
    redelivers_nacked = True

    def make_records(self, count: int) -> list[Msg]:
        return [Msg(None, data=p) for p in payloads(count)]  # type: ignore[arg-type]

    def identity(self, record: Msg) -> Hashable:
        return record.data

    async def make_source(self, records: Sequence[Msg]) -> StreamSource[Msg]:
        name = f"contract{uuid.uuid4().hex[:12]}"
        client = await nats.connect(NATS_URL)
        try:
            js = client.jetstream()
            await js.add_stream(name=name, subjects=[f"{name}.>"], max_age=300)
            for record in records:
                await js.publish(f"{name}.r", record.data)
        finally:
            await client.close()
        return await JetStreamSource.connect(
            NATS_URL, f"{name}.>", "contract", stream=name, wait=0.2, nak_delay=0.05
        )


class TestKafkaSource(StreamSourceContract[KafkaRecord]):
    redelivers_nacked = True
    broker: Tansu

    @pytest.fixture(autouse=True)
    def _broker(self, tansu: Tansu) -> None:
        self.broker = tansu

    def make_records(self, count: int) -> list[KafkaRecord]:
        return [
            KafkaRecord(str(n), None, "t", "", "", {}, p, "t", 0, n)
            for n, p in enumerate(payloads(count))
        ]

    def identity(self, record: KafkaRecord) -> Hashable:
        return record.payload

    async def make_source(self, records: Sequence[KafkaRecord]) -> StreamSource[KafkaRecord]:
        topic = unique("contract")
        self.broker.create_topic(topic, partitions=1)  # one partition: one order
        producer = Producer({"bootstrap.servers": self.broker.bootstrap})
        for record in records:
            producer.produce(topic, value=record.payload)
        assert producer.flush(10) == 0
        url = self.broker.url(f"group={unique('contract')}&topics={topic}")
        return source_from_url(url, redelivery_delay=0.05)
