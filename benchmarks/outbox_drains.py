"""The benchmarks that drain a backlog, printed with their verdicts.

Throughput, healthy and behind a parked head, against the floor; the drain
after an outage against the normal drain.
"""

from __future__ import annotations

import argparse
import asyncio

import outbox_outage
import outbox_throughput
from outbox_profile import Profile
from outbox_tables import backlog, one_key_backlog
from outbox_targets import Targets
from relaybox.core.backoff import Backoff
from relaybox.outbox.settings import RelaySettings

OUTAGE_BACKOFF = Backoff(initial=0.05, max_delay=1.0, multiplier=2.0, jitter=0.2)
"""Probes every 50 ms doubling to 1 s: the first after the outage should come within a second."""


def throughput(args: argparse.Namespace, targets: Targets) -> dict[str, object]:
    parked = round(1.5 * args.events) if args.parked is None else args.parked
    print(f"relay throughput: {args.events} events, {args.keys} keys, batches of 1000")
    rows = backlog(args.events, args.keys)
    head = one_key_backlog(parked, "parked-key") if parked else []
    profile = Profile() if args.profile else None
    result = asyncio.run(outbox_throughput.measure(args.dsn, rows, args.repeat, profile, head))
    relay, floor, ratio = result.best_relay, result.best_floor, result.ratio
    ratio_ok = targets.check("relay / floor", ratio, ratio >= 0.8, ">= 0.8x")
    print(f"  relay (Relay.drain)            {relay:>10,.0f} events/s")
    print(f"  floor (DELETE...SKIP LOCKED)   {floor:>10,.0f} events/s")
    print(f"  relay / floor                  {ratio:>10.2f}x          {ratio_ok}")
    figures = result.figures()
    print(f"  every run: relay {figures['relay_runs']}")
    print(f"             floor {figures['floor_runs']}")
    if head:
        best, parked_ratio = result.best_parked, result.parked_ratio
        ok = targets.check(
            "parked head relay / floor", parked_ratio, parked_ratio >= 0.7, ">= 0.7x"
        )
        print(f"  behind a parked key of {parked:,} events at the head of the outbox")
        print(f"    relay (Relay.drain)          {best:>10,.0f} events/s")
        print(f"    relay / floor (healthy)      {parked_ratio:>10.2f}x          {ok}")
        print(f"    every run: {figures['parked_head_runs']}")
        print(f"    parking the key (one claim, publish, settle): {figures['parking_seconds']} s")
    if profile is not None:
        print("\n".join("  " + line for line in profile.lines()))
        figures["profile"] = profile.figures()
    return figures


def outage(args: argparse.Namespace, targets: Targets) -> dict[str, object]:
    b = OUTAGE_BACKOFF
    print(
        f"outage drain: Relay.run() over {args.outage_events} events, {args.keys} keys; "
        f"destination down {args.outage_seconds:g} s, outage_backoff {b.initial:g} s "
        f"doubling to {b.max_delay:g} s ({b.jitter:.0%} jitter)"
    )
    rows = backlog(args.outage_events, args.keys)
    settings = RelaySettings(batch_size=1000, outage_backoff=b)
    drains = outbox_outage.measure(args.dsn, rows, args.outage_seconds, settings)
    normal, recovered = asyncio.run(drains)
    rate = max(run.events_per_s for run in normal)
    ratio = recovered.events_per_s / rate
    dead_ok = targets.check("outage dead letters", recovered.dead, recovered.dead == 0, "== 0")
    ok = targets.check("recovered / normal drain", ratio, ratio >= 0.8, ">= 0.8x")
    print(f"  dead letters after the outage  {recovered.dead:>10}                 {dead_ok}")
    print(f"  normal drain (best)            {rate:>10,.0f} events/s", end="")
    print(f"  (before {normal[0].events_per_s:,.0f}, after {normal[1].events_per_s:,.0f})")
    print(f"  drain after recovery           {recovered.events_per_s:>10,.0f} events/s")
    print(f"  recovered / normal             {ratio:>10.2f}x          {ok}")
    print(
        f"  first delivery {recovered.first_delivery_after_s:.2f} s after the destination was "
        f"back; {recovered.unavailable_events:,} events offered back with no attempt counted; "
        f"most attempts on a delivered event: {recovered.most_attempts}"
    )
    print(
        f"  {recovered.refused_calls} publish calls refused, seconds between them: "
        f"{recovered.probe_gaps}"
    )
    cap = b.max_delay * (1 + b.jitter)
    if recovered.first_delivery_after_s > cap or any(gap > cap for gap in recovered.probe_gaps):
        print(f"  note: the relay waited longer than outage_backoff allows ({cap:g} s at most)")
    return {
        "outage_backoff": {"initial": b.initial, "max_delay": b.max_delay, "jitter": b.jitter},
        "normal": [run.figures() for run in normal],
        "recovered": recovered.figures(),
        "recovered_to_normal": round(ratio, 3),
    }
