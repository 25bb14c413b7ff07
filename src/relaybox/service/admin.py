"""Operator sessions: open the configured store, check its schema, work in bounded chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from relaybox.adapters.migrations import script
from relaybox.core.errors import ConfigurationError, DeadLetterNotFoundError, SchemaMissingError
from relaybox.ports.store import DeadEvent, DeadFilter, OutboxAdmin, SchemaState
from relaybox.service.settings import Settings
from relaybox.service.stores import Store, locate_store, migrate_command, open_store, redact

CHUNK = 500
"""Dead letters replayed or purged per statement: short transactions, visible progress."""

ChunkProgress = Callable[[int, int], object]
"""Told ``(touched, bound)`` after each chunk: how many it touched, and at most how many in all."""

R = TypeVar("R")


@asynccontextmanager
async def opened_store(settings: Settings, *, create: bool = False) -> AsyncIterator[Store]:
    """The configured store, closed on exit; its schema is not checked (``migrate`` needs that)."""
    store = await open_store(settings.require_db(), settings.tables(), create=create)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def ready_store(settings: Settings) -> AsyncIterator[Store]:
    """The configured store after :func:`require_schema` passed, closed on exit."""
    async with opened_store(settings) as store:
        await require_schema(store, settings)
        yield store


async def on_ready_store(settings: Settings, work: Callable[[Store], Awaitable[R]]) -> R:
    """``work(store)`` on the configured store once its schema is checked; closes it after."""
    async with ready_store(settings) as store:
        return await work(store)


async def migrate(settings: Settings) -> tuple[list[int], SchemaState]:
    """Apply pending migrations (creating a SQLite file if needed): versions applied, new state."""
    async with opened_store(settings, create=True) as store:
        applied = await store.migrate()
        return applied, await store.schema()


async def check(settings: Settings) -> SchemaState:
    """The schema state when ready; :class:`SchemaMissingError` otherwise (see below)."""
    async with opened_store(settings) as store:
        return await require_schema(store, settings)


async def require_schema(store: OutboxAdmin, settings: Settings) -> SchemaState:
    """The schema state, or :class:`SchemaMissingError` naming ``relaybox migrate``.

    A database newer than this relaybox is a :class:`ConfigurationError`:
    migrating cannot help, upgrading relaybox does.
    """
    state = await store.schema()
    url, tables = settings.require_db(), settings.tables()
    if state.current > state.latest:
        raise ConfigurationError(
            f"the outbox {tables.name!r} in {redact(url)} has schema v{state.current}, newer "
            f"than this relaybox knows (v{state.latest}): upgrade relaybox"
        )
    if not state.ready:
        found = "does not exist" if state.current == 0 else f"is at schema v{state.current}"
        raise SchemaMissingError(
            f"the outbox {tables.name!r} in {redact(url)} {found}, v{state.latest} is needed",
            command=migrate_command(url, tables),
        )
    return state


async def find_dead(store: OutboxAdmin, event_id: str) -> DeadEvent:
    """The dead letter of ``event_id``, or :class:`DeadLetterNotFoundError`."""
    found = await store.dead_letters(DeadFilter(ids=[event_id]), 1)
    if not found:
        raise DeadLetterNotFoundError(f"no dead letter with id {event_id}")
    return found[0]


async def replay_dead(
    store: Store, where: DeadFilter, progress: ChunkProgress | None = None
) -> int:
    """Replay matching dead letters in chunks of :data:`CHUNK`; returns how many.

    Stops once as many as were dead at the start are replayed, so events that a
    running relay dead-letters again meanwhile cannot keep the loop going.
    """
    return await _chunked(lambda n: store.replay(where, n), await _bound(store), progress)


async def purge_dead(store: Store, where: DeadFilter, progress: ChunkProgress | None = None) -> int:
    """Delete matching dead letters in chunks of :data:`CHUNK`; returns how many."""
    return await _chunked(lambda n: store.purge(where, n), await _bound(store), progress)


async def _bound(store: OutboxAdmin) -> int:
    return (await store.status()).dead


async def _chunked(
    step: Callable[[int], Awaitable[int]], bound: int, progress: ChunkProgress | None
) -> int:
    done = 0
    while done < bound:
        touched = await step(min(CHUNK, bound - done))
        if touched == 0:
            break
        done += touched
        if progress is not None:
            progress(touched, bound)
    return done


def migration_sql(settings: Settings, dialect: str | None) -> str:
    """The schema script for ``settings.table``, in ``dialect`` or the kind of ``settings.db``."""
    if dialect is None:
        if settings.db is None:
            raise ConfigurationError("say which database: give --dialect postgresql|sqlite or --db")
        dialect = locate_store(settings.db).kind
    if dialect not in ("postgresql", "sqlite"):
        raise ConfigurationError(f"unknown dialect {dialect!r}: use postgresql or sqlite")
    return script("postgresql" if dialect == "postgresql" else "sqlite", settings.tables())
