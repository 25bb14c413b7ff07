"""RabbitMQ: raw aio-pika publishing with confirms in flight against the relay's publisher.

Run alone (``python benchmarks/brokerbench/rabbitmq.py``) it prints both
rates, the publisher's on in-memory message batches.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import aio_pika

NAME = "rabbitmq"
URL = os.environ.get("RELAYBOX_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
EXCHANGE, QUEUE = "rbbench", "rbbench-orders"
WINDOW = 1000


async def available() -> bool:
    try:
        connection = await aio_pika.connect(URL, timeout=3)
    except Exception:  # anything: the section is skipped
        return False
    await connection.close()
    return True


async def raw_rate(events: int, payload: bytes) -> float:
    """Persistent, mandatory, confirmed publishes, ``WINDOW`` confirms awaited at once."""
    async with await aio_pika.connect(URL) as connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EXCHANGE)
        started = time.perf_counter()
        for start in range(0, events, WINDOW):
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(payload, message_id=str(n), delivery_mode=2), "orders"
                    )
                    for n in range(start, min(events, start + WINDOW))
                )
            )
        return events / (time.perf_counter() - started)


def publisher_url() -> str:
    """Topic ``orders`` goes to exchange ``rbbench`` with routing key ``orders``."""
    return f"{URL}?exchange={EXCHANGE}"


async def reset() -> None:
    """A fresh, empty durable queue bound to the benchmark's exchange."""
    async with await aio_pika.connect(URL) as connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(EXCHANGE, durable=True)
        await channel.queue_delete(QUEUE)
        queue = await channel.declare_queue(QUEUE, durable=True)
        await queue.bind(exchange, "orders")


async def _main(events: int = 20_000) -> None:
    from brokerbench._alone import publisher_rate

    payload = b"x" * 300
    if not await available():
        print(f"{NAME}: no broker at {URL.rpartition('@')[2]}")
        return
    await reset()
    raw = await raw_rate(events, payload)
    await reset()
    relay = await publisher_rate(publisher_url(), events, payload)
    await reset()
    print(f"{NAME} raw aio-pika, confirms, window {WINDOW}: {raw:>9,.0f}/s")
    print(f"{NAME} publisher (in-memory batches):   {relay:>9,.0f}/s")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for brokerbench._alone
    asyncio.run(_main())
