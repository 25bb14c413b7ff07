"""A stream of account events: per-account order with four workers, fan-out to two sinks.

Run: .venv/bin/python examples/stream_per_key_order.py
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass

import relaybox
from relaybox.middleware import fan_out


@dataclass(frozen=True)
class Event:
    account: str
    seq: int
    amount: int


class Ledger:
    """One destination: keeps each account's events in the order received."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: dict[str, list[int]] = defaultdict(list)

    async def record(self, event: Event) -> None:
        await asyncio.sleep(0.001 * (event.seq % 3))  # uneven latency
        self.seen[event.account].append(event.seq)


async def main() -> None:
    queue: asyncio.Queue[Event] = asyncio.Queue()
    for seq in range(20):
        for account in ("acct-1", "acct-2", "acct-3"):
            queue.put_nowait(Event(account, seq, amount=seq * 10))
    books, audit = Ledger("books"), Ledger("audit")
    applier = fan_out(
        {"books": relaybox.process(books.record), "audit": relaybox.process(audit.record)}
    )
    source = relaybox.QueueSource(queue)
    coordinator = relaybox.StreamingCoordinator(
        source, applier, batch_size=5, max_wait=0.01, workers=4, key=lambda e: e.account
    )
    runner = asyncio.create_task(coordinator.run())
    for _ in range(1000):  # at most ~10 s
        if sum(len(v) for v in audit.seen.values()) == 60:
            break
        await asyncio.sleep(0.01)
    await coordinator.stop()
    await runner
    for ledger in (books, audit):
        count = sum(map(len, ledger.seen.values()))
        in_order = all(seqs == sorted(seqs) for seqs in ledger.seen.values())
        print(f"{ledger.name}: {count} events, per-account order kept: {in_order}")


if __name__ == "__main__":
    asyncio.run(main())
