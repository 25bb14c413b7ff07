"""A transactional outbox on SQLite: events commit with the business change, a relay delivers them.

Three orders are placed; the second transaction fails after adding its event
and rolls back, so its event never leaves. A relay then delivers what was
committed to an async callback (a webhook, a broker...), each order's events
in commit order, and retries the one delivery that fails once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path

from relaybox import CallbackPublisher, Event, FixedBackoff, Message, Outbox, Relay, RelaySettings
from relaybox.adapters.sqlite import SqliteStore


def place_orders(path: Path) -> None:
    outbox = Outbox()
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, total INTEGER)")
    for order_id, total in (("o-1", 1999), ("o-2", 500), ("o-3", 7250)):
        try:
            with conn:  # one business transaction: the order row and its events
                conn.execute("INSERT INTO orders VALUES (?, ?)", (order_id, total))
                outbox.add(
                    conn,
                    Event("orders", {"id": order_id, "total": total}, key=order_id, type="Placed"),
                    Event("orders", {"id": order_id}, key=order_id, type="Confirmed"),
                )
                if order_id == "o-2":
                    raise RuntimeError("payment declined")
        except RuntimeError:
            pass  # rolled back: neither the order nor its events exist
    conn.close()


async def relay_them(path: Path) -> None:
    store = SqliteStore.open(path)
    delivered: list[str] = []
    flaky = {"o-3"}

    async def send(message: Message) -> None:
        order = message.json()["id"]  # type: ignore[index]
        if order in flaky:
            flaky.discard(order)
            raise ConnectionError("webhook timed out")
        delivered.append(f"{order} {message.type}")

    settings = RelaySettings(backoff=FixedBackoff(0.05))
    relay = Relay(store, CallbackPublisher(send), settings=settings)
    while (await store.status()).pending:
        await relay.drain()
        await asyncio.sleep(0.05)  # the failed delivery waits its backoff
    print("delivered:", ", ".join(delivered))
    print(f"retried={relay.stats.retried} dead={relay.stats.dead}")
    await store.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "shop.db"
        store = SqliteStore.open(path)
        await store.migrate()  # explicit, once: nothing creates tables behind your back
        await store.close()
        place_orders(path)
        await relay_them(path)


if __name__ == "__main__":
    asyncio.run(main())
