"""The ``relaybox`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from relaybox.demo.run import run_demo, summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="relaybox", description="Move data reliably.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="sync a SQLite table to a JSON-lines file with injected failures",
        description="Sync a SQLite table to a JSON-lines file through the resilient "
        "stack (retry, dead letters, circuit breaker), injecting failures, then "
        "check that every record was delivered or dead-lettered exactly once.",
    )
    demo.add_argument("--dir", type=Path, default=Path("demo-output"), help="work folder")
    demo.add_argument("--records", type=_positive, default=5_000, help="rows to sync (5000)")
    demo.add_argument("--batch-size", type=_positive, default=200, help="rows per batch (200)")
    demo.add_argument("--seed", type=int, default=7, help="seed of the injected failures")
    args = parser.parse_args(argv)
    return _demo(args)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _demo(args: argparse.Namespace) -> int:
    report = asyncio.run(
        run_demo(args.dir, records=args.records, batch_size=args.batch_size, seed=args.seed)
    )
    print(summary(report))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
