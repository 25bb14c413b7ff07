"""O-12: no publish loop spins forever, no write is fire-and-forget, the publisher is closed.

The hazards came from one Kafka publisher: it retried some errors forever
(spinning every 250 ms once its context had expired), a partial configuration
silently meant "acks = 0", and it was never closed on shutdown. relaybox ships
no publisher with a retry loop of its own: retries are the bounded, stop-aware
``retry`` middleware (see the C-series regressions) and durable retries on the
row; a publisher reports an event delivered only once the destination has
acknowledged it (the publisher contract). What is left to show here is that
the relay service closes the publisher it opened.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from relaybox.core.events import Event
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.service.relay import relay_for
from relaybox.service.settings import Settings


async def test_o12_the_relay_service_closes_the_publisher_it_opened(
    sqlite_store: object, sqlite_path: Path, tables: Tables, tmp_path: Path
) -> None:
    with sqlite3.connect(sqlite_path) as conn:
        Outbox(tables).add(conn, Event("orders", {"n": 1}))
    conn.close()
    out = tmp_path / "out.jsonl"
    settings = Settings(db=f"sqlite:///{sqlite_path}", to=f"jsonl:{out}", table=tables.name)

    async with relay_for(settings) as relay:
        assert await relay.drain() == 1
        publisher = relay.publisher
        assert repr(publisher).endswith("open)")

    assert repr(publisher).endswith("closed)")
    assert len(out.read_text().splitlines()) == 1
