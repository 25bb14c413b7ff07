"""Pipeline throughput: the full resilient stack against a bare applier, in one run.

Both pipelines are built by ``relaybox.sync`` over the same in-memory table
and drained in batches of 1000: the baseline with the bare ``process``
applier, the other with that applier wrapped in ``resilient()`` (circuit
breaker, dead letters, retry). Both handler shapes are measured: an
``async def`` awaited per record and a plain ``def`` run in a worker thread
(one hop per batch). Each pipeline runs ``--repeat`` times, interleaved; the
best run of each counts. Prints both rates and their
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
from collections.abc import Callable, Sequence
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


def handle_blocking(row: int) -> None:
    """The same as a plain ``def``: relaybox runs it in a worker thread, once per batch."""


Handler = Callable[[int], object]


async def drain(count: int, batch_size: int, handler: Handler, stacked: bool) -> float:
    table = Table(count)
    middleware: Middleware[int] | None = resilient if stacked else None
    coordinator = sync(
        table.fetch, handler, table.mark, middleware=middleware, batch_size=batch_size
    )
    started = time.perf_counter()
    while (await coordinator.run_once()).fetched:
        pass
    elapsed = time.perf_counter() - started
    if table.marked != count:
        raise SystemExit(f"lost records: marked {table.marked} of {count}")
    return count / elapsed


async def measure(count: int, batch_size: int, repeat: int, handler: Handler) -> dict[str, float]:
    bare: list[float] = []
    stacks: list[float] = []
    for _ in range(repeat):
        bare.append(await drain(count, batch_size, handler, stacked=False))
        stacks.append(await drain(count, batch_size, handler, stacked=True))
    best_bare, best_stacked = max(bare), max(stacks)
    return {
        "bare_records_per_s": round(best_bare),
        "resilient_records_per_s": round(best_stacked),
        "cost_ratio": round(best_bare / best_stacked, 3),
    }


def report(title: str, figures: dict[str, float]) -> None:
    print(f"  {title}")
    print(f"    bare process applier     {figures['bare_records_per_s']:>12,.0f} records/s")
    print(f"    resilient() stack        {figures['resilient_records_per_s']:>12,.0f} records/s")
    ok = figures["cost_ratio"] <= 2.0 and figures["resilient_records_per_s"] >= 100_000
    verdict = "meets" if ok else "MISSES"
    print(
        f"    cost ratio (bare/stack)  {figures['cost_ratio']:>12.2f}x   "
        f"{verdict} the target (<= 2.0x, stack >= 100k/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"pipeline throughput, {args.records} records, batches of {args.batch_size}")
    result: dict[str, object] = {
        "records": args.records,
        "batch_size": args.batch_size,
        "python": platform.python_version(),
    }
    for name, handler, title in (
        ("async_def", handle, "async def handler (awaited per record)"),
        ("def", handle_blocking, "def handler (one worker-thread hop per batch)"),
    ):
        figures = asyncio.run(measure(args.records, args.batch_size, args.repeat, handler))
        report(title, figures)
        result[name] = figures
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  written to {RESULTS}")


if __name__ == "__main__":
    main()
