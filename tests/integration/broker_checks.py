"""Messages and checks shared by the broker tests: what went out must come back intact."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterable, Sequence

import asyncpg
from click.testing import CliRunner, Result

from relaybox.cli import relaybox
from relaybox.core.events import OCTETS, Event, Message
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.testing import message

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def keyed_batch(count: int, keys: int, *, topic: str) -> list[Message]:
    """``count`` messages over ``keys`` keys, grouped by key as the relay hands them out.

    Payloads are random bytes (so nothing may re-encode them); every message
    carries a ``traceparent`` and its own header.
    """
    per_key: dict[str, list[Message]] = {}
    run = uuid.uuid4().hex[:8]
    for n in range(count):
        key = f"k{n % keys}"
        per_key.setdefault(key, []).append(
            message(
                n + 1,
                key=key,
                topic=topic,
                payload=os.urandom(24) + b"\x00\xff" + str(n).encode(),
                content_type=OCTETS,
                type="Step",
                headers={"traceparent": TRACEPARENT, "n": str(n)},
                seq=len(per_key.get(key, ())) + 1,
            )
        )
    batch = [m for group in per_key.values() for m in group]
    for m in batch:
        m.id = f"{run}-{m.id}"  # unique across batches, as event ids are
    return batch


def assert_intact(sent: Sequence[Message], received: Iterable[Message]) -> None:
    """Every sent message arrived once with its id, key, type, headers and exact payload."""
    got = {m.id: m for m in received}
    assert sorted(got) == sorted(m.id for m in sent)
    for original in sent:
        copy = got[original.id]
        assert copy.payload == original.payload
        assert copy.key == original.key
        assert copy.type == original.type
        assert copy.topic == original.topic
        assert copy.content_type == original.content_type
        assert dict(copy.headers) == dict(original.headers)


def assert_key_order(received: Iterable[Message]) -> None:
    """Within each key, the messages arrived in sequence order."""
    seqs: dict[str | None, list[int]] = {}
    for m in received:
        seqs.setdefault(m.key, []).append(int(m.headers["n"]))
    for key, ns in seqs.items():
        assert ns == sorted(ns), f"key {key!r} out of order: {ns}"


def step_events(count: int, keys: int, topic: str) -> list[Event]:
    """Events for an outbox: ``n`` in payload and header, keyed round robin."""
    return [
        Event(
            topic,
            {"n": n},
            key=f"k{n % keys}",
            type="Step",
            headers={"n": str(n), "traceparent": TRACEPARENT},
        )
        for n in range(count)
    ]


class PgOutbox:
    """An outbox table on PostgreSQL: commit events into it, relay it with the CLI."""

    def __init__(self, dsn: str, tables: Tables) -> None:
        self.dsn = dsn
        self.tables = tables

    async def write(self, *events: Event) -> None:
        """Commit ``events`` in one business transaction."""
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                await Outbox(self.tables).add_async(conn, *events)
        finally:
            await conn.close()

    async def cli(self, *args: str, env: dict[str, str] | None = None) -> Result:
        """``relaybox ARGS --db DSN --table NAME`` in a worker thread."""
        where = ["--db", self.dsn, "--table", self.tables.name]
        command = [*args, *where]
        return await asyncio.to_thread(
            CliRunner().invoke, relaybox, command, env=env, catch_exceptions=False
        )
