"""The demo itself: fill a table, sync it through the resilient stack, prove nothing was lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.demo.sink import JsonLinesSink
from relaybox.demo.table import Row, SqliteTable
from relaybox.pipeline.appliers import process
from relaybox.pipeline.polling import PollingCoordinator
from relaybox.pipeline.resilient import resilient

Print = Callable[[str], object]


@dataclass(frozen=True, slots=True)
class DemoReport:
    """What the demo saw, checked against the table and the file."""

    records: int
    delivered: int
    dead: int
    pending: int
    dead_letters: int
    retried: int
    lines: int
    duplicates: int
    missing: int
    unexpected: int
    seconds: float
    sample_error: str | None

    @property
    def ok(self) -> bool:
        return (
            self.pending == 0
            and self.delivered + self.dead == self.records
            and self.dead_letters == self.dead
            and self.duplicates == self.missing == self.unexpected == 0
        )


async def run_demo(
    workdir: Path,
    *,
    records: int = 5_000,
    batch_size: int = 200,
    transient_rate: float = 0.1,
    poison_rate: float = 0.01,
    seed: int = 7,
    say: Print = print,
) -> DemoReport:
    """Sync ``records`` rows from a fresh SQLite table to a JSON-lines file and check the result."""
    db_path, out_path = _fresh_files(workdir)
    table = SqliteTable(db_path)
    table.insert([_order(i) for i in range(records)])
    sink = JsonLinesSink(
        out_path, transient_rate=transient_rate, poison_rate=poison_rate, seed=seed
    )
    stack = resilient(
        process(sink.write),
        retry=RetryPolicy(attempts=4, backoff=Backoff(initial=0.002, max_delay=0.02)),
    )
    coordinator = PollingCoordinator(
        table, stack, batch_size=batch_size, interval=0.05, name="demo"
    )
    say(f"relaybox demo: {records} records in {db_path} -> {out_path}")
    started = time.perf_counter()
    runner = asyncio.create_task(coordinator.run())
    while table.counts()["pending"] and not runner.done():
        await asyncio.sleep(0.1)
        _progress(table, records, say)
    await coordinator.stop()
    await runner
    sink.close()
    letters = await stack.dead_letters.count()
    report = _report(table, sink, records, started, dead_letters=letters, retried=stack.retries)
    table.close()
    return report


def _fresh_files(workdir: Path) -> tuple[Path, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    db_path, out_path = workdir / "demo.sqlite3", workdir / "delivered.jsonl"
    for path in (db_path, out_path, workdir / "demo.sqlite3-wal", workdir / "demo.sqlite3-shm"):
        path.unlink(missing_ok=True)
    return db_path, out_path


def _order(i: int) -> dict[str, object]:
    return {"type": "order.placed", "order": f"ord-{i:06d}", "amount_cents": 500 + i % 9_500}


def _progress(table: SqliteTable, records: int, say: Print) -> None:
    counts = table.counts()
    done = counts["delivered"] + counts["dead"]
    say(f"  {done:>7}/{records} settled  delivered={counts['delivered']} dead={counts['dead']}")


def _report(
    table: SqliteTable,
    sink: JsonLinesSink,
    records: int,
    started: float,
    *,
    dead_letters: int,
    retried: int,
) -> DemoReport:
    counts = table.counts()
    ids = [int(str(line["id"])) for line in sink.lines()]
    delivered_ids = set(table.ids("delivered"))
    return DemoReport(
        records=records,
        delivered=counts["delivered"],
        dead=counts["dead"],
        pending=counts["pending"],
        dead_letters=dead_letters,
        retried=retried,
        lines=len(ids),
        duplicates=len(ids) - len(set(ids)),
        missing=len(delivered_ids - set(ids)),
        unexpected=len(set(ids) - delivered_ids),
        seconds=time.perf_counter() - started,
        sample_error=table.first_error("dead"),
    )


def summary(report: DemoReport) -> str:
    """A human summary with a check mark per guarantee."""

    def check(ok: bool) -> str:
        return "ok " if ok else "FAIL"

    rate = report.records / report.seconds if report.seconds else 0.0
    lines = [
        "",
        f"records written        {report.records}",
        f"delivered to the file  {report.delivered}",
        f"retried attempts       {report.retried}   (temporary failures retried in process)",
        f"dead-lettered          {report.dead}   (permanent failures, kept with their error)",
        f"still pending          {report.pending}",
        f"time                   {report.seconds:.2f} s  ({rate:,.0f} records/s)",
        "",
        f"[{check(report.pending == 0)}] every record settled: nothing left pending",
        f"[{check(report.delivered + report.dead == report.records)}] "
        "delivered + dead-lettered = written: nothing lost",
        f"[{check(report.duplicates == 0)}] no record written to the file twice",
        f"[{check(report.missing == report.unexpected == 0)}] "
        "the file holds exactly the delivered records",
        f"[{check(report.dead_letters == report.dead)}] every dead row is in the dead-letter queue",
    ]
    if report.sample_error:
        lines.append(f"      e.g. {report.sample_error}")
    lines.append("")
    lines.append("NOTHING LOST" if report.ok else "CHECKS FAILED")
    return "\n".join(lines)


__all__ = ["DemoReport", "Row", "run_demo", "summary"]
