"""Outbox benchmarks on PostgreSQL: relay throughput, writer overhead, commit-to-publish latency.

1. Throughput: ``Relay.drain()`` over a keyed backlog (``--events``, 300-byte
   JSON payloads, ``--keys`` keys) against the raw floor of the same driver on
   an identical backlog (``outbox_throughput``). Best of ``--repeat`` runs.
2. Writer overhead: transactions/s of a business INSERT alone and with one
   ``Outbox.add_async`` event, on asyncpg and psycopg, and for reference with
   a plain INSERT of the same row, and with a bare ``SELECT 1`` round trip,
   instead (``outbox_writer``).
3. Latency: commit to publish at a steady ``--rate`` with a running relay,
   writer in this process (the target), then in a child process, then in this
   process with ``relay.wake()`` after each commit (``outbox_latency``).

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
import outbox_throughput
import outbox_writer
from outbox_profile import Profile
from outbox_tables import backlog

RESULTS = Path(__file__).parent / "results"
DSN = os.environ.get("RELAYBOX_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PARTS = ("throughput", "writer", "latency")


class Targets:
    """Each target checked in this run, with its verdict, for the printout and the JSON."""

    def __init__(self) -> None:
        self.checked: list[dict[str, object]] = []

    def check(self, name: str, value: float, ok: bool, target: str) -> str:
        self.checked.append({"name": name, "value": value, "target": target, "pass": ok})
        return f"{'PASS' if ok else 'FAIL'} (target {target})"


def throughput(args: argparse.Namespace, targets: Targets) -> dict[str, object]:
    print(f"relay throughput: {args.events} events, {args.keys} keys, batches of 1000")
    rows = backlog(args.events, args.keys)
    profile = Profile() if args.profile else None
    result = asyncio.run(outbox_throughput.measure(args.dsn, rows, args.repeat, profile))
    relay, floor, ratio = result.best_relay, result.best_floor, result.ratio
    relay_ok = targets.check("relay events/s", relay, relay >= 100_000, ">= 100,000")
    ratio_ok = targets.check("relay / floor", ratio, ratio >= 0.5, ">= 0.5x")
    print(f"  relay (Relay.drain)            {relay:>10,.0f} events/s   {relay_ok}")
    print(f"  floor (DELETE...SKIP LOCKED)   {floor:>10,.0f} events/s")
    print(f"  relay / floor                  {ratio:>10.2f}x          {ratio_ok}")
    figures = result.figures()
    print(f"  every run: relay {figures['relay_runs']}")
    print(f"             floor {figures['floor_runs']}")
    if profile is not None:
        print("\n".join("  " + line for line in profile.lines()))
        figures["profile"] = profile.figures()
    return figures


def writer(args: argparse.Namespace, targets: Targets) -> dict[str, object]:
    print(f"writer overhead: {args.transactions} transactions per variant, {args.repeat} rounds")
    results = asyncio.run(outbox_writer.measure(args.dsn, args.transactions, args.repeat))
    for driver, overhead in results.items():
        ratio = overhead.ratio
        ok = targets.check(f"{driver} writer cost ratio", ratio, ratio <= 1.3, "<= 1.3x")
        print(f"  {driver}")
        print(f"    INSERT alone                 {overhead.best('alone'):>10,.0f} tx/s")
        print(f"    INSERT + add_async(event)    {overhead.best('with_event'):>10,.0f} tx/s")
        print(f"    cost ratio (alone / with)    {ratio:>10.2f}x          {ok}")
        print(
            f"    for reference, INSERT + a plain INSERT of the same row "
            f"{overhead.best('with_row'):,.0f} tx/s, {overhead.row_ratio:.2f}x"
        )
        print(
            f"    and INSERT + a bare SELECT 1 (the round trip alone) "
            f"{overhead.best('with_trip'):,.0f} tx/s, {overhead.trip_ratio:.2f}x"
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
    add("--repeat", type=int, default=3, help="runs (throughput) and rounds (writer) per side")
    add("--transactions", type=int, default=3000, help="writer transactions per variant and round")
    add("--rate", type=float, default=1000.0, help="latency: events committed per second")
    add("--seconds", type=float, default=5.0, help="latency: measured seconds")
    add("--warmup", type=float, default=1.0, help="latency: seconds left out at the start")
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
    for part, run in (("throughput", throughput), ("writer", writer), ("latency", latency)):
        if args.only is None or part in args.only:
            result[part] = run(args, targets)
    result["targets"] = targets.checked
    result["load_average_after"] = os.getloadavg()
    failed = [t["name"] for t in targets.checked if not t["pass"]]
    print(f"targets: {len(targets.checked) - len(failed)} of {len(targets.checked)} met", end="")
    print(f"; missed: {', '.join(map(str, failed))}" if failed else "")
    path = RESULTS / f"outbox-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  written to {path}")


if __name__ == "__main__":
    main()
