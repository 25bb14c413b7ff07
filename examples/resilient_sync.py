"""A polling sync through the resilient stack, with a flaky downstream.

Run: .venv/bin/python examples/resilient_sync.py
"""

from __future__ import annotations

import asyncio
import random

import relaybox

rng = random.Random(3)
pending = list(range(1, 201))
done: list[int] = []


def fetch(limit: int) -> list[int]:
    return [r for r in pending if r not in done][:limit]


async def publish(record: int) -> None:
    if record % 50 == 0:
        raise relaybox.PermanentError(f"record {record} is malformed")
    if rng.random() < 0.2:
        raise relaybox.TemporaryError(f"record {record}: broker busy")


def mark(records: list[int]) -> None:
    done.extend(records)


async def main() -> None:
    policy = relaybox.RetryPolicy(
        attempts=5, backoff=relaybox.Backoff(initial=0.001, max_delay=0.01)
    )
    stack = relaybox.resilient(relaybox.process(publish), retry=policy)
    counts = relaybox.CountingObserver()
    coordinator = relaybox.PollingCoordinator(
        relaybox.FunctionSource(fetch, mark), stack, batch_size=50, observer=counts
    )
    while (await coordinator.run_once()).fetched:
        pass
    letters = await stack.dead_letters.peek()
    print(f"delivered={counts.totals['delivered']} dead-lettered={len(letters)} marked={len(done)}")
    for letter in letters:
        print(f"  dead letter {letter.record}: {letter.error} (attempts={letter.attempts})")


if __name__ == "__main__":
    asyncio.run(main())
