"""Outbox benchmarks on PostgreSQL: relay throughput, writer cost, latency, outage drain.

1. Throughput: ``Relay.drain()`` over a keyed backlog (``--events``, 300-byte
   JSON payloads, ``--keys`` keys) against the raw floor of the same driver on
   an identical backlog (``outbox_throughput``); then the same drain behind a
   parked key whose ``--parked`` events hold the head of the outbox
   (``outbox_parked``), against the same floor. Best of ``--repeat`` runs.
2. Writer cost: transactions/s of a business INSERT with one
   ``Outbox.add_async`` event against the same with a plain single-row INSERT
   of the same event columns, on asyncpg and psycopg; for reference also the
   INSERT alone and with a bare ``SELECT 1`` round trip (``outbox_writer``).
3. Latency: commit to publish at a steady ``--rate`` with a running relay,
   writer in this process (the target), then in a child process, then in this
   process with ``relay.wake()`` after each commit (``outbox_latency``).
4. Outage drain: ``Relay.run()`` over ``--outage-events`` with the destination
   down for ``--outage-seconds``, then back: nothing dead, and the drain rate
   after recovery against the normal rate (``outbox_outage``).

Every figure is printed with PASS/FAIL against its target and written to
``benchmarks/results/outbox-<UTC timestamp>.json``. The exit code is 0 either way.
``--profile`` adds where the relay's time goes (``outbox_profile``). The
figures are only as steady as the machine: the load average is printed and kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import outbox_latency
import outbox_writer
from outbox_drains import outage, throughput
from outbox_profile import Profile
from outbox_targets import Targets

RESULTS = Path(__file__).parent / "results"
DSN = os.environ.get("RELAYBOX_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PARTS = ("throughput", "writer", "latency", "outage")


def writer(args: argparse.Namespace, targets: Targets) -> dict[str, object]:
    print(f"writer cost: {args.transactions} transactions per variant, {args.repeat} rounds")
    results = asyncio.run(outbox_writer.measure(args.dsn, args.transactions, args.repeat))
    for driver, overhead in results.items():
        ratio = overhead.event_to_row
        ok = targets.check(f"{driver} add / plain INSERT", ratio, ratio <= 1.15, "<= 1.15x")
        print(f"  {driver}")
        row, event = overhead.best("with_row"), overhead.best("with_event")
        print(f"    INSERT + plain INSERT of the event row {row:>8,.0f} tx/s")
        print(f"    INSERT + add_async(event)              {event:>8,.0f} tx/s")
        print(f"    cost of add / plain INSERT             {ratio:>8.2f}x   {ok}")
        print(
            f"    for reference, INSERT alone {overhead.best('alone'):,.0f} tx/s; "
            f"cost against it: with add {overhead.ratio:.2f}x, with the plain INSERT "
            f"{overhead.row_ratio:.2f}x, with a bare SELECT 1 {overhead.trip_ratio:.2f}x"
        )
    return {driver: overhead.figures() for driver, overhead in results.items()}


LATENCY_SETUPS = (
    ("in_process", False, False, "writer in this process, no wake() (the target)"),
    ("child_process", True, False, "writer in a child process, no wake()"),
    ("in_process_wake", False, True, "writer in this process, wake() after each commit"),
)


def latency(args: argparse.Namespace, targets: Targets) -> dict[str, object]:
    print(
        f"latency, commit to publish: {args.rate:g} events/s for {args.seconds:g} s "
        f"after {args.warmup:g} s of warm-up, default RelaySettings"
    )
    out: dict[str, object] = {}
    for name, child, wake, title in LATENCY_SETUPS:
        profile = Profile() if args.profile else None
        run = outbox_latency.measure(
            args.dsn, args.rate, args.seconds, args.warmup, child=child, wake=wake, profile=profile
        )
        stats = asyncio.run(run)
        print(f"  {title}")
        shown = "  ".join(f"{p} {stats[p + '_ms']:.2f}" for p in ("p50", "p90", "p99", "max"))
        print(f"    ms: {shown}  (min {stats['min_ms']:.2f}, {stats['events']:.0f} events,")
        kept = stats["writer_events_per_s"]
        slow = "  BELOW THE RATE ASKED: CPU-starved" if kept < 0.95 * args.rate else ""
        print(f"        writer kept {kept:,.0f} events/s){slow}")
        if name == "in_process":
            p50, p99 = stats["p50_ms"], stats["p99_ms"]
            print(f"    p50 {targets.check('latency p50 ms', p50, p50 < 5, '< 5 ms')}")
            print(f"    p99 {targets.check('latency p99 ms', p99, p99 < 25, '< 25 ms')}")
        figures: dict[str, object] = dict(stats)
        if profile is not None:
            print("\n".join("    " + line for line in profile.lines()))
            figures["profile"] = profile.figures()
        out[name] = figures
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--dsn", default=DSN, help="PostgreSQL to use (env RELAYBOX_TEST_POSTGRES)")
    add("--events", type=int, default=200_000, help="backlog size for the throughput runs")
    add("--keys", type=int, default=1000, help="distinct keys in the backlog")
    add("--parked", type=int, help="events of the parked key at the head (default 1.5x --events)")
    add("--repeat", type=int, default=3, help="runs (throughput) and rounds (writer) per side")
    add("--transactions", type=int, default=3000, help="writer transactions per variant and round")
    add("--rate", type=float, default=1000.0, help="latency: events committed per second")
    add("--seconds", type=float, default=5.0, help="latency: measured seconds")
    add("--warmup", type=float, default=1.0, help="latency: seconds left out at the start")
    add("--outage-events", type=int, default=100_000, help="outage: backlog size")
    add(
        "--outage-seconds", type=float, default=30.0, help="outage: seconds the destination is down"
    )
    add("--profile", action="store_true", help="time each relay statement (see outbox_profile)")
    add("--only", choices=PARTS, action="append", help="run only this part (repeatable)")
    args = parser.parse_args()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    load = os.getloadavg()
    result: dict[str, object] = {
        "started": stamp,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": load,
        "settings": vars(args),
    }
    if load[0] > (os.cpu_count() or 1) / 2:
        print(f"note: load average {load[0]:.1f} before starting; other work skews the figures")
    targets = Targets()
    for part, run in zip(PARTS, (throughput, writer, latency, outage), strict=True):
        if args.only is None or part in args.only:
            result[part] = run(args, targets)
    result["targets"] = targets.checked
    result["load_average_after"] = os.getloadavg()
    print(targets.summary())
    path = RESULTS / f"outbox-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  written to {path}")


if __name__ == "__main__":
    main()
