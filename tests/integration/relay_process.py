"""A relay in its own process, for crash and multi-relay tests.

    python tests/integration/relay_process.py --dsn DSN --table NAME --out FILE [options]

It relays the PostgreSQL outbox ``NAME`` until SIGTERM or SIGINT (a graceful
stop) or SIGKILL (a crash). Each published batch becomes one ``write`` of
JSON lines on ``FILE`` opened with ``O_APPEND``, so several processes can share
one file without their lines interleaving. Every line holds the event's ``id``,
``key``, ``seq``, ``n`` (the payload's ``n``, when it has one), the
``attempts`` the relay saw, and the relay's ``owner`` and ``batch`` number.

``--delay`` slows each batch down *after* it was written and before it is
settled, which is where a crash leaves delivered but unsettled events behind.
Errors the relay reports go to stderr, one line each, prefixed ``relay error:``.

Tests drive it through :class:`RelayProcess` and read the file back with
:class:`DeliveryFile`. ``relay ready`` goes to stderr once the store is connected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from relaybox.adapters.postgres import PostgresStore
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.tables import Tables
from relaybox.pipeline.runner import serve


class AppendingPublisher:
    """Appends each batch to a shared file in one write, then waits ``delay`` seconds."""

    def __init__(self, path: str, owner: str, delay: float) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._owner = owner
        self._delay = delay
        self._batches = 0

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        self._batches += 1
        lines = "".join(self._line(m) for m in messages)
        os.write(self._fd, lines.encode())
        if self._delay:
            await asyncio.sleep(self._delay)
        return Outcome.all_delivered(messages)

    def _line(self, message: Message) -> str:
        payload = message.json()
        n = payload.get("n") if isinstance(payload, dict) else None
        record = {
            "id": message.id,
            "key": message.key,
            "seq": message.seq,
            "n": n,
            "attempts": message.attempts,
            "lease_expiries": message.lease_expiries,
            "owner": self._owner,
            "batch": self._batches,
        }
        return json.dumps(record) + "\n"

    async def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def report(error: BaseException) -> None:
    cause = error.__cause__
    print(f"relay error: {error!r} caused by {cause!r}", file=sys.stderr, flush=True)


async def main(args: argparse.Namespace) -> None:
    store = await PostgresStore.connect(args.dsn, Tables(args.table))
    print("relay ready", file=sys.stderr, flush=True)
    publisher = AppendingPublisher(args.out, args.owner, args.delay)
    settings = RelaySettings(
        batch_size=args.batch_size,
        lease=args.lease,
        poll_min=0.005,
        poll_max=args.poll_max,
        owner=args.owner,
        grace=10.0,
    )
    try:
        await serve(Relay(store, publisher, settings=settings, on_error=report))
    finally:
        await publisher.close()
        await store.close()


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--owner", default=f"relay-{os.getpid()}")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--poll-max", type=float, default=0.05)
    return parser.parse_args(argv)


class RelayProcess:
    """This script running as a child process; leave the ``with`` block to reap it.

    ``options`` become command-line flags (``batch_size=50`` -> ``--batch-size 50``).
    """

    def __init__(self, dsn: str, table: str, out: Path, logs: Path, **options: object) -> None:
        argv = [sys.executable, __file__, "--dsn", dsn, "--table", table, "--out", str(out)]
        for name, value in options.items():
            argv += ["--" + name.replace("_", "-"), str(value)]
        self.logs = logs
        with open(logs, "ab") as stderr:
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)

    def kill(self) -> None:
        """SIGKILL: the relay dies wherever it is, leases and all."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM: a graceful stop; returns the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def errors(self) -> list[str]:
        return [line for line in self._log_lines() if line.startswith("relay error:")]

    def ready(self) -> bool:
        return "relay ready" in self._log_lines()

    def _log_lines(self) -> list[str]:
        return self.logs.read_text(errors="replace").splitlines() if self.logs.exists() else []

    def __enter__(self) -> RelayProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.process.poll() is None:
            self.kill()


class DeliveryFile:
    """The shared output file as parsed lines, in file order; parsed again only when it grew.

    A line still being written is left out until it is complete.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._size = -1
        self._lines: list[dict[str, object]] = []

    def lines(self) -> list[dict[str, object]]:
        size = self.path.stat().st_size if self.path.exists() else 0
        if size != self._size:
            text = self.path.read_text() if size else ""
            complete = text[: text.rfind("\n") + 1]
            self._lines = [json.loads(line) for line in complete.splitlines()]
            self._size = size
        return self._lines

    def ids(self) -> set[object]:
        return {line["id"] for line in self.lines()}


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
