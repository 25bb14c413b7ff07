"""The outbox writer: add events inside the caller's business transaction.

The events commit or roll back together with the business change, which is
the point of an outbox. The writer therefore joins the transaction the
caller already has and never commits, rolls back, migrates or connects.
"""

from __future__ import annotations

from collections.abc import Sequence

from relaybox.core.events import Event
from relaybox.outbox.encoding import DEFAULT_ENCODER, Limits, Row, encode
from relaybox.outbox.payloads import PayloadEncoder
from relaybox.outbox.tables import Tables
from relaybox.outbox.writing.drivers import write, write_async
from relaybox.outbox.writing.postgres import PostgresWriter
from relaybox.outbox.writing.schema import missing_schema
from relaybox.outbox.writing.sqlite import SqliteWriter

DEFAULT_TABLES = Tables()
DEFAULT_LIMITS = Limits()


class Outbox:
    """Writes events into the outbox tables on the caller's open transaction.

    ``tables`` names the outbox (a :class:`Tables` or its name); ``limits`` caps
    each event's size; ``trace`` copies the active OpenTelemetry trace context
    into each event's headers (headers the caller set win); ``encoder`` turns
    payloads that are not bytes into bytes (default: :class:`JsonEncoder`, which
    also takes datetimes, UUIDs, decimals, enums, dataclasses and pydantic
    models) and names their content type.

    Contract of :meth:`add` and :meth:`add_async`:

    * Every event is validated and encoded first; a bad one raises
      :class:`~relaybox.core.errors.EventValidationError` naming the field, and
      nothing is written, so the transaction stays usable.
    * The events are inserted on ``tx``'s transaction, in one round trip on
      PostgreSQL however many there are. They become visible to the relay only
      when the caller commits, and vanish if it rolls back. The writer never
      commits, rolls back, migrates or opens a connection.
    * Events with a key get the next sequence numbers of that key, in call
      order. Taking them locks the key until the transaction ends, so writers
      of one key queue behind each other and sequence order is commit order.
      Keep such transactions short; keys are locked in sorted order within a
      call, but across several calls in one transaction the caller sets the order.
    * A connection in autocommit mode with no transaction open is refused with
      :class:`~relaybox.core.errors.ConfigurationError`: the events would be
      committed on their own. So is a connection of an unknown type, or a
      synchronous one given to ``add_async`` and vice versa.
    * A missing outbox table raises :class:`~relaybox.core.errors.SchemaMissingError`
      (run ``relaybox migrate``). On PostgreSQL the failed statement has then
      aborted the caller's transaction, which can only be rolled back.
    """

    def __init__(
        self,
        tables: Tables | str = DEFAULT_TABLES,
        *,
        limits: Limits = DEFAULT_LIMITS,
        trace: bool = True,
        encoder: PayloadEncoder = DEFAULT_ENCODER,
    ) -> None:
        self.tables = tables if isinstance(tables, Tables) else Tables(tables)
        self.limits = limits
        self.trace = trace
        self.encoder = encoder
        self._postgres = PostgresWriter(self.tables)
        self._sqlite = SqliteWriter(self.tables)

    def add(self, tx: object, *events: Event) -> tuple[str, ...]:
        """Add ``events`` on ``tx``, a synchronous connection or session; returns their ids.

        ``tx`` is a ``sqlite3.Connection``, a ``psycopg.Connection`` or a SQLAlchemy
        ``Connection`` or ``Session`` (its transaction is begun if it was not yet,
        as SQLAlchemy's own ``execute`` would).
        """
        rows = self._encode(events)
        if rows:
            try:
                write(tx, rows, self._postgres, self._sqlite)
            except Exception as exc:
                self._raise_schema_missing(exc)
                raise
        return tuple(row.event_id for row in rows)

    async def add_async(self, tx: object, *events: Event) -> tuple[str, ...]:
        """Add ``events`` on ``tx``, an asynchronous connection or session; returns their ids.

        ``tx`` is a ``psycopg.AsyncConnection``, an ``asyncpg.Connection`` (a pool's
        connection too), an ``aiosqlite.Connection`` or a SQLAlchemy
        ``AsyncConnection`` or ``AsyncSession``.
        """
        rows = self._encode(events)
        if rows:
            try:
                await write_async(tx, rows, self._postgres, self._sqlite)
            except Exception as exc:
                self._raise_schema_missing(exc)
                raise
        return tuple(row.event_id for row in rows)

    def _encode(self, events: Sequence[Event]) -> list[Row]:
        return [
            encode(event, self.limits, trace=self.trace, encoder=self.encoder) for event in events
        ]

    def _raise_schema_missing(self, error: Exception) -> None:
        missing = missing_schema(error, self.tables)
        if missing is not None:
            raise missing from error

    def __repr__(self) -> str:
        return (
            f"Outbox(tables={self.tables.name!r}, max_bytes={self.limits.max_bytes}, "
            f"trace={self.trace})"
        )
