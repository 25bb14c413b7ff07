"""Latency from commit to publish at a steady write rate.

A writer commits one keyed event per transaction on a fixed schedule
(absolute deadlines, each transaction on the next free of a few connections,
so a slow commit does not slow the rate down) and notes when each commit
returned; a running relay (default settings) publishes
through a publisher that notes when each event arrived. Both use
``time.monotonic()`` (CLOCK_MONOTONIC, one clock for every process of the
machine), so the writer may run in this process or in a child process
(``python benchmarks/outbox_latency.py DSN TABLE RATE COUNT``, which prints
the commit times as JSON). The first ``warmup`` seconds are left out. The
writer sends no ``NOTIFY`` and, unless asked to, calls no ``wake()``: the relay
finds the events by polling alone. A small negative minimum is possible: a
commit is visible to the relay before its writer has read the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

import asyncpg

from outbox_profile import Profile, Recorder
from outbox_tables import fresh_store, fresh_tables, payload
from relaybox.core.events import Event, Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.relay import Relay
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox

KEYS = 1000
WRITERS = 4


class StampingPublisher:
    """Notes when each event first arrived and delivers it; ``done`` is set at ``expected``."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.received: dict[str, float] = {}
        self.done = asyncio.Event()

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        now = time.monotonic()
        for message in messages:
            self.received.setdefault(message.id, now)
        if len(self.received) >= self.expected:
            self.done.set()
        return Outcome(delivered=tuple(messages))

    async def close(self) -> None:
        pass


async def write_steadily(
    dsn: str, tables: Tables, rate: float, count: int, on_commit: Callable[[], None] | None = None
) -> dict[str, float]:
    """Commit ``count`` events at ``rate`` per second; the commit time of each event id.

    Each transaction starts at its own deadline on one of ``WRITERS`` connections,
    so one slow commit (an fsync that stalls) delays only itself, not the schedule.
    """
    outbox = Outbox(tables)
    committed: dict[str, float] = {}

    async with asyncpg.create_pool(dsn, min_size=WRITERS, max_size=WRITERS) as pool:

        async def write(number: int) -> None:
            key = f"customer-{number % KEYS:05d}"
            event = Event("orders", payload(number, key), key=key)
            async with pool.acquire() as conn:
                async with conn.transaction():
                    ids = await outbox.add_async(conn, event)
                # Before the pool's reset query on release: that is not part of the commit.
                committed[ids[0]] = time.monotonic()
                if on_commit is not None:
                    on_commit()

        async with asyncio.TaskGroup() as group:
            start = time.monotonic()
            for number in range(count):
                delay = start + number / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                group.create_task(write(number))
    return committed


async def write_in_child(dsn: str, tables: Tables, rate: float, count: int) -> dict[str, float]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__)),
        dsn,
        tables.name,
        str(rate),
        str(count),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"writer process failed with exit code {child.returncode}")
    committed: dict[str, float] = json.loads(out)
    return committed


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending sequence."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(committed: dict[str, float], received: dict[str, float], skip: int) -> dict[str, float]:
    order = sorted(committed, key=committed.__getitem__)[skip:]
    ms = sorted((received[i] - committed[i]) * 1000 for i in order)
    span = committed[order[-1]] - committed[order[0]]
    return {
        "events": len(ms),
        "writer_events_per_s": round((len(order) - 1) / span) if span > 0 else 0,
        "p50_ms": round(percentile(ms, 0.50), 2),
        "p90_ms": round(percentile(ms, 0.90), 2),
        "p99_ms": round(percentile(ms, 0.99), 2),
        "max_ms": round(ms[-1], 2),
        "min_ms": round(ms[0], 2),
    }


async def measure(
    dsn: str,
    rate: float,
    seconds: float,
    warmup: float,
    *,
    child: bool,
    wake: bool,
    profile: Profile | None = None,
) -> dict[str, float]:
    """Latency percentiles with a relay running beside a writer at ``rate`` events/s."""
    skip, count = round(warmup * rate), round((warmup + seconds) * rate)
    tables = fresh_tables()
    recorder = None if profile is None else Recorder(tables, profile)
    async with fresh_store(dsn, tables, recorder) as store:
        publisher = StampingPublisher(count)
        relay = Relay(store, publisher)
        running = asyncio.create_task(relay.run())
        try:
            with nullcontext() if recorder is None else recorder.measuring():
                if child:
                    committed = await write_in_child(dsn, tables, rate, count)
                else:
                    hint = relay.wake if wake else None
                    committed = await write_steadily(dsn, tables, rate, count, hint)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(publisher.done.wait(), timeout=30)
        finally:
            await relay.stop()
            await running
    if len(publisher.received) < count:
        raise SystemExit(f"relay published {len(publisher.received)} of {count} events")
    return summary(committed, publisher.received, skip)


def main() -> None:
    """Child-process writer: ``DSN TABLE RATE COUNT``; prints the commit times as JSON."""
    dsn, name, rate, count = sys.argv[1:5]
    committed = asyncio.run(write_steadily(dsn, Tables(name), float(rate), int(count)))
    json.dump(committed, sys.stdout)


if __name__ == "__main__":
    main()
