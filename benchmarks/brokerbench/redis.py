"""Redis Streams: raw pipelined XADD against the relay's script-appended batches."""

from __future__ import annotations

import os
import time
import uuid

import redis.asyncio as aioredis

NAME = "redis"
URL = os.environ.get("RELAYBOX_BENCH_REDIS", "redis://127.0.0.1:6379/0")
BATCH = 1000
_streams: list[str] = []


def _client() -> aioredis.Redis:
    return aioredis.Redis.from_url(URL)


async def available() -> bool:
    try:
        async with _client() as client:
            return bool(await client.ping())
    except (OSError, aioredis.ConnectionError, aioredis.TimeoutError):
        return False


def _fresh() -> str:
    _streams.append(f"rbbench-{uuid.uuid4().hex[:12]}")
    return _streams[-1]


async def raw_rate(events: int, payload: bytes) -> float:
    """XADD the same fields the relay writes, pipelined in batches of 1000."""
    stream = _fresh()
    fields: dict[str | bytes, str | bytes] = {
        "id": str(uuid.uuid4()),
        "topic": "orders",
        "type": "OrderPlaced",
        "content_type": "application/json",
        "headers": "{}",
        "payload": payload,
        "key": "customer-00001",
    }
    async with _client() as client:
        started = time.perf_counter()
        for start in range(0, events, BATCH):
            async with client.pipeline(transaction=False) as pipe:
                for _ in range(min(BATCH, events - start)):
                    pipe.xadd(stream, fields)  # type: ignore[arg-type]
                await pipe.execute()
        elapsed = time.perf_counter() - started
        assert await client.xlen(stream) == events
    return events / elapsed


def publisher_url() -> str:
    return f"{URL}?stream={_fresh()}"


async def reset() -> None:
    async with _client() as client:
        if _streams:
            await client.delete(*_streams)
    _streams.clear()
