"""How an outbox message is laid out as the fields of one Redis stream entry, and read back.

Fields, written by the script in :mod:`relaybox.adapters.redis.batch`:
``id``, ``topic``, ``type``, ``content_type``, ``headers`` (a JSON object,
``traceparent`` included), ``payload`` (the exact bytes), and ``key`` only for
keyed messages. Redis has no headers of its own, so these fields are
the message's native metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from relaybox.core.events import Message


def headers_text(message: Message) -> str:
    """The ``headers`` field of ``message``: its headers as one JSON object."""
    return json.dumps(dict(message.headers), separators=(",", ":")) if message.headers else "{}"


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One entry read from a stream: where it is, and its fields as raw bytes."""

    stream: str
    entry_id: str
    fields: Mapping[str, bytes]

    def text(self, name: str) -> str | None:
        raw = self.fields.get(name)
        return None if raw is None else raw.decode()

    @property
    def event_id(self) -> str | None:
        return self.text("id")

    @property
    def key(self) -> str | None:
        return self.text("key")

    @property
    def payload(self) -> bytes:
        return self.fields.get("payload", b"")

    @property
    def headers(self) -> dict[str, str]:
        loaded: dict[str, str] = json.loads(self.fields.get("headers", b"{}"))
        return loaded

    @classmethod
    def of(cls, stream: str, entry_id: bytes | str, raw: Mapping[bytes, bytes]) -> StreamEntry:
        """An entry as redis-py returns it (bytes everywhere)."""
        name = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        return cls(stream, name, {k.decode(): v for k, v in raw.items()})
