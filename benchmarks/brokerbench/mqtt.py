"""MQTT (Mosquitto): raw aiomqtt QoS 1 publishing against the relay's publisher.

Run alone (``python benchmarks/brokerbench/mqtt.py``) it prints the raw rate
with and without ``TCP_NODELAY`` on the client socket, and the publisher's
rate on in-memory message batches.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
import uuid
from pathlib import Path

import aiomqtt

NAME = "mqtt"
HOST = os.environ.get("RELAYBOX_BENCH_MQTT", "127.0.0.1:1883")
WINDOW = 20  # Mosquitto's Receive Maximum: unacknowledged publishes it accepts
_prefix = f"rbbench-{uuid.uuid4().hex[:8]}"


def _client(*, nodelay: bool = True) -> aiomqtt.Client:
    host, _, port = HOST.partition(":")
    options = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)] if nodelay else []
    return aiomqtt.Client(
        host,
        int(port or 1883),
        protocol=aiomqtt.ProtocolVersion.V5,
        max_inflight_messages=WINDOW,
        socket_options=options,
    )


async def available() -> bool:
    try:
        async with asyncio.timeout(3), _client():
            return True
    except Exception:  # anything: the section is skipped
        return False


async def raw_rate(events: int, payload: bytes, *, nodelay: bool = True) -> float:
    """QoS 1 publishes, ``WINDOW`` awaiting their PUBACK at once."""
    client = _client(nodelay=nodelay)
    client.pending_calls_threshold = WINDOW + 1
    slots = asyncio.Semaphore(WINDOW)

    async def one(n: int) -> None:
        async with slots:
            await client.publish(f"{_prefix}/orders", payload, qos=1)

    async with client:
        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(events)))
        return events / (time.perf_counter() - started)


def publisher_url() -> str:
    return f"mqtt://{HOST}?qos=1"


async def reset() -> None:
    """Nothing to drop: nobody subscribes, so the broker keeps nothing."""


async def _main(events: int = 20_000) -> None:
    from brokerbench._alone import publisher_rate

    payload = b"x" * 300
    if not await available():
        print(f"{NAME}: no broker at {HOST}")
        return
    nagle = await raw_rate(events, payload, nodelay=False)
    nodelay = await raw_rate(events, payload)
    relay = await publisher_rate(publisher_url(), events, payload)
    print(f"{NAME} raw QoS 1, Nagle on:             {nagle:>9,.0f}/s")
    print(f"{NAME} raw QoS 1, TCP_NODELAY:          {nodelay:>9,.0f}/s")
    print(f"{NAME} publisher (in-memory batches):   {relay:>9,.0f}/s")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for brokerbench._alone
    asyncio.run(_main())
