"""Reading a Redis stream through a consumer group, for the streaming coordinator."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as rx

from relaybox.adapters.redis.entries import StreamEntry
from relaybox.adapters.redis.faults import UNREACHABLE, unavailable
from relaybox.core.backoff import Backoff
from relaybox.core.errors import is_permanent

Batch = Sequence[tuple[bytes, dict[bytes, bytes]]]
log = logging.getLogger(__name__)


RECONNECT = Backoff(initial=0.1, max_delay=2.0)
"""Waits between reads at an absent server."""


class RedisStreamSource:
    """A :class:`~relaybox.ports.source.StreamSource` of one stream's entries, via a group.

    * ``records()`` yields new entries (``XREADGROUP``); every ``claim_idle``
      seconds it first takes over entries another consumer (or this one) left
      pending that long (``XAUTOCLAIM``), so a crashed consumer's work and
      nacked entries are offered again. The group is created if missing.
    * ``ack(entry)`` is ``XACK``: call it only once the entry is delivered or
      dead-lettered (the coordinator does).
    * ``nack(entry, error)`` leaves the entry pending, to be reclaimed after
      ``claim_idle``; a permanent error instead moves it to ``dead_letters``
      (a stream, with ``error`` and ``source_id`` fields added) when one is given.
    * Consumers of one group share the stream: each entry goes to one of them,
      so order holds per consumer, not across consumers.
    * A lost connection is waited out (0.1 s growing to 2 s between tries) and
      the group created again if a restarted server forgot it, so a consumer
      outlives a broker restart; ``close()`` ends ``records()`` within ``block``
      seconds (or the pause under way) and closes the client.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        stream: str,
        group: str,
        consumer: str,
        *,
        count: int = 100,
        block: float = 0.2,
        claim_idle: float = 30.0,
        dead_letters: str | None = None,
    ) -> None:
        self._client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._count = count
        self._block_ms = max(1, int(block * 1000))
        self._claim_idle_ms = int(claim_idle * 1000)
        self._dead_letters = dead_letters
        self._closed = False
        self._next_claim = 0.0

    async def records(self) -> AsyncIterator[StreamEntry]:
        grouped = False
        tries = 0
        while not self._closed:
            try:
                if not grouped:
                    await self._ensure_group()
                    grouped = True
                batch = await self._next_batch()
            except UNREACHABLE as exc:
                if self.closed:
                    return
                # The server is away: wait and read on, as the client reconnects by itself.
                log.warning("reading %r: %s", self.stream, unavailable(self.stream, exc))
                tries += 1
                await asyncio.sleep(RECONNECT.delay(tries))
                continue
            except rx.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                grouped = False  # a restarted server without persistence forgot the group
                continue
            tries = 0
            for entry_id, fields in batch:
                yield StreamEntry.of(self.stream, entry_id, fields)

    async def _ensure_group(self) -> None:
        try:
            await self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except rx.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _next_batch(self) -> Batch:
        if time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + self._claim_idle_ms / 1000
            claimed = await self._reclaim()
            if claimed:
                return claimed
        reply = await self._client.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=self._count, block=self._block_ms
        )
        return _entries(reply)

    async def _reclaim(self) -> Batch:
        """Entries idle in the group's pending list for ``claim_idle``, now ours."""
        reply = await self._client.xautoclaim(
            self.stream, self.group, self.consumer, self._claim_idle_ms, "0-0", count=self._count
        )
        return [item for item in reply[1] if item is not None and item[1] is not None]

    @property
    def closed(self) -> bool:
        return self._closed

    async def ack(self, entry: StreamEntry, /) -> None:
        await self._client.xack(self.stream, self.group, entry.entry_id)

    async def nack(self, entry: StreamEntry, error: BaseException, /) -> None:
        if self._dead_letters is None or not is_permanent(error):
            return  # stays pending: XAUTOCLAIM offers it again after claim_idle
        fields: dict[str | bytes, bytes | str] = dict(entry.fields.items())
        fields.update(error=f"{type(error).__name__}: {error}", source_id=entry.entry_id)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.xadd(self._dead_letters, fields)  # type: ignore[arg-type]
            pipe.xack(self.stream, self.group, entry.entry_id)
            await pipe.execute()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"RedisStreamSource({self.stream!r}, group={self.group!r}, {state})"


def _entries(reply: Any) -> Batch:
    """The entries of an ``XREADGROUP`` reply: ``[[stream, [(id, fields), ...]], ...]``."""
    return [item for _, entries in reply or () for item in entries]
