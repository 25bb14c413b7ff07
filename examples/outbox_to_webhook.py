"""A PostgreSQL outbox relayed to a signed webhook, and a receiver that verifies every signature.

Orders are placed in PostgreSQL transactions, each adding its events to the
outbox; the one that rolls back leaves no event. A relay POSTs the committed
events to a receiver on loopback, signed as Standard Webhooks with the secret
in ``$RELAYBOX_WEBHOOK_SECRET``. The receiver checks each signature with
:func:`relaybox.webhooks.verify` (stdlib only: a receiver needs no relaybox
extra) and refuses a forged request.

    pip install "relaybox[postgres,webhooks]"
    RELAYBOX_EXAMPLE_POSTGRES=postgresql://postgres@127.0.0.1:5432/test python outbox_to_webhook.py
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid

import aiohttp
import asyncpg
from aiohttp import web

from relaybox import Event, Outbox, Relay, Tables
from relaybox.adapters.postgres import PostgresStore
from relaybox.service.publishers import publisher_for
from relaybox.webhooks import WebhookVerificationError, verify

DSN = os.environ.get("RELAYBOX_EXAMPLE_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = os.environ.setdefault(
    "RELAYBOX_WEBHOOK_SECRET", "whsec_" + base64.b64encode(os.urandom(24)).decode()
)


class Receiver:
    """The other side: accepts a webhook only when its signature verifies."""

    def __init__(self) -> None:
        self.accepted: dict[str, list[str]] = {}  # order -> its event types, in arrival order
        self.refused = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            verify(body, request.headers, [SECRET])
        except WebhookVerificationError:
            self.refused += 1
            return web.Response(status=401)
        order = (await request.json())["id"]
        self.accepted.setdefault(order, []).append(request.headers["relaybox-type"])
        return web.Response(status=204)


async def place_orders(outbox: Outbox) -> None:
    conn = await asyncpg.connect(DSN)
    try:
        for order_id, total in (("o-1", 1999), ("o-2", 500), ("o-3", 7250)):
            try:
                async with conn.transaction():  # the business change and its events, together
                    await outbox.add_async(
                        conn,
                        Event(
                            "orders", {"id": order_id, "total": total}, key=order_id, type="Placed"
                        ),
                        Event("orders", {"id": order_id}, key=order_id, type="Confirmed"),
                    )
                    if order_id == "o-2":
                        raise RuntimeError("payment declined")
            except RuntimeError:
                pass  # rolled back: its events were never committed
    finally:
        await conn.close()


async def main() -> None:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/{topic}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    tables = Tables(f"example_{uuid.uuid4().hex[:8]}")
    store = await PostgresStore.connect(DSN, tables)
    await store.migrate()
    try:
        await place_orders(Outbox(tables))
        publisher = publisher_for(f"http://127.0.0.1:{port}/hooks/{{topic}}")
        relay = Relay(store, publisher)
        await relay.drain()
        await publisher.close()
        async with aiohttp.ClientSession() as session:  # someone without the secret tries
            forged = {"webhook-id": "x", "webhook-timestamp": "0", "webhook-signature": "v1,AA=="}
            await session.post(f"http://127.0.0.1:{port}/hooks/orders", json={}, headers=forged)
    finally:
        await store.drop()
        await store.close()
        await runner.cleanup()
    for order, types in sorted(receiver.accepted.items()):
        print(f"{order}: {', '.join(types)}")  # each order's events in commit order
    verified = sum(map(len, receiver.accepted.values()))
    print(f"verified={verified} refused={receiver.refused}")


if __name__ == "__main__":
    asyncio.run(main())
