"""Relay throughput on PostgreSQL against the raw floor of the same driver.

The relay drains a keyed backlog with ``Relay.drain()`` and the in-memory
publisher (batches of 1000). The floor drains an identical backlog with the
cheapest loop that still claims safely: one ``DELETE ... WHERE id IN (SELECT
... FOR UPDATE SKIP LOCKED) RETURNING *`` per 1000 rows on one asyncpg
connection, with no leases, ordering or settling. With a ``head`` (one key's
events written first), each run also drains the same backlog behind that key,
parked (``outbox_parked``). Every side gets fresh tables per run; runs rotate
which goes first, so drift hits them alike.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import asyncpg

from outbox_parked import ParkedRun, parked_rate
from outbox_profile import Profile, Recorder
from outbox_tables import BacklogRow, fresh_store, fresh_tables, load
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.testing.publisher import MemoryPublisher

BATCH = 1000
FLOOR = (
    "DELETE FROM {events} WHERE id IN "
    "(SELECT id FROM {events} ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING *"
)


@dataclass(frozen=True, slots=True)
class Throughput:
    """Best events/s of each side over the runs, and every run's figure."""

    relay: list[float]
    floor: list[float]
    parked: list[ParkedRun]

    @property
    def best_relay(self) -> float:
        return max(self.relay)

    @property
    def best_floor(self) -> float:
        return max(self.floor)

    @property
    def ratio(self) -> float:
        return self.best_relay / self.best_floor

    @property
    def best_parked(self) -> float:
        return max(run.rate for run in self.parked)

    @property
    def parked_ratio(self) -> float:
        return self.best_parked / self.best_floor

    def figures(self) -> dict[str, object]:
        figures: dict[str, object] = {
            "relay_events_per_s": round(self.best_relay),
            "floor_events_per_s": round(self.best_floor),
            "relay_to_floor": round(self.ratio, 3),
            "relay_runs": [round(r) for r in self.relay],
            "floor_runs": [round(r) for r in self.floor],
        }
        if self.parked:
            figures["parked_head_events_per_s"] = round(self.best_parked)
            figures["parked_head_to_floor"] = round(self.parked_ratio, 3)
            figures["parked_head_runs"] = [round(run.rate) for run in self.parked]
            figures["parking_seconds"] = [round(run.parking, 3) for run in self.parked]
        return figures


async def relay_rate(dsn: str, rows: Sequence[BacklogRow], profile: Profile | None) -> float:
    """Events/s of ``Relay.drain()`` over ``rows``, from the first claim to the last settle."""
    tables = fresh_tables()
    recorder = None if profile is None else Recorder(tables, profile)
    async with fresh_store(dsn, tables, recorder) as store:
        conn = await asyncpg.connect(dsn)
        try:
            await load(conn, tables, rows)
        finally:
            await conn.close()
        publisher = MemoryPublisher()
        relay = Relay(store, publisher, settings=RelaySettings(batch_size=BATCH))
        with nullcontext() if recorder is None else recorder.measuring():
            started = time.perf_counter()
            handled = await relay.drain()
            elapsed = time.perf_counter() - started
    if handled != len(rows) or len(publisher.published) != len(rows):
        raise SystemExit(f"relay handled {handled} of {len(rows)} events")
    return len(rows) / elapsed


async def floor_rate(dsn: str, rows: Sequence[BacklogRow]) -> float:
    """Events/s of the bare claim-and-delete loop over an identical backlog."""
    tables = fresh_tables()
    async with fresh_store(dsn, tables):
        conn = await asyncpg.connect(dsn)
        try:
            await load(conn, tables, rows)
            sql = FLOOR.format(events=tables.events)
            drained = 0
            started = time.perf_counter()
            while batch := await conn.fetch(sql, BATCH):
                drained += len(batch)
            elapsed = time.perf_counter() - started
        finally:
            await conn.close()
    if drained != len(rows):
        raise SystemExit(f"floor drained {drained} of {len(rows)} events")
    return len(rows) / elapsed


async def measure(
    dsn: str,
    rows: Sequence[BacklogRow],
    repeat: int,
    profile: Profile | None = None,
    head: Sequence[BacklogRow] = (),
) -> Throughput:
    """``repeat`` runs of each side (and of the parked side with a ``head``), rotating the order."""
    result = Throughput([], [], [])

    async def relay() -> None:
        result.relay.append(await relay_rate(dsn, rows, profile))

    async def floor() -> None:
        result.floor.append(await floor_rate(dsn, rows))

    async def parked() -> None:
        result.parked.append(await parked_rate(dsn, head, rows))

    sides = [relay, floor, parked] if head else [relay, floor]
    for run in range(repeat):
        for side in sides[run % len(sides) :] + sides[: run % len(sides)]:
            await side()
    return result
