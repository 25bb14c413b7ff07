"""A JSON-lines file as the destination, with failures injected on purpose."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TextIO

from relaybox.core.errors import PermanentError, TemporaryError
from relaybox.demo.table import Row


class FlakyDownstream(TemporaryError):
    """The downstream did not answer in time (injected)."""


class RejectedRecord(PermanentError):
    """The downstream rejected the record as malformed (injected)."""


class JsonLinesSink:
    """Appends each record as one JSON line; some calls fail on purpose.

    ``transient_rate`` of records fail once or twice with a temporary error
    before they go through; ``poison_rate`` of records are always rejected.
    The choices are drawn from ``seed``, so a run can be repeated exactly.
    """

    def __init__(self, path: Path, *, transient_rate: float, poison_rate: float, seed: int) -> None:
        self.path = path
        self._file: TextIO = path.open("a", encoding="utf-8")
        rng = random.Random(seed)
        self._rng = rng
        self._transient_rate = transient_rate
        self._poison_rate = poison_rate
        self._plan: dict[int, int] = {}
        self.injected = 0

    def write(self, row: Row) -> None:
        failures_left = self._plan.setdefault(row.id, self._draw())
        if failures_left < 0:
            self.injected += 1
            raise RejectedRecord(f"record {row.id} rejected: missing customer")
        if failures_left > 0:
            self._plan[row.id] = failures_left - 1
            self.injected += 1
            raise FlakyDownstream(f"record {row.id}: downstream timed out")
        self._file.write(json.dumps({"id": row.id, **row.payload}) + "\n")

    def _draw(self) -> int:
        roll = self._rng.random()
        if roll < self._poison_rate:
            return -1
        if roll < self._poison_rate + self._transient_rate:
            return self._rng.choice((1, 2))
        return 0

    def close(self) -> None:
        self._file.close()

    def lines(self) -> list[dict[str, object]]:
        with self.path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]
