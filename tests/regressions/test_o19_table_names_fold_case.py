"""O-19: table names that differ only in case are one outbox, with one claim lock.

Before: ``Tables("shop_outbox")`` and ``Tables("SHOP_OUTBOX")`` named the same
PostgreSQL tables (unquoted identifiers fold to lower case) yet took different
advisory locks and listened on different channels, so two relays could lease
the same key at once. Names now fold as PostgreSQL folds them.
"""

from __future__ import annotations

import asyncio
import uuid

from relaybox.adapters.postgres import PostgresStore
from relaybox.core.events import Event
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox


def test_o19_a_name_is_folded_to_lower_case() -> None:
    assert Tables("SHOP_Outbox") == Tables("shop_outbox")
    assert Tables("SHOP_OUTBOX").claims == "shop_outbox_claims"


async def test_o19_relays_on_either_spelling_never_lease_a_key_twice(pg_dsn: str) -> None:
    name = f"rbt_case_{uuid.uuid4().hex[:8]}"
    lower = await PostgresStore.connect(pg_dsn, Tables(name))
    upper = await PostgresStore.connect(pg_dsn, Tables(name.upper()))
    try:
        await lower.migrate()
        assert repr(upper) == repr(lower)
        assert upper._sql["LOCK"] == lower._sql["LOCK"]
        import asyncpg

        conn = await asyncpg.connect(pg_dsn)
        try:
            async with conn.transaction():
                events = [Event("orders", {"n": n}, key=f"k{n % 20}") for n in range(400)]
                await Outbox(Tables(name)).add_async(conn, *events)
        finally:
            await conn.close()
        for _ in range(10):
            a, b = await asyncio.gather(
                lower.claim("lower", 50, 30.0), upper.claim("upper", 50, 30.0)
            )
            assert not set(a.lanes) & set(b.lanes)
            await asyncio.gather(lower.settle(a, _delivered(a)), upper.settle(b, _delivered(b)))
    finally:
        await lower.drop()
        await lower.close()
        await upper.close()


def _delivered(claim):  # type: ignore[no-untyped-def]
    from relaybox.ports.store import Settlement

    return Settlement(delivered=claim.messages)
