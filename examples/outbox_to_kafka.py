"""An order API whose events reach Kafka exactly when its database change commits.

``place_order`` is written like a FastAPI handler (an async function taking the
request body): it inserts the order row and its ``OrderPlaced`` event in one
PostgreSQL transaction, so a failed request leaves neither behind. A relay then
publishes the committed events to Kafka, each order's events in commit order,
and a consumer group reads them back.

Needs PostgreSQL (``DATABASE_URL``) and a Kafka broker (``KAFKA_BOOTSTRAP``),
both on loopback by default.
"""

from __future__ import annotations

import asyncio
import os
import uuid

import asyncpg

from relaybox import Event, Outbox, Relay, Tables
from relaybox.adapters.kafka import KafkaRecord, source_from_url
from relaybox.adapters.postgres import PostgresStore
from relaybox.service.publishers import publisher_for

DSN = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
KAFKA = os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092")
SUFFIX = uuid.uuid4().hex[:8]  # this run's own table and topic, so runs never meet
TOPIC = f"orders-{SUFFIX}"
outbox = Outbox(Tables(f"outbox_{SUFFIX}"))


async def place_order(request: dict[str, object], db: asyncpg.Pool) -> dict[str, object]:
    """POST /orders: store the order and its event together, or neither."""
    order_id, total = str(request["id"]), int(str(request["total"]))
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(f"INSERT INTO orders_{SUFFIX} VALUES ($1, $2)", order_id, total)
        await outbox.add_async(
            conn, Event(TOPIC, {"id": order_id, "total": total}, key=order_id, type="OrderPlaced")
        )
        if total <= 0:
            raise ValueError("total must be positive")  # rolls back the row and the event
    return {"id": order_id, "status": "placed"}


async def read_back(count: int) -> list[KafkaRecord]:
    source = source_from_url(f"kafka://{KAFKA}?group=billing-{SUFFIX}&topics={TOPIC}")
    records: list[KafkaRecord] = []
    stream = source.records()
    async for record in stream:
        records.append(record)
        await source.ack(record)
        if len(records) == count:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    await source.close()
    return records


async def main() -> None:
    store = await PostgresStore.connect(DSN, outbox.tables)
    db = await asyncpg.create_pool(DSN, min_size=1, max_size=2)
    try:
        await store.migrate()
        await db.execute(f"CREATE TABLE orders_{SUFFIX} (id text PRIMARY KEY, total int)")
        for body in (
            {"id": "o-1", "total": 1999},
            {"id": "o-2", "total": 0},
            {"id": "o-3", "total": 7250},
        ):
            try:
                print(await place_order(body, db))
            except ValueError as exc:
                print({"id": body["id"], "error": str(exc)})
        publisher = publisher_for(f"kafka://{KAFKA}?acks=all")
        delivered = await Relay(store, publisher).drain()
        await publisher.close()
        print(f"relayed {delivered} events to {TOPIC}")
        for record in await read_back(delivered):
            print("consumed:", record.key, record.type, record.json())
    finally:
        await db.execute(f"DROP TABLE IF EXISTS orders_{SUFFIX}")
        await db.close()
        await store.drop()
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
