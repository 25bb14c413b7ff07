"""What the shop's writers did, as they saw it: the truth the checks compare against."""

from __future__ import annotations

import threading
from collections.abc import Sequence


class Ledger:
    """Thread-safe record of every business transaction the writers finished.

    ``committed`` maps each key to its event ids in commit order (one writer owns
    an order, so that is also the order the key's sequence numbers were taken).
    ``rolled_back`` holds the ids of events added in transactions that rolled
    back: the outbox must never publish them. The counters are plain ints that
    the progress display reads without the lock (a slightly stale value is fine).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.committed: dict[str, list[str]] = {}
        self.rolled_back: set[str] = set()
        self.orders = 0
        self.events = 0
        self.rollbacks = 0

    def commit(self, key: str, ids: Sequence[str], *, new_order: bool) -> None:
        """Record a committed transaction that added ``ids`` under ``key``."""
        with self._lock:
            self.committed.setdefault(key, []).extend(ids)
            self.events += len(ids)
            self.orders += new_order

    def roll_back(self, ids: Sequence[str]) -> None:
        """Record a transaction that added ``ids`` and then rolled back."""
        with self._lock:
            self.rolled_back.update(ids)
            self.rollbacks += 1

    def committed_ids(self) -> set[str]:
        with self._lock:
            return {event_id for ids in self.committed.values() for event_id in ids}

    def __repr__(self) -> str:
        return (
            f"Ledger(orders={self.orders}, events={self.events}, "
            f"rolled_back={len(self.rolled_back)})"
        )
