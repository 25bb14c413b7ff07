"""A cron job: one pass over pending rows, then exit with a status code.

Run: .venv/bin/python examples/cron_run_once.py
"""

from __future__ import annotations

import asyncio
import sys

import relaybox

ROWS = {1: "alice@example.com", 2: "not-an-address", 3: "bob@example.com"}
sent: set[int] = set()


def fetch(limit: int) -> list[int]:
    """Up to `limit` ids not sent yet (a SELECT ... LIMIT in real life)."""
    return [row for row in ROWS if row not in sent][:limit]


def send_email(row: int) -> None:
    if "@" not in ROWS[row]:
        raise relaybox.PermanentError(f"row {row}: {ROWS[row]!r} is not an email address")
    print(f"sent to {ROWS[row]}")


def mark(rows: list[int]) -> None:
    sent.update(rows)


async def main() -> int:
    result = await relaybox.sync_once(fetch, send_email, mark)
    for failure in result.outcome.failed:
        print(f"failed: {failure.error}")
    print(f"delivered={result.delivered} failed={result.failed}")
    return 1 if result.failed or result.error else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
