"""Broker benchmarks: the relay into each broker against that broker's client alone.

For every module of ``brokerbench/`` whose import succeeds and whose broker
answers, in one run:

1. the raw rate: the same client library pipelined, no relay logic;
2. the relay's rate: ``Relay.drain()`` over a ``--events`` keyed PostgreSQL
   backlog (300-byte JSON payloads, ``--keys`` keys, batches of 1000) into the
   broker through ``publisher_for``;
3. the relay's rate over an identical backlog into the in-memory publisher
   (measured once, shared by every section).

ratio = relay-to-broker / min(raw, relay-to-memory), target >= 0.7x: the relay
may not lose more than 30 % to whichever of the two bounds is tighter. Each
figure is the best of ``--repeat`` runs (the machine is shared and noisy). Figures
are printed with PASS/FAIL and written to ``benchmarks/results/brokers-<UTC>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import pkgutil
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from types import ModuleType

import asyncpg

import brokerbench
from outbox_tables import PAYLOAD_BYTES, BacklogRow, backlog, fresh_store, fresh_tables, load
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.ports.publisher import Publisher
from relaybox.service.publishers import PublisherOptions, publisher_for
from relaybox.testing import message
from relaybox.testing.publisher import MemoryPublisher

RESULTS = Path(__file__).parent / "results"
DSN = os.environ.get("RELAYBOX_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
TARGET = 0.7


def sections() -> list[ModuleType]:
    """Every ``brokerbench`` module that imports (its client library is installed)."""
    found = []
    for info in pkgutil.iter_modules(brokerbench.__path__):
        if info.name.startswith("_"):  # a helper, not a section
            continue
        try:
            found.append(importlib.import_module(f"brokerbench.{info.name}"))
        except ImportError as exc:
            print(f"{info.name}: skipped, cannot import ({exc})")
    return found


async def relay_rate(dsn: str, rows: Sequence[BacklogRow], make: Callable[[], Publisher]) -> float:
    """Events/s of ``Relay.drain()`` over ``rows`` into the publisher ``make()`` builds."""
    tables = fresh_tables()
    async with fresh_store(dsn, tables) as store:
        conn = await asyncpg.connect(dsn)
        try:
            await load(conn, tables, rows)
        finally:
            await conn.close()
        publisher = make()
        try:
            # Connecting, a producer's handshake and the topic's metadata happen on the
            # first publish: done before the clock starts, as the raw side's set-up is.
            await publisher.publish([message(0, topic=rows[0][1], key="warm-up")])
            relay = Relay(store, publisher, settings=RelaySettings(batch_size=1000))
            started = time.perf_counter()
            handled = await relay.drain()
            elapsed = time.perf_counter() - started
            status = await store.status()
        finally:
            await publisher.close()
    if handled != len(rows) or status.pending or status.dead:
        raise SystemExit(f"relay handled {handled} of {len(rows)} events ({status})")
    return len(rows) / elapsed


def payload() -> bytes:
    return b'{"order":1,"note":"' + b"x" * (PAYLOAD_BYTES - 21) + b'"}'


async def measure_section(
    section: ModuleType, args: argparse.Namespace, rows: Sequence[BacklogRow], memory: float
) -> dict[str, object] | None:
    if not await section.available():
        print(f"{section.NAME}: skipped, the broker does not answer")
        return None
    raws: list[float] = []
    relays: list[float] = []
    options = PublisherOptions(timeout=30.0)
    for _ in range(args.repeat):
        await section.reset()
        raws.append(await section.raw_rate(args.events, payload()))
        await section.reset()
        relays.append(await relay_rate(args.dsn, rows, partial(_publisher, section, options)))
    await section.reset()
    raw, relay = max(raws), max(relays)
    ratio = relay / min(raw, memory)
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(f"{section.NAME}")
    print(f"  raw client, pipelined          {raw:>10,.0f} msgs/s")
    print(f"  relay -> {section.NAME:<21} {relay:>10,.0f} events/s")
    print(f"  relay -> memory                {memory:>10,.0f} events/s")
    print(f"  relay / min(raw, memory)       {ratio:>10.2f}x          {verdict} (>= {TARGET}x)")
    print(f"  every run: raw {[round(r) for r in raws]}, relay {[round(r) for r in relays]}")
    return {
        "raw_per_s": round(raw),
        "relay_per_s": round(relay),
        "ratio": round(ratio, 3),
        "pass": ratio >= TARGET,
        "raw_runs": [round(r) for r in raws],
        "relay_runs": [round(r) for r in relays],
    }


def _publisher(section: ModuleType, options: PublisherOptions) -> Publisher:
    return publisher_for(section.publisher_url(), options)


async def main(args: argparse.Namespace) -> dict[str, object]:
    found = [s for s in sections() if not args.only or s.NAME in args.only]
    rows = backlog(args.events, args.keys)
    print(
        f"brokers: {args.events} events, {args.keys} keys, batches of 1000, best of {args.repeat}"
    )
    memories = [await relay_rate(args.dsn, rows, MemoryPublisher) for _ in range(args.repeat)]
    memory = max(memories)
    results: dict[str, object] = {
        "relay_to_memory_per_s": round(memory),
        "relay_to_memory_runs": [round(m) for m in memories],
    }
    for section in found:
        figures = await measure_section(section, args, rows, memory)
        if figures is not None:
            results[section.NAME] = figures
    return results


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="backlog size (100000)")
    parser.add_argument("--keys", type=int, default=1000, help="distinct keys (1000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each figure; best kept (3)")
    parser.add_argument("--dsn", default=DSN, help="PostgreSQL DSN of the outbox")
    parser.add_argument("--quick", action="store_true", help="20000 events, best of 2")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help="run only this broker (repeatable)"
    )
    args = parser.parse_args()
    if args.quick:
        args.events, args.repeat = 20_000, 2
    return args


if __name__ == "__main__":
    arguments = parse()
    figures = asyncio.run(main(arguments))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"brokers-{stamp}.json"
    head = {"events": arguments.events, "keys": arguments.keys, "repeat": arguments.repeat}
    out.write_text(json.dumps({**head, **figures}, indent=2))
    print(f"written to {out}")
