"""What the demo found: counts, and the checks that prove nothing was lost or leaked."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Check:
    """One guarantee the demo verified, with what it saw."""

    label: str
    passed: bool
    detail: str


@dataclass(frozen=True, slots=True)
class DeadLetterNote:
    """A dead letter in brief: which event, after how many attempts, and why."""

    event_id: str
    key: str | None
    type: str
    attempts: int
    error: str


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """The outcome of a demo run; :attr:`ok` is true only if every check passed.

    Event counts: ``committed`` by the writers, ``rolled_back`` with their
    transactions, ``delivered`` (lines in the published file) and ``dead``
    (dead letters). ``duplicates`` counts extra copies across both, ``missing``
    committed events found in neither, ``unexpected`` events nobody wrote,
    ``leaked`` rolled-back events that got out, ``out_of_order`` keys whose
    deliveries broke commit order and ``mismatched_orders`` orders whose row
    disagrees with their events. ``retries`` are the relay's durable retries;
    ``timeouts`` and ``rejections`` the failures injected into the publisher.
    """

    database: Path
    published_file: Path
    url: str
    orders: int
    committed: int
    rolled_back: int
    delivered: int
    dead: int
    pending: int
    retries: int
    timeouts: int
    rejections: int
    duplicates: int
    missing: int
    unexpected: int
    leaked: int
    out_of_order: int
    mismatched_orders: int
    seconds: float
    dead_letters: tuple[DeadLetterNote, ...] = ()

    @property
    def checks(self) -> tuple[Check, ...]:
        settled = self.delivered + self.dead
        return (
            Check(
                "the outbox is drained",
                self.pending == 0,
                f"{self.pending} events pending",
            ),
            Check(
                "every committed event was delivered or dead-lettered exactly once",
                settled == self.committed
                and self.duplicates == self.missing == self.unexpected == 0,
                f"{self.delivered} delivered + {self.dead} dead = {settled} of "
                f"{self.committed} committed; {self.duplicates} duplicates, "
                f"{self.missing} missing, {self.unexpected} unknown",
            ),
            Check(
                "no event of a rolled-back transaction was published",
                self.leaked == 0,
                f"{self.leaked} of {self.rolled_back} rolled-back events got out",
            ),
            Check(
                "each order's events were published in commit order",
                self.out_of_order == 0,
                f"{self.out_of_order} orders out of order",
            ),
            Check(
                "the orders table and the events agree",
                self.mismatched_orders == 0,
                f"{self.mismatched_orders} of {self.orders} orders disagree",
            ),
        )

    @property
    def ok(self) -> bool:
        return all(check.passed for check in self.checks)
