"""Three relay processes on one PostgreSQL outbox while applications keep committing.

Every relay appends each batch to one shared file in a single ``O_APPEND``
write, so the file is the order in which batches reached "the broker". If two
relays ever had one key in flight at once, that key's sequence would come out
of order in the file; it never does.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import asyncpg
import pytest
from relay_process import DeliveryFile, RelayProcess

from relaybox.adapters.postgres import PostgresStore
from relaybox.core.errors import PermanentError
from relaybox.core.events import Event, Message
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.testing import wait_until
from relaybox.testing.publisher import MemoryPublisher

pytestmark = pytest.mark.integration

KEYS = [f"order-{i:02d}" for i in range(50)]
WRITERS = 4
TRANSACTIONS = 40


async def write_concurrently(dsn: str, tables: Tables, writer: int) -> set[str]:
    """One application connection committing small transactions; returns the committed ids."""
    outbox = Outbox(tables)
    rng = random.Random(writer)
    committed: set[str] = set()
    conn = await asyncpg.connect(dsn)
    try:
        for _ in range(TRANSACTIONS):
            events = [
                Event("orders", {"writer": writer}, key=rng.choice([*KEYS, None]))
                for _ in range(rng.randint(1, 4))
            ]
            async with conn.transaction():
                ids = await outbox.add_async(conn, *events)
            committed.update(ids)
    finally:
        await conn.close()
    return committed


def sequences_by_key(lines: Sequence[dict[str, object]]) -> dict[object, list[object]]:
    by_key: dict[object, list[object]] = {}
    for line in lines:
        if line["key"] is not None:
            by_key.setdefault(line["key"], []).append(line["seq"])
    return by_key


async def test_three_relays_deliver_every_event_exactly_once_in_key_order(
    pg_store: PostgresStore, pg_dsn: str, tables: Tables, tmp_path: Path
) -> None:
    out = DeliveryFile(tmp_path / "deliveries.jsonl")
    options = {"batch_size": 10, "lease": 10.0, "delay": 0.02}
    relays = [
        RelayProcess(pg_dsn, tables.name, out.path, tmp_path / f"relay{i}.log", **options)
        for i in range(3)
    ]
    try:
        await wait_until(lambda: all(r.ready() for r in relays), within=30, what="three relays")
        batches = await asyncio.gather(
            *(write_concurrently(pg_dsn, tables, w) for w in range(WRITERS))
        )
        committed = set().union(*batches)
        await wait_until(lambda: out.ids() >= committed, within=30, what="every event")
        assert [r.stop() for r in relays] == [0, 0, 0]
    finally:
        for relay in relays:
            relay.__exit__(None, None, None)

    lines = out.lines()
    assert len(lines) == len(committed)  # exactly once: no crash, no lost lease
    assert out.ids() == committed
    for key, seqs in sequences_by_key(lines).items():
        assert seqs == list(range(1, len(seqs) + 1)), f"key {key} out of order: {seqs}"
    assert [error for r in relays for error in r.errors()] == []
    status = await pg_store.status()
    assert (status.pending, status.in_flight) == (0, 0)


def numbers(messages: Sequence[Message], key: str) -> list[int]:
    return [m.json()["n"] for m in messages if m.key == key]  # type: ignore[index]


def healthy_done(publisher: MemoryPublisher) -> bool:
    return all(len(numbers(publisher.published, key)) == 6 for key in ("q", "r"))


async def eventually(check: Callable[[], Awaitable[object]], *, what: str) -> None:
    """Poll an async ``check`` until it returns something truthy (10 s at most)."""
    deadline = time.monotonic() + 10
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


async def test_a_parked_key_waits_while_others_flow_and_unpark_resumes_it_in_order(
    pg_store: PostgresStore, pg_dsn: str, tables: Tables
) -> None:
    """Two running relays: one key parks behind its dead event, the rest keeps flowing."""
    events = [Event("orders", {"n": n}, key=key) for n in range(6) for key in ("p", "q", "r")]
    conn = await asyncpg.connect(pg_dsn)
    try:
        async with conn.transaction():
            await Outbox(tables).add_async(conn, *events)
    finally:
        await conn.close()

    def poison(message: Message) -> BaseException | None:
        bad = (message.key, message.json()) == ("p", {"n": 2})
        return PermanentError("rejected") if bad else None

    publisher = MemoryPublisher(poison)
    settings = RelaySettings(batch_size=4, poll_max=0.02)
    relays = [Relay(pg_store, publisher, settings=settings) for _ in range(2)]
    runs = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        await wait_until(lambda: healthy_done(publisher), what="the healthy keys")
        await eventually(lambda: pg_store.parked(10), what="key p to park")
        assert [(p.key, p.pending) for p in await pg_store.parked(10)] == [("p", 3)]
        assert numbers(publisher.published, "p") == [0, 1]

        assert await pg_store.unpark("p")
        await wait_until(lambda: len(numbers(publisher.published, "p")) == 5, what="the parked key")
    finally:
        await asyncio.gather(*(relay.stop() for relay in relays))
        await asyncio.gather(*runs)

    assert numbers(publisher.published, "p") == [0, 1, 3, 4, 5]
    assert numbers(publisher.published, "q") == list(range(6))
    assert (await pg_store.status()).dead == 1
