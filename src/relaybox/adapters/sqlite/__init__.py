"""The outbox store on SQLite (standard library only): the embedded default."""

from __future__ import annotations

from relaybox.adapters.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
