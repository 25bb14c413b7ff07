"""The relay's side of the PostgreSQL outbox: claim, settle, extend, clean up."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from relaybox.adapters.postgres import queries as q
from relaybox.adapters.postgres.admin import PostgresAdmin
from relaybox.core.errors import SchemaMissingError
from relaybox.core.events import Message, decode_headers
from relaybox.outbox.settling import SettlePlan
from relaybox.outbox.tables import Tables
from relaybox.ports.store import Claim, Settlement, SettleReport

logger = logging.getLogger("relaybox.relay")

# Plans: the statements are written so that a generic plan is a good plan
# (primary-key lookups driven from arrays, a hashed NOT IN, one lease row per
# claim), so PostgreSQL may cache them; planning each call cost a
# tenth of the relay's database time.
RELAY_SESSION = {
    # The relay's own commits need not wait for the disk. If the server crashes
    # in the next fraction of a second, a claim or a settle is forgotten and the
    # events are delivered again: a duplicate, never a loss (the business
    # transactions that wrote them keep their own durable commits).
    "synchronous_commit": "off",
    # A relay frozen inside a transaction (a claim holds the outbox's claim
    # lock until it commits) has its session ended by the server, so other
    # relays wait for it 10 s at most. The relay's transactions last
    # milliseconds.
    "idle_in_transaction_session_timeout": "10s",
    # The statements are short and touch a batch's rows by key: compiling one
    # with JIT (which PostgreSQL may pick from a high row estimate) costs more
    # than running it.
    "jit": "off",
}


CLAIM_BYTES = 16 * 1024 * 1024
"""A claim's payload budget: it stops at the event that would pass it (the first always fits)."""


class PostgresStore(PostgresAdmin):
    """The outbox in PostgreSQL: implements ``OutboxStore`` and ``OutboxAdmin``.

    Build it with :meth:`connect`; it owns an asyncpg pool (``max_size``
    connections, 4 by default) and closes it in :meth:`close`. All times come
    from the database's ``now()``. A claim holds at most ``claim_bytes`` of
    payloads (16 MiB), plus the one event that crosses it.
    """

    def __init__(
        self, pool: asyncpg.Pool, tables: Tables, dsn: str = "", *, claim_bytes: int = CLAIM_BYTES
    ) -> None:
        super().__init__(pool, tables)
        self.claim_bytes = claim_bytes
        self._sql = {name: tables.render(getattr(q, name)) for name in _QUERIES}
        self.claims = 0
        self._dsn = dsn

    @classmethod
    async def connect(
        cls,
        dsn: str,
        tables: Tables | None = None,
        *,
        min_size: int = 1,
        max_size: int = 4,
        claim_bytes: int = CLAIM_BYTES,
    ) -> PostgresStore:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            server_settings=RELAY_SESSION,
            reset=_keep_session,
        )
        return cls(pool, tables or Tables(), dsn, claim_bytes=claim_bytes)

    async def claim(self, owner: str, limit: int, lease: float, /) -> Claim:
        try:
            return await self._claim(owner, limit, lease)
        except asyncpg.UndefinedTableError as exc:
            raise SchemaMissingError(
                f"the outbox {self._tables.name} is missing a table ({exc})"
            ) from exc

    async def _claim(self, owner: str, limit: int, lease: float) -> Claim:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(self._sql["LOCK"])
            rows = await conn.fetch(self._sql["CLAIM"], limit, owner, lease, self.claim_bytes)
        *heads, whole = rows
        again = set(whole["reclaimed"] or ())
        if not heads:
            return Claim(owner, 0, (), ())
        messages = tuple(_message(r, again) for r in heads)
        if not _in_key_order(messages):
            # Only rows written out of order by an older release, which
            # ``migrate`` renumbers, can cause this: deliver them in order anyway.
            logger.warning(
                "claim %d holds a key's events out of sequence order; run relaybox migrate",
                whole["token"],
            )
            messages = tuple(sorted(messages, key=_lane_order))
        self.claims += 1
        counted = sum(1 for m in messages if m.row_id in again) if again else 0
        return Claim(owner, whole["token"], tuple(whole["lanes"]), messages, counted)

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        if not claim.lanes:
            return SettleReport(0)
        sql = self._sql
        if len(settlement.delivered) == len(claim.messages) and not settlement.dead:
            row = await self._pool.fetchrow(
                sql["SETTLE_DELIVERED"], claim.token, [m.row_id for m in settlement.delivered]
            )
            assert row is not None
            if row["held"]:
                return SettleReport(row["deleted"])
            return SettleReport(0, settlement.decided())
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(sql["END_CLAIM"], claim.token):
                return SettleReport(0, settlement.decided())
            plan = SettlePlan.build(claim, settlement)
            if plan.delivered:
                await conn.execute(sql["DELETE_DELIVERED"], plan.delivered)
            if plan.retry:
                await conn.execute(
                    sql["SCHEDULE_RETRY"],
                    [r.message.row_id for r in plan.retry],
                    [r.delay for r in plan.retry],
                    [r.error for r in plan.retry],
                    [r.counted for r in plan.retry],
                )
            if plan.dead:
                await conn.execute(
                    sql["MOVE_TO_DEAD"],
                    [d.message.row_id for d in plan.dead],
                    [d.error for d in plan.dead],
                    [d.error_type for d in plan.dead],
                    [d.attempts for d in plan.dead],
                )
            if plan.lanes:
                await conn.execute(
                    sql["HOLD_OR_PARK"],
                    [u.lane for u in plan.lanes],
                    [u.hold for u in plan.lanes],
                    [u.park_event_id for u in plan.lanes],
                    [u.park_reason for u in plan.lanes],
                )
                parked = [u.lane for u in plan.lanes if u.park_event_id is not None]
                if parked:
                    await conn.execute(sql["SET_ASIDE"], parked)
        return SettleReport(plan.settled)

    async def extend(self, claim: Claim, lease: float, /) -> bool:
        if not claim.lanes:
            return True
        status = await self._pool.execute(self._sql["EXTEND"], claim.token, lease)
        return _rowcount(status) == 1

    async def cleanup(self, dead_retention: float, batch_size: int, /) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(self._sql["SET_ASIDE_LATE"])
        removed = 0
        for name, args in (
            ("PURGE_OLD_DEAD", (dead_retention, batch_size)),
            ("PURGE_IDLE_LANES", (batch_size,)),
        ):
            while True:
                count = _rowcount(await self._pool.execute(self._sql[name], *args))
                removed += count
                if count < batch_size:
                    break
        return removed

    async def subscribe(self, wake: Callable[[], None], /) -> Callable[[], Awaitable[None]]:
        """Wake on ``NOTIFY <table name>``, sent by anyone after a commit (see docs/outbox.md).

        A hint travels on its own connection; ``NOTIFY`` inside a business
        transaction would take PostgreSQL's global commit lock, so relaybox never
        sends one there.
        """
        conn = await asyncpg.connect(self._dsn)
        channel = self._tables.name

        def heard(*_: object) -> None:
            wake()

        await conn.add_listener(channel, heard)

        async def unsubscribe() -> None:
            try:
                await conn.remove_listener(channel, heard)
            finally:
                await conn.close()

        return unsubscribe

    async def close(self) -> None:
        await self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresStore(table={self._tables.name!r}, claims={self.claims})"


_QUERIES = (
    "LOCK",
    "CLAIM",
    "SETTLE_DELIVERED",
    "END_CLAIM",
    "DELETE_DELIVERED",
    "SCHEDULE_RETRY",
    "MOVE_TO_DEAD",
    "HOLD_OR_PARK",
    "SET_ASIDE",
    "SET_ASIDE_LATE",
    "EXTEND",
    "PURGE_OLD_DEAD",
    "PURGE_IDLE_LANES",
)


def _message(r: asyncpg.Record, reclaimed: set[int]) -> Message:
    # Positional on purpose: the relay builds hundreds of thousands of these a second.
    # Columns of CLAIM: lanes, token, reclaimed (set on the last row only),
    # then id, event_id, topic,
    # key, seq, lane, type, aggregate_type, content_type, payload, headers,
    # created_at, attempts, lease_expiries (from before a reclaim counted one
    # more), first_failed_at.
    expiries = r[16] + 1 if reclaimed and r[3] in reclaimed else r[16]
    # fmt: off
    return Message(
        r[3], r[4], r[5], r[6], r[7], r[9], r[10], r[11], r[12], decode_headers(r[13]), r[14],
        r[15], r[8], expiries, r[17],
    )
    # fmt: on


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Return connections to the pool as they are.

    asyncpg still rolls back an open transaction on release; its default reset
    would also send ``RESET ALL; UNLISTEN *...``, a round trip per statement that
    cost a third of the relay's time. The pool is the store's own: nothing sets
    session state on it.
    """


def _in_key_order(messages: Sequence[Message]) -> bool:
    """True when each key's messages come in sequence order (as the claim returns them)."""
    last: dict[str, int] = {}
    for m in messages:
        if m.seq is not None:
            if last.get(m.lane, 0) >= m.seq:
                return False
            last[m.lane] = m.seq
    return True


def _lane_order(message: Message) -> tuple[str, int]:
    return message.lane, message.seq if message.seq is not None else message.row_id


def _rowcount(status: str) -> int:
    """asyncpg returns the command tag, such as ``DELETE 42``."""
    return int(status.rsplit(" ", 1)[-1])
