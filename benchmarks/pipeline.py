"""Pipeline throughput: the full resilient stack against a bare applier, in one run.

Both pipelines are built by ``relaybox.sync`` over the same in-memory table
and drained in batches of 1000: the baseline with the bare ``process``
applier, the other with that applier wrapped in ``resilient()`` (circuit
breaker, dead letters, retry). Each is run ``--repeat``
times, interleaved; the best run of each counts. Prints both rates and their
ratio and writes them to ``benchmarks/results/pipeline.json``.

Targets: the stack costs at most 2x the bare path, and stays well above
100k records/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path

from relaybox import Middleware, resilient, sync

RESULTS = Path(__file__).parent / "results" / "pipeline.json"


class Table:
    """An in-memory table: fetch the next rows, mark them done."""

    def __init__(self, count: int) -> None:
        self.rows = list(range(count))
        self.cursor = 0
        self.marked = 0

    async def fetch(self, limit: int) -> Sequence[int]:
        rows = self.rows[self.cursor : self.cursor + limit]
        self.cursor += len(rows)
        return rows

    async def mark(self, rows: list[int]) -> None:
        self.marked += len(rows)


async def handle(row: int) -> None:
    """The per-record work: none, so the engine's own cost is what is measured."""


async def drain(count: int, batch_size: int, stacked: bool) -> float:
    table = Table(count)
    middleware: Middleware[int] | None = resilient if stacked else None
    coordinator = sync(
        table.fetch, handle, table.mark, middleware=middleware, batch_size=batch_size
    )
    started = time.perf_counter()
    while (await coordinator.run_once()).fetched:
        pass
    elapsed = time.perf_counter() - started
    if table.marked != count:
        raise SystemExit(f"lost records: marked {table.marked} of {count}")
    return count / elapsed


async def measure(count: int, batch_size: int, repeat: int) -> dict[str, float]:
    bare: list[float] = []
    stacks: list[float] = []
    for _ in range(repeat):
        bare.append(await drain(count, batch_size, stacked=False))
        stacks.append(await drain(count, batch_size, stacked=True))
    best_bare, best_stacked = max(bare), max(stacks)
    return {
        "records": count,
        "batch_size": batch_size,
        "bare_records_per_s": round(best_bare),
        "resilient_records_per_s": round(best_stacked),
        "cost_ratio": round(best_bare / best_stacked, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(measure(args.records, args.batch_size, args.repeat))
    result["python"] = platform.python_version()  # type: ignore[assignment]
    print(f"pipeline throughput, {args.records} records, batches of {args.batch_size}")
    print(f"  bare process applier     {result['bare_records_per_s']:>12,.0f} records/s")
    print(f"  resilient() stack        {result['resilient_records_per_s']:>12,.0f} records/s")
    print(f"  cost ratio (bare/stack)  {result['cost_ratio']:>12.2f}x   target <= 2.0x")
    fast = result["resilient_records_per_s"] >= 100_000
    print(f"  stack above 100k/s       {'yes' if fast else 'NO':>12}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  written to {RESULTS}")


if __name__ == "__main__":
    main()
