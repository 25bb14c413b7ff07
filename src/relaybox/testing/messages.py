"""Outbox messages made by hand, for unit tests of publishers and middleware."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from relaybox.core.events import JSON, Message, lane_of


def message(
    row_id: int,
    *,
    key: str | None = None,
    topic: str = "orders",
    payload: bytes = b"{}",
    content_type: str = JSON,
    seq: int | None = None,
    attempts: int = 0,
    type: str = "",
    headers: Mapping[str, str] | None = None,
    created_at: datetime | None = None,
    lane: str | None = None,
) -> Message:
    """A :class:`Message` as a relay would hand it out, id ``id-<row_id>``.

    A keyed message's ``seq`` defaults to ``row_id``; its lane is the one the
    writer would give it, unless ``lane`` says otherwise.
    """
    event_id = f"id-{row_id}"
    return Message(
        row_id=row_id,
        id=event_id,
        topic=topic,
        key=key,
        seq=seq if seq is not None or key is None else row_id,
        type=type,
        aggregate_type="",
        content_type=content_type,
        payload=payload,
        headers=headers or {},
        created_at=created_at or datetime.now(UTC),
        attempts=attempts,
        lane=lane or lane_of(key, event_id),
    )
