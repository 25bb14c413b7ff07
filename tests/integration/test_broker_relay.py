"""``relaybox relay`` into real Redis and NATS: events committed in PostgreSQL arrive intact and
in key order, an unmapped topic stops start-up, and a broker outage loses nothing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterable

import pytest
import redis.asyncio as aioredis
from click.testing import CliRunner, Result
from test_nats import fresh_stream, stored

from brokers import (
    NATS_URL,
    REDIS_HOST,
    REDIS_PORT,
    REDIS_URL,
    start_nats,
    start_redis,
    stop_nats,
    stop_redis,
)
from conftest import PG_DSN, OutboxDb
from relaybox.cli import relaybox
from relaybox.core.events import Event
from relaybox.testing import wait_until

pytestmark = pytest.mark.integration
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
Arrival = tuple[str, str | None, int, str]  # event id, key, n, traceparent


async def cli(*args: str) -> Result:
    return await asyncio.to_thread(
        CliRunner().invoke, relaybox, list(args), env={}, catch_exceptions=False
    )


def orders(keys: int, per_key: int, start: int = 0) -> list[Event]:
    return [
        Event("orders", {"n": n}, key=f"k{k}", type="OrderPlaced", headers={"traceparent": TRACE})
        for n in range(start, start + per_key)
        for k in range(keys)
    ]


def check_arrivals(arrivals: Iterable[Arrival], events: list[Event]) -> None:
    """Every event arrived with its id and trace; each key's first copies in commit order."""
    seen: set[str] = set()
    traces: set[str] = set()
    by_key: dict[str | None, list[int]] = {}
    for event_id, key, n, trace in arrivals:
        if event_id not in seen:  # at least once: a copy after an outage is fine
            seen.add(event_id)
            traces.add(trace)
            by_key.setdefault(key, []).append(n)
    assert seen == {e.id for e in events}
    assert traces == {TRACE}
    for numbers in by_key.values():
        assert numbers == sorted(numbers)


async def redis_arrivals(stream: str) -> list[Arrival]:
    async with aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT) as client:
        entries = await client.xrange(stream)
    return [_redis_arrival(fields) for _, fields in entries]


def _redis_arrival(fields: dict[bytes, bytes]) -> Arrival:
    headers = json.loads(fields[b"headers"])
    key = fields[b"key"].decode() if b"key" in fields else None
    return fields[b"id"].decode(), key, json.loads(fields[b"payload"])["n"], headers["traceparent"]


async def nats_arrivals(stream: str) -> list[Arrival]:
    return [
        (r.id, r.key, json.loads(r.payload)["n"], r.headers["traceparent"])
        for r in await stored(stream)
    ]


def where(outbox_db) -> list[str]:
    return ["--db", outbox_db.url, "--table", outbox_db.tables.name]


@pytest.fixture
async def pg_outbox(pg_store, tables) -> OutboxDb:
    """A fresh PostgreSQL outbox: the broker runs need one database, not each."""
    return OutboxDb("postgresql", pg_store, tables, PG_DSN)


async def test_relay_once_delivers_postgres_events_to_redis(pg_outbox) -> None:
    events = orders(keys=5, per_key=20)
    await pg_outbox.write(*events[:50])
    await pg_outbox.write(*events[50:])
    prefix = f"rbt-{uuid.uuid4().hex[:12]}"
    result = await cli(
        "relay", *where(pg_outbox), "--to", REDIS_URL, "--topic-template", prefix + ".{topic}",
        "--once", "--batch-size", "30",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "delivered 100" in result.stdout
    check_arrivals(await redis_arrivals(f"{prefix}.orders"), events)


async def test_relay_once_delivers_postgres_events_to_nats(pg_outbox) -> None:
    events = orders(keys=5, per_key=20)
    await pg_outbox.write(*events)
    stream = await fresh_stream()
    result = await cli(
        "relay", *where(pg_outbox), "--to", NATS_URL, "--route", f"orders={stream}.orders",
        "--once",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    check_arrivals(await nats_arrivals(stream), events)


async def test_a_pending_topic_without_a_route_stops_the_relay_before_it_claims(
    outbox_db, tmp_path
) -> None:
    await outbox_db.write(Event("orders", {"n": 1}), Event("payments", {"n": 2}))
    target = tmp_path / "out.jsonl"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        relaybox,
        ["relay", *where(outbox_db), "--to", f"file://{target}", "--route", "orders=o", "--once"],
        env={},
    )
    assert result.exit_code != 0
    assert "'payments'" in result.output
    assert not target.exists()
    assert (await outbox_db.store.status()).pending == 2


@contextlib.asynccontextmanager
async def relay_process(outbox_db, *options: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``relaybox relay`` in its own process until the block ends (then a graceful SIGTERM)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relaybox", "relay", *where(outbox_db), *options,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await process.wait()


class RedisWatcher:
    """Reads a stream as it grows, across a server restart (Redis keeps nothing over one here)."""

    def __init__(self, stream: str) -> None:
        self.stream = stream
        self.arrivals: list[Arrival] = []

    async def run(self) -> None:
        last = "0-0"
        async with aioredis.Redis(host=REDIS_HOST, port=REDIS_PORT) as client:
            while True:
                try:
                    reply = await client.xread({self.stream: last}, block=200, count=500)
                except (OSError, aioredis.ConnectionError, aioredis.TimeoutError):
                    await asyncio.sleep(0.1)  # the server is down: ask again
                    continue
                for _, entries in reply or ():
                    for entry_id, fields in entries:
                        last = entry_id.decode()
                        self.arrivals.append(_redis_arrival(fields))

    def ids(self) -> set[str]:
        return {a[0] for a in self.arrivals}


OUTAGE = 10.0
RELAY_OPTIONS = ("--max-attempts", "3", "--backoff-max", "2s", "--poll-max", "0.2s")


async def test_a_redis_outage_during_a_relay_run_loses_and_dead_letters_nothing(
    pg_outbox,
) -> None:
    prefix = f"rbt-{uuid.uuid4().hex[:12]}"
    before, during = orders(keys=10, per_key=20), orders(keys=10, per_key=20, start=20)
    watcher = RedisWatcher(f"{prefix}.orders")
    watching = asyncio.create_task(watcher.run())
    await pg_outbox.write(*before)
    options = ("--to", REDIS_URL, "--topic-template", prefix + ".{topic}", *RELAY_OPTIONS)
    try:
        async with relay_process(pg_outbox, *options):
            await wait_until(lambda: watcher.ids() >= {e.id for e in before}, within=30)
            await stop_redis()
            try:
                await pg_outbox.write(*during)
                await asyncio.sleep(OUTAGE)  # the outage itself, not a wait for a result
            finally:
                await start_redis()
            await wait_until(lambda: watcher.ids() >= {e.id for e in during}, within=60)
    finally:
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching
    status = await pg_outbox.store.status()
    assert (status.pending, status.dead) == (0, 0)
    check_arrivals([a for a in watcher.arrivals if a[2] >= 20], during)


async def test_a_nats_outage_during_a_relay_run_loses_and_dead_letters_nothing(
    pg_outbox,
) -> None:
    stream = await fresh_stream()
    before, during = orders(keys=10, per_key=20), orders(keys=10, per_key=20, start=20)
    await pg_outbox.write(*before)
    options = ("--to", NATS_URL, "--topic-template", stream + ".{topic}", *RELAY_OPTIONS)
    async with relay_process(pg_outbox, *options):
        await wait_until_stored(stream, len(before))
        await stop_nats()
        try:
            await pg_outbox.write(*during)
            await asyncio.sleep(OUTAGE)  # the outage itself, not a wait for a result
        finally:
            await start_nats()
        await wait_until_stored(stream, len(before) + len(during))
    status = await pg_outbox.store.status()
    assert (status.pending, status.dead) == (0, 0)
    check_arrivals(await nats_arrivals(stream), before + during)


async def wait_until_stored(stream: str, count: int, within: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len({a[0] for a in await _quietly(stream)}) < count:
        assert loop.time() < deadline, f"fewer than {count} events in {stream} after {within} s"
        await asyncio.sleep(0.2)


async def _quietly(stream: str) -> list[Arrival]:
    try:
        return await nats_arrivals(stream)
    except Exception:  # the server is restarting: nothing to count yet
        return []


async def test_relay_publishes_through_a_factory_named_on_the_command_line(
    outbox_db, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_broker.py").write_text(
        "from relaybox import JsonLinesPublisher\n"
        "def publisher(url, options):\n"
        "    assert options.timeout == 5.0  # a third of the 15 s lease\n"
        "    return JsonLinesPublisher(url.removeprefix('mine://'))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    await outbox_db.write(*orders(keys=2, per_key=3))
    target = tmp_path / "out.jsonl"
    result = await cli(
        "relay", *where(outbox_db), "--to", f"mine://{target}",
        "--publisher", "my_broker:publisher", "--lease", "15s", "--once",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(target.read_text().splitlines()) == 6
