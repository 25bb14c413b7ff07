"""O-18: per-key order is a property of the relay, not of each middleware.

Before: with ``split_batches(2)`` and seq 1 failing once, a consumer saw a
key's seqs 3, 1, 2; with ``validate()`` rejecting seq 1, seq 2 was published
while seq 1 parked the key. Now, between the middleware and the publisher, a
key's message goes out only after every earlier message of that key in the
claim was delivered; any other is released unsent and offered again later.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relaybox.adapters.sqlite import SqliteStore
from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.core.errors import TemporaryError
from relaybox.core.events import Event, Message
from relaybox.core.outcome import Outcome, merge
from relaybox.middleware import ordered, retry, split_batches, validate
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.writer import Outbox
from relaybox.ports.applier import Applier, Middleware
from relaybox.ports.store import DeadFilter
from relaybox.testing.publisher import MemoryPublisher

NO_PAUSE = Backoff(initial=0.0, max_delay=0.0, jitter=0.0)
QUICK = RelaySettings(backoff=NO_PAUSE, outage_backoff=NO_PAUSE, max_attempts=3)


def seqs_of(publisher: MemoryPublisher, key: str) -> list[int | None]:
    return [m.seq for m in publisher.published if m.key == key]


def fails_once(*seqs: int) -> MemoryPublisher:
    failed: set[int] = set()

    def fail(message: Message) -> Exception | None:
        if message.seq in seqs and message.seq not in failed:
            failed.add(message.seq)
            return TemporaryError("try again")
        return None

    return MemoryPublisher(fail)


async def test_o18_split_batches_cannot_overtake_a_failed_event(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key="order-1") for n in range(1, 4)))
    publisher = fails_once(1)
    relay = Relay(outbox_db.store, publisher, settings=QUICK, middleware=[split_batches(2)])

    for _ in range(5):
        await relay.drain()

    assert seqs_of(publisher, "order-1") == [1, 2, 3]


async def test_o18_a_rejected_event_holds_back_the_rest_of_its_key(outbox_db) -> None:
    await outbox_db.write(*(Event("orders", {"n": n}, key="order-1") for n in range(1, 3)))
    publisher = MemoryPublisher()
    rejects_first = validate(lambda m: "bad" if m.seq == 1 else None)
    relay = Relay(outbox_db.store, publisher, settings=QUICK, middleware=[rejects_first])

    await relay.drain()

    assert seqs_of(publisher, "order-1") == []
    [dead] = await outbox_db.store.dead_letters(DeadFilter(), 10)
    assert dead.seq == 1
    [parked] = await outbox_db.store.parked(10)
    assert (parked.key, parked.pending) == ("order-1", 1)


# -- any stack of middleware, against a real store ------------------------------------------


def reversing(inner: Applier[Message]) -> Applier[Message]:
    """Hands the publisher each call's records backwards."""

    class Reversed:
        async def apply(self, records: Sequence[Message], /) -> Outcome[Message]:
            return await inner.apply(list(reversed(records)))

    return Reversed()


def halves_at_once(inner: Applier[Message]) -> Applier[Message]:
    """Applies the two halves of each call concurrently."""

    class Halves:
        async def apply(self, records: Sequence[Message], /) -> Outcome[Message]:
            mid = len(records) // 2
            parts = [p for p in (records[:mid], records[mid:]) if p]
            return merge(await asyncio.gather(*(inner.apply(p) for p in parts)))

    return Halves()


LAYERS: dict[str, object] = {
    "split1": split_batches(1),
    "split2": split_batches(2),
    "split3": split_batches(3),
    "retry": retry(RetryPolicy(attempts=2, backoff=NO_PAUSE)),
    "reject-3": validate(lambda m: "bad" if m.seq == 3 else None),
    "ordered": ordered(lambda m: m.key),
    "reversing": reversing,
    "halves": halves_at_once,
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    stack=st.lists(st.sampled_from(sorted(LAYERS)), max_size=4),
    flaky=st.sets(st.tuples(st.sampled_from("abc"), st.integers(1, 6)), max_size=6),
    on_key_failure=st.sampled_from(["park", "continue"]),
)
def test_o18_first_deliveries_keep_key_order_whatever_the_stack(
    stack: list[str], flaky: set[tuple[str, int]], on_key_failure: str
) -> None:
    asyncio.run(_scenario(stack, flaky, on_key_failure))


async def _scenario(stack: list[str], flaky: set[tuple[str, int]], on_key_failure: str) -> None:
    failed: set[tuple[str, int]] = set()

    def fail(message: Message) -> Exception | None:
        mark = (str(message.key), int(message.seq or 0))
        if mark in flaky and mark not in failed:
            failed.add(mark)
            return TemporaryError("flaky")
        return None

    publisher = MemoryPublisher(fail)
    middleware: list[Middleware[Message]] = [LAYERS[name] for name in stack]  # type: ignore[misc]
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore.open(Path(folder) / "outbox.db")
        try:
            await store.migrate()
            events = [Event("t", {"n": n}, key=k) for n in range(6) for k in "abc"]
            _write(Path(folder) / "outbox.db", events)
            relay_settings = RelaySettings(
                backoff=NO_PAUSE, outage_backoff=NO_PAUSE, max_attempts=3, batch_size=7,
                on_key_failure=on_key_failure,  # type: ignore[arg-type]
            )  # fmt: skip
            relay = Relay(store, publisher, settings=relay_settings, middleware=middleware)
            for _ in range(40):
                await relay.drain()
        finally:
            await store.close()
    first: dict[str, Message] = {}
    for m in publisher.published:
        first.setdefault(m.id, m)
    for key in "abc":
        delivered = [m.seq for m in first.values() if m.key == key]
        assert delivered == sorted(delivered), (key, delivered, stack)


def _write(path: Path, events: list[Event]) -> None:
    conn = sqlite3.connect(path, timeout=10)
    try:
        with conn:
            Outbox().add(conn, *events)
    finally:
        conn.close()
