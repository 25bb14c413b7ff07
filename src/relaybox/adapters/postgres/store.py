"""The relay's side of the PostgreSQL outbox: claim, settle, extend, clean up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from relaybox.adapters.postgres import queries as q
from relaybox.adapters.postgres.admin import PostgresAdmin
from relaybox.core.errors import SchemaMissingError
from relaybox.core.events import Message, decode_headers
from relaybox.outbox.settling import LaneBudget, SettlePlan, shares
from relaybox.outbox.tables import Tables
from relaybox.ports.store import Claim, Settlement, SettleReport

# Plans: the statements are written so that a generic plan is a good plan
# (primary-key and lane lookups driven from small arrays, LATERAL per lane, a
# hashed NOT IN), so PostgreSQL may cache them; planning each call cost a
# tenth of the relay's database time.
RELAY_SESSION = {
    # The relay's own commits need not wait for the disk. If the server crashes
    # in the next fraction of a second, a claim or a settle is forgotten and the
    # events are delivered again: a duplicate, never a loss (the business
    # transactions that wrote them keep their own durable commits).
    "synchronous_commit": "off",
}


class PostgresStore(PostgresAdmin):
    """The outbox in PostgreSQL: implements ``OutboxStore`` and ``OutboxAdmin``.

    Build it with :meth:`connect`; it owns an asyncpg pool (``max_size``
    connections, 4 by default) and closes it in :meth:`close`. All times come
    from the database's ``now()``.
    """

    def __init__(self, pool: asyncpg.Pool, tables: Tables, dsn: str = "") -> None:
        super().__init__(pool, tables)
        self._sql = {name: tables.render(getattr(q, name)) for name in _QUERIES}
        self.claims = 0
        self._dsn = dsn
        self._budget = LaneBudget()

    @classmethod
    async def connect(
        cls, dsn: str, tables: Tables | None = None, *, min_size: int = 1, max_size: int = 4
    ) -> PostgresStore:
        pool = await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            server_settings=RELAY_SESSION,
            reset=_keep_session,
        )
        return cls(pool, tables or Tables(), dsn)

    async def claim(self, owner: str, limit: int, lease: float, /) -> Claim:
        try:
            return await self._claim(owner, limit, lease)
        except asyncpg.UndefinedTableError as exc:
            raise SchemaMissingError(
                f"outbox table {self._tables.events} does not exist ({exc})"
            ) from exc

    async def _claim(self, owner: str, limit: int, lease: float) -> Claim:
        budget = self._budget.lanes(limit)
        args = (min(limit, budget * 4), budget, owner, lease)
        leased = await self._pool.fetch(self._sql["LEASE"], *args)
        if leased[0]["missing"]:
            # Lanes seen for the first time: give them their row, then lease.
            await self._pool.execute(self._sql["CREATE_LANES"], leased[0]["missing"])
            if leased[0]["lane"] is None:
                leased = await self._pool.fetch(self._sql["LEASE"], *args)
        if leased[0]["lane"] is None:
            return Claim(owner, 0, (), ())
        lanes = tuple(r["lane"] for r in leased)
        token = leased[0]["token"]
        again = [
            (i, r["prev_owner"]) for r in leased if r["prev_owner"] for i in r["prev_ids"] or ()
        ]
        reclaimed: set[int] = set()
        if again:
            counted = await self._pool.fetch(
                self._sql["RECLAIM"], [i for i, _ in again], [owner for _, owner in again]
            )
            reclaimed = {r[0] for r in counted}
        seen = [r["seen"] for r in leased]
        rows = await self._pool.fetch(self._sql["FETCH"], lanes, shares(limit, seen), token)
        messages = tuple(map(_message, rows))
        if not _in_lane_order(messages):
            messages = tuple(sorted(messages, key=_lane_order))
        self.claims += 1
        self._budget.observe(limit, budget, len(lanes), len(messages))
        count = sum(1 for m in messages if m.row_id in reclaimed) if reclaimed else 0
        return Claim(owner, token, lanes, messages, count)

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        if not claim.lanes:
            return SettleReport(0)
        sql = self._sql
        if len(settlement.delivered) == len(claim.messages) and not settlement.dead:
            row = await self._pool.fetchrow(
                sql["SETTLE_DELIVERED"],
                list(claim.lanes),
                claim.token,
                [m.row_id for m in settlement.delivered],
            )
            assert row is not None
            if len(row["held"]) == len(claim.lanes):
                return SettleReport(row["deleted"])
            # Some lease was lost: settle what is still ours, below.
        async with self._pool.acquire() as conn, conn.transaction():
            held = {r[0] for r in await conn.fetch(sql["HELD"], list(claim.lanes), claim.token)}
            plan = SettlePlan.build(claim, settlement, held)
            if plan.delivered:
                await conn.execute(sql["DELETE_DELIVERED"], plan.delivered)
            if plan.retry:
                await conn.execute(
                    sql["SCHEDULE_RETRY"],
                    [r.message.row_id for r in plan.retry],
                    [r.delay for r in plan.retry],
                    [r.error for r in plan.retry],
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
                    sql["RELEASE"],
                    [u.lane for u in plan.lanes],
                    [u.hold for u in plan.lanes],
                    [u.park_event_id for u in plan.lanes],
                    [u.park_reason for u in plan.lanes],
                )
        return SettleReport(plan.settled, tuple(plan.lost))

    async def extend(self, claim: Claim, lease: float, /) -> bool:
        if not claim.lanes:
            return True
        status = await self._pool.execute(
            self._sql["EXTEND"], list(claim.lanes), claim.token, lease
        )
        return _rowcount(status) == len(claim.lanes)

    async def cleanup(self, dead_retention: float, batch_size: int, /) -> int:
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
    "LEASE",
    "CREATE_LANES",
    "RECLAIM",
    "FETCH",
    "SETTLE_DELIVERED",
    "HELD",
    "DELETE_DELIVERED",
    "SCHEDULE_RETRY",
    "MOVE_TO_DEAD",
    "RELEASE",
    "EXTEND",
    "PURGE_OLD_DEAD",
    "PURGE_IDLE_LANES",
)


def _message(r: asyncpg.Record) -> Message:
    # Positional on purpose: the relay builds hundreds of thousands of these a second.
    # Columns of FETCH: id, event_id, topic, key, seq, lane, type, aggregate_type,
    # content_type, payload, headers, created_at, attempts.
    # fmt: off
    return Message(
        r[0], r[1], r[2], r[3], r[4], r[6], r[7], r[8], r[9], decode_headers(r[10]), r[11],
        r[12], r[5],
    )
    # fmt: on


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Return connections to the pool as they are.

    asyncpg still rolls back an open transaction on release; its default reset
    would also send ``RESET ALL; UNLISTEN *...``, a round trip per statement that
    cost a third of the relay's time. The pool is the store's own: nothing sets
    session state on it.
    """


def _in_lane_order(messages: Sequence[Message]) -> bool:
    """True when each lane's messages are together and in order (as the join returns them)."""
    seen: set[str] = set()
    lane, last = "", -1
    for m in messages:
        position = m.row_id if m.seq is None else m.seq
        if m.lane != lane:
            if m.lane in seen:
                return False
            seen.add(m.lane)
            lane = m.lane
        elif position <= last:
            return False
        last = position
    return True


def _lane_order(message: Message) -> tuple[str, int]:
    return message.lane, message.seq if message.seq is not None else message.row_id


def _rowcount(status: str) -> int:
    """asyncpg returns the command tag, such as ``DELETE 42``."""
    return int(status.rsplit(" ", 1)[-1])
