"""RabbitMQ on loopback runs the publisher contract, the broker stopped with ``rabbitmqctl``."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import replace

import aio_pika
import pytest

from relaybox.adapters.rabbitmq import RabbitPublisher, from_url
from relaybox.adapters.rabbitmq.envelope import incoming
from relaybox.core.events import Message
from relaybox.outbox.destinations import PublisherOptions
from relaybox.outbox.routing import TopicMap
from relaybox.ports.publisher import Publisher
from relaybox.testing import message
from relaybox.testing.publisher_contract import PublisherContract, Received

pytestmark = pytest.mark.integration

URL = os.environ.get("RELAYBOX_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


async def rabbitmqctl(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", *args, stdout=asyncio.subprocess.DEVNULL
    )
    assert await asyncio.wait_for(process.wait(), 120) == 0, f"rabbitmqctl {args} failed"


class TestRabbitPublisher(PublisherContract):
    """Topic ``orders`` goes to a fresh durable queue ``<prefix>.orders`` (default exchange)."""

    can_stop_broker = True

    async def make_publisher(self, options: PublisherOptions) -> Publisher:
        self.prefix = f"rbt-{uuid.uuid4().hex[:12]}"
        async with await aio_pika.connect(URL) as connection:
            channel = await connection.channel()
            await channel.declare_queue(f"{self.prefix}.orders", durable=True)
        return from_url(URL, replace(options, topics=TopicMap(self.prefix + ".{topic}")))

    async def received(self) -> list[Received]:
        got: list[Received] = []
        async with await aio_pika.connect(URL) as connection:
            channel = await connection.channel()
            queue = await channel.get_queue(f"{self.prefix}.orders")
            while (delivery := await queue.get(no_ack=True, fail=False)) is not None:
                got.append(_received(incoming(delivery)))
            await queue.delete(if_unused=False, if_empty=False)
        return got

    async def unreachable_publisher(self, options: PublisherOptions) -> Publisher:
        return from_url("amqp://guest:guest@127.0.0.1:1/", options)

    async def rejected_message(self, row_id: int, key: str) -> Message | None:
        # The broker refuses an exchange it does not have (404 on the declare).
        return message(row_id, key=key, topic="missing/orders")

    async def stop_broker(self) -> None:
        await rabbitmqctl("stop_app")

    async def start_broker(self) -> None:
        await rabbitmqctl("start_app")
        await rabbitmqctl("await_startup")


def _received(m: Message) -> Received:
    return Received(m.id, m.key, m.type, m.topic, m.headers, m.payload)


def test_the_harness_publisher_is_the_rabbitmq_one() -> None:
    publisher = from_url(URL, PublisherOptions())
    assert isinstance(publisher, RabbitPublisher)
