"""NATS JetStream: raw publish_async with acks in flight against the relay's publisher."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator

import nats
from nats.js import JetStreamContext

NAME = "nats"
URL = os.environ.get("RELAYBOX_BENCH_NATS", "nats://127.0.0.1:4222")
STREAM = "RBBENCH"
PENDING = 4000


@contextlib.asynccontextmanager
async def _jetstream() -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(URL, connect_timeout=2, max_reconnect_attempts=0)
    try:
        yield client.jetstream(publish_async_max_pending=PENDING)
    finally:
        await client.close()


async def available() -> bool:
    try:
        async with _jetstream() as js:
            await js.account_info()
            return True
    except Exception:  # anything: the section is skipped with the reason printed by the driver
        return False


async def raw_rate(events: int, payload: bytes) -> float:
    """publish_async with the headers the relay sends, up to 4000 acks in flight."""
    async with _jetstream() as js:
        started = time.perf_counter()
        futures = [
            await js.publish_async("orders", payload, headers=_headers(n)) for n in range(events)
        ]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
        assert (await js.stream_info(STREAM)).state.messages == events
    return events / elapsed


def _headers(n: int) -> dict[str, str]:
    """The same metadata a relayed message carries (id, topic, type, key, content type)."""
    event_id = f"raw-{n:012d}-0000-7000-8000-000000000000"
    return {
        "Relaybox-Id": event_id,
        "Relaybox-Topic": "orders",
        "Content-Type": "application/json",
        "Relaybox-Type": "OrderPlaced",
        "Relaybox-Key": f"customer-{n % 1000:05d}",
        "Nats-Msg-Id": event_id,
    }


def publisher_url() -> str:
    return URL


async def reset() -> None:
    """A fresh stream on subject ``orders`` (file storage, the server's default)."""
    async with _jetstream() as js:
        with contextlib.suppress(Exception):
            await js.delete_stream(STREAM)
        await js.add_stream(name=STREAM, subjects=["orders"], duplicate_window=600.0)
