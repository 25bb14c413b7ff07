"""The outbox store on PostgreSQL, through asyncpg (``pip install "relaybox[postgres]"``)."""

from __future__ import annotations

try:
    import asyncpg  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'relaybox.adapters.postgres needs asyncpg: pip install "relaybox[postgres]"'
    ) from exc

from relaybox.adapters.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
