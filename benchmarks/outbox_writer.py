"""What ``Outbox.add_async`` adds to a business transaction.

Each transaction inserts one business row and commits; the second variant
adds one keyed event in the same transaction; the third instead adds the same
row with a plain single-row INSERT (no key sequence), which shows what any
second statement costs here and is what ``add`` is measured against; the
fourth sends a bare ``SELECT 1``: the cost of the round trip alone, below
which no ``add`` that talks to the database can go.
All run on one connection of the same driver, one commit each
(``synchronous_commit`` as the server has it), taking turns every 100
transactions so drift (WAL flushing, checkpoints, other load on the machine)
hits them alike.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import cache
from typing import Any

import asyncpg
import psycopg

from outbox_tables import fresh_store, fresh_tables, payload
from relaybox.core.events import Event
from relaybox.outbox.encoding import encode
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.outbox.writing.postgres import values

KEYS = 1000
BLOCK = 100
BUSINESS = (
    "CREATE TABLE {name} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "customer text NOT NULL, total numeric NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
)

Transaction = Callable[[int], Awaitable[None]]
ROW = (
    "INSERT INTO {events} (event_id, topic, key, lane, type, aggregate_type, content_type, "
    "payload, headers) VALUES ({marks})"
)


@dataclass(frozen=True, slots=True)
class Overhead:
    """Transactions/s of each variant per round; the best round of each counts."""

    rates: dict[str, list[float]]

    def best(self, variant: str) -> float:
        return max(self.rates[variant])

    @property
    def ratio(self) -> float:
        return self.best("alone") / self.best("with_event")

    @property
    def event_to_row(self) -> float:
        """The target: what ``add`` costs against a plain INSERT of the same event columns."""
        return self.best("with_row") / self.best("with_event")

    @property
    def row_ratio(self) -> float:
        return self.best("alone") / self.best("with_row")

    @property
    def trip_ratio(self) -> float:
        return self.best("alone") / self.best("with_trip")

    def figures(self) -> dict[str, object]:
        return {
            "insert_alone_tx_per_s": round(self.best("alone")),
            "insert_with_event_tx_per_s": round(self.best("with_event")),
            "cost_ratio": round(self.ratio, 3),
            "add_to_plain_row": round(self.event_to_row, 3),
            "insert_with_plain_row_tx_per_s": round(self.best("with_row")),
            "plain_row_cost_ratio": round(self.row_ratio, 3),
            "insert_with_round_trip_tx_per_s": round(self.best("with_trip")),
            "round_trip_cost_ratio": round(self.trip_ratio, 3),
            "runs": {name: [round(r) for r in rates] for name, rates in self.rates.items()},
        }


@cache
def order(number: int) -> tuple[str, dict[str, object]]:
    """The key and payload of order ``number``, built before the clock starts."""
    key = f"customer-{number % KEYS:05d}"
    return key, payload(number, key)


def event(number: int) -> Event:
    """A fresh event (new id) per transaction, as an application would make it."""
    key, body = order(number)
    return Event("orders", body, key=key, type="OrderPlaced")


def row(number: int) -> tuple[object, ...]:
    """The columns of ``event(number)`` as the writer sends them, for the plain INSERT.

    All but ``created_at``: the writer passes it for ``COALESCE``, a plain
    INSERT leaves it to the column's default.
    """
    return values(encode(event(number)))[:-1]


async def timed(transaction: Transaction, first: int, count: int) -> float:
    started = time.perf_counter()
    for number in range(first, first + count):
        await transaction(number)
    return time.perf_counter() - started


async def rounds(variants: Mapping[str, Transaction], count: int, repeat: int) -> Overhead:
    """``repeat`` rounds of ``count`` transactions per variant, taking turns every ``BLOCK``."""
    for number in range(count):
        order(number)
    for transaction in variants.values():  # warm up: prepared statements, caches, keys
        await timed(transaction, 0, BLOCK)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    turn = list(variants)
    for _ in range(repeat):
        spent = dict.fromkeys(variants, 0.0)
        for first in range(0, count, BLOCK):
            size = min(BLOCK, count - first)
            for name in turn:
                spent[name] += await timed(variants[name], first, size)
            turn.append(turn.pop(0))
        for name, seconds in spent.items():
            rates[name].append(count / seconds)
    return Overhead(rates)


Execute = Callable[[str, Sequence[object]], Awaitable[object]]


def variants(
    conn: Any,
    transaction: Callable[[], AbstractAsyncContextManager[object]],
    execute: Execute,
    tables: Tables,
    marks: Sequence[str],
) -> dict[str, Transaction]:
    """The four transactions on one connection; ``marks`` are the driver's placeholders."""
    outbox = Outbox(tables)
    insert = f"INSERT INTO {tables.name}_orders (customer, total) VALUES ({marks[0]}, {marks[1]})"
    plain = ROW.format(events=tables.events, marks=", ".join(marks))

    def business(number: int) -> tuple[object, ...]:
        return f"customer-{number % KEYS:05d}", number

    async def alone(number: int) -> None:
        async with transaction():
            await execute(insert, business(number))

    async def with_event(number: int) -> None:
        async with transaction():
            await execute(insert, business(number))
            await outbox.add_async(conn, event(number))

    async def with_row(number: int) -> None:
        async with transaction():
            await execute(insert, business(number))
            await execute(plain, row(number))

    async def with_trip(number: int) -> None:
        async with transaction():
            await execute(insert, business(number))
            await execute("SELECT 1", ())

    return {"alone": alone, "with_event": with_event, "with_row": with_row, "with_trip": with_trip}


async def with_asyncpg(dsn: str, tables: Tables, count: int, repeat: int) -> Overhead:
    conn = await asyncpg.connect(dsn)

    async def execute(sql: str, params: Sequence[object]) -> object:
        return await conn.execute(sql, *params)

    marks = [f"${n}" for n in range(1, 10)]
    try:
        return await rounds(variants(conn, conn.transaction, execute, tables, marks), count, repeat)
    finally:
        await conn.close()


async def with_psycopg(dsn: str, tables: Tables, count: int, repeat: int) -> Overhead:
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    try:
        run = variants(conn, conn.transaction, conn.execute, tables, ["%s"] * 9)
        return await rounds(run, count, repeat)
    finally:
        await conn.close()


async def measure(dsn: str, count: int, repeat: int) -> dict[str, Overhead]:
    """Both drivers, each on its own fresh outbox and business table."""
    results: dict[str, Overhead] = {}
    for driver, run in (("asyncpg", with_asyncpg), ("psycopg", with_psycopg)):
        tables = fresh_tables()
        async with fresh_store(dsn, tables):
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(BUSINESS.format(name=f"{tables.name}_orders"))
                results[driver] = await run(dsn, tables, count, repeat)
            finally:
                await conn.execute(f"DROP TABLE IF EXISTS {tables.name}_orders")
                await conn.close()
    return results
