"""O-21: upgrading from v1 carries a live lease over with the ids its events have now.

Before: migration 0002 copied each lease's handed-out ids, then renumbered the
keys an older release had left out of id order, so a lease on such a key
pointed at ids that no longer existed: when it expired, the attempt of the
relay that died mid-publish was not counted. The lease is now carried over
after the renumbering, with each id mapped to its event's new one.
"""

from __future__ import annotations

import asyncpg
import pytest

from relaybox.adapters import postgres as postgres_adapter
from relaybox.adapters.migrations import migrations
from relaybox.adapters.postgres import PostgresStore
from relaybox.core.events import Event
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox


async def test_o21_a_lease_on_a_renumbered_key_still_counts_its_expiry(
    pg_dsn: str, tables: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await PostgresStore.connect(pg_dsn, tables)
    try:
        with monkeypatch.context() as patch:  # a database left at version 1
            patch.setattr(postgres_adapter.admin, "migrations", lambda d, t: migrations(d, t)[:1])
            assert await store.migrate() == [1]
        t = tables
        conn = await asyncpg.connect(pg_dsn)
        try:
            async with conn.transaction():
                await Outbox(t).add_async(conn, *(Event("orders", key="k") for _ in range(3)))
            # An old replay put seq 1 back behind seqs 2 and 3 (ids out of order).
            await conn.execute(
                f"INSERT INTO {t.events} (event_id, topic, key, seq, lane, type, aggregate_type, "
                "content_type, payload, headers, created_at) SELECT event_id, topic, key, seq, "
                f"lane, type, aggregate_type, content_type, payload, headers, created_at "
                f"FROM {t.events} WHERE seq = 1; "
                f"DELETE FROM {t.events} WHERE id = (SELECT min(id) FROM {t.events} WHERE seq = 1)"
            )
            ids = await conn.fetchval(f"SELECT array_agg(id ORDER BY id) FROM {t.events}")
            # A relay (gone now) had leased the key and handed out all three.
            await conn.execute(
                f"INSERT INTO {t.lanes} (lane, owner, token, lease_expires_at, claimed_at, "
                "claimed_ids) VALUES ('k:k', 'gone-relay', 7, now() - interval '1 s', now(), $1)",
                ids,
            )
        finally:
            await conn.close()

        assert await store.migrate() == [2, 3]
        again = await store.claim("relay", 10, 30.0)

        assert [m.seq for m in again.messages] == [1, 2, 3]
        assert [m.lease_expiries for m in again.messages] == [1, 1, 1]
        assert again.reclaimed == 3
    finally:
        await store.drop()
        await store.close()
