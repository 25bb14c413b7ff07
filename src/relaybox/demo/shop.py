"""The demo's shop: an ``orders`` table whose every change adds its outbox events.

Each step of an order (placed, paid, shipped) is one business transaction on
the writer's own ``sqlite3`` connection: the order row changes and the event
is added with :meth:`Outbox.add` on the same transaction, so both commit or
both roll back. That is the whole point of a transactional outbox.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from relaybox.core.events import Event
from relaybox.demo.ledger import Ledger
from relaybox.outbox.writer import Outbox

TOPIC = "orders"
STAGES = ("placed", "paid", "shipped")
EVENT_TYPES = {"placed": "OrderPlaced", "paid": "OrderPaid", "shipped": "OrderShipped"}
MARKER = "relaybox_demo"
"""A table that marks a database as the demo's own, so a rerun may replace it."""

_SCHEMA = f"""
CREATE TABLE orders (
    id       INTEGER PRIMARY KEY,
    customer TEXT    NOT NULL,
    total    INTEGER NOT NULL,  -- cents
    status   TEXT    NOT NULL
);
CREATE TABLE {MARKER} (created_at REAL NOT NULL DEFAULT (julianday('now')));
INSERT INTO {MARKER} DEFAULT VALUES;
"""
_CUSTOMERS = ("ada", "alan", "barbara", "edsger", "grace", "ken", "margaret", "niklaus")
_FOLLOW_UP = 0.75
"""The share of orders that move on to their next stage."""


def create_shop(path: Path) -> None:
    """Create the ``orders`` table (the outbox tables come from ``migrate``)."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(_SCHEMA)
    finally:
        conn.close()


def order_key(order_id: int) -> str:
    """The outbox key of an order: its events are published in commit order."""
    return f"order-{order_id:05d}"


class BusinessFailure(Exception):
    """A business rule refused the transaction (simulated): it rolls back, events included."""


@dataclass(slots=True)
class Order:
    id: int
    customer: str
    total: int
    status: str = ""

    def event(self, stage: str) -> Event:
        payload = {"order_id": self.id, "customer": self.customer, "total_cents": self.total}
        return Event(
            TOPIC, payload, key=order_key(self.id), type=EVENT_TYPES[stage], aggregate_type="Order"
        )


class Clerk:
    """One writer thread: places its orders and moves them along, one transaction per step.

    ``rollback_rate`` of the transactions fail after their events were added and
    roll back. A refused placement is given up; a refused payment or shipment is
    tried again later. ``hint`` is called after every commit (to wake the relay);
    once ``halt`` is set the clerk stops after the transaction in hand.
    """

    def __init__(
        self,
        path: Path,
        order_ids: Sequence[int],
        ledger: Ledger,
        *,
        rollback_rate: float,
        rng: random.Random,
        hint: Callable[[], object],
        halt: threading.Event,
    ) -> None:
        self._path = path
        self._order_ids = order_ids
        self._ledger = ledger
        self._rollback_rate = rollback_rate
        self._rng = rng
        self._hint = hint
        self._halt = halt
        self._outbox = Outbox()

    def work(self) -> None:
        # Each writer has its own connection; the busy timeout queues writers
        # behind SQLite's single write lock instead of failing them.
        conn = sqlite3.connect(self._path, timeout=30.0)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")
            self._serve(conn)
        finally:
            conn.close()

    def _serve(self, conn: sqlite3.Connection) -> None:
        waiting = deque(self._order_ids)
        active: list[Order] = []
        while (waiting or active) and not self._halt.is_set():
            if active and (not waiting or self._rng.random() < 0.5):
                index = self._rng.randrange(len(active))
                active[index], active[-1] = active[-1], active[index]
                order = active.pop()
            else:
                order = Order(waiting.popleft(), self._rng.choice(_CUSTOMERS), self._total())
            if not self._step(conn, order):
                if order.status:  # a refused payment or shipment is tried again later
                    active.append(order)
            elif order.status != STAGES[-1] and self._rng.random() < _FOLLOW_UP:
                active.append(order)

    def _total(self) -> int:
        return self._rng.randrange(500, 50_000)

    def _step(self, conn: sqlite3.Connection, order: Order) -> bool:
        """Move ``order`` to its next stage in one transaction; ``False`` if it rolled back."""
        stage = STAGES[STAGES.index(order.status) + 1] if order.status else STAGES[0]
        ids: Sequence[str] = ()
        try:
            with conn:  # commits on success, rolls back on any exception
                if order.status:
                    conn.execute("UPDATE orders SET status = ? WHERE id = ?", (stage, order.id))
                else:
                    conn.execute(
                        "INSERT INTO orders (id, customer, total, status) VALUES (?, ?, ?, ?)",
                        (order.id, order.customer, order.total, stage),
                    )
                ids = self._outbox.add(conn, order.event(stage))
                if self._rng.random() < self._rollback_rate:
                    raise BusinessFailure(f"order {order.id}: {stage} refused")
        except BusinessFailure:
            self._ledger.roll_back(ids)
            return False
        self._ledger.commit(order_key(order.id), ids, new_order=not order.status)
        order.status = stage
        self._hint()
        return True


def order_statuses(path: Path) -> dict[str, str]:
    """Each order's status as the ``orders`` table has it, by its outbox key."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT id, status FROM orders").fetchall()
    finally:
        conn.close()
    return {order_key(order_id): status for order_id, status in rows}


def expected_types(status: str) -> list[str]:
    """The events an order with ``status`` has committed: one per stage it passed."""
    return [EVENT_TYPES[stage] for stage in STAGES[: STAGES.index(status) + 1]]
