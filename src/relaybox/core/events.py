"""Outbox events: what applications write, and the message a publisher receives.

An :class:`Event` is validated and encoded by the writer before anything reaches
the database. A :class:`Message` is one stored event as the relay hands it to a
publisher, with the bookkeeping the relay keeps (sequence, attempts).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

JSON = "application/json"
OCTETS = "application/octet-stream"
UNKEYED_LANES = 16
"""Unkeyed events are spread over this many lanes, so several relays share them."""

_EMPTY: Mapping[str, str] = MappingProxyType({})


class _Uuid7:
    """UUIDv7 (RFC 9562): 48-bit milliseconds, then a counter so ids made in one
    millisecond by one process still sort in creation order, then random bits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def __call__(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                ms = self._last_ms
                self._counter += 1
                if self._counter > 0xFFF:  # 12-bit counter spent: borrow the next millisecond
                    ms += 1
                    self._counter = 0
            else:
                self._counter = 0
            self._last_ms = ms
            counter = self._counter
        rand = int.from_bytes(os.urandom(8), "big") & 0x3FFF_FFFF_FFFF_FFFF
        value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
        return str(uuid.UUID(int=value))


new_event_id = _Uuid7()


def lane_of(key: str | None, event_id: str) -> str:
    """The lane an event travels in: its own key, or one of the unkeyed lanes.

    A lane is what a relay leases: events of one lane are never in flight in two
    relays at once. Keyed lanes are ordered by sequence; unkeyed ones are not.
    """
    if key is not None:
        return "k:" + key
    return f"u:{zlib.crc32(event_id.encode()) % UNKEYED_LANES}"


def key_of(lane: str) -> str | None:
    """The key of a keyed lane, ``None`` for an unkeyed one."""
    return lane[2:] if lane.startswith("k:") else None


@dataclass(frozen=True, slots=True)
class Event:
    """One domain event to publish after the transaction that adds it commits.

    * ``topic`` - where it goes (a Kafka topic, a queue, a file...). Required.
    * ``payload`` - a JSON-serialisable value, or ``bytes`` with ``content_type``.
    * ``key`` - the ordering key, such as the aggregate id: events of one key are
      published in commit order; events without a key are unordered.
    * ``type`` / ``aggregate_type`` - free-form labels (``"OrderPlaced"``, ``"Order"``).
    * ``headers`` - string to string; the trace context is added when one is active.
    * ``id`` - stable identity, a UUIDv7 unless given; brokers use it to drop duplicates.
    * ``created_at`` - when the event happened; by default the database's clock at insert.
    """

    topic: str
    payload: object = None
    key: str | None = None
    type: str = ""
    aggregate_type: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None
    id: str = field(default_factory=new_event_id)
    created_at: datetime | None = None


@dataclass(slots=True, eq=False)
class Message:
    """A stored event as a publisher receives it; treat it as read-only.

    ``attempts`` counts deliveries that failed for this event so far (an
    unreachable destination counts none); ``lease_expiries`` counts leases on
    it that ran out unsettled (a relay crashed or stalled while publishing it);
    ``first_failed_at`` is when it first failed, on the database clock.
    ``seq`` is the event's position within its key (``None`` without a key).
    Identity matters: outcomes refer to the very objects the relay handed out.
    (Not a frozen dataclass on purpose: a relay builds 100k+ of these a
    second, and frozen initialisation costs twice as much.)
    """

    row_id: int
    id: str
    topic: str
    key: str | None
    seq: int | None
    type: str
    aggregate_type: str
    content_type: str
    payload: bytes
    headers: Mapping[str, str]
    created_at: datetime
    attempts: int = 0
    lane: str = ""
    lease_expiries: int = 0
    first_failed_at: datetime | None = None

    def json(self) -> object:
        """The payload decoded as JSON."""
        return json.loads(self.payload)

    def __repr__(self) -> str:
        where = f"key={self.key!r} seq={self.seq}" if self.key is not None else "unkeyed"
        return f"Message({self.id} topic={self.topic!r} {where} attempts={self.attempts})"


def decode_headers(text: str | None) -> Mapping[str, str]:
    """Headers as stored (a JSON object); the shared empty mapping when there are none."""
    if not text or text == "{}":
        return _EMPTY
    loaded: dict[str, str] = json.loads(text)
    return loaded
