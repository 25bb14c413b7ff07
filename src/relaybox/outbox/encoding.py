"""Validate events and turn them into rows, before anything is written.

Every check names the field at fault, so a bad event fails in ``add`` with a
message that says what to fix, and the caller's transaction is untouched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from relaybox.core.errors import ConfigurationError, EventValidationError
from relaybox.core.events import OCTETS, Event, lane_of
from relaybox.outbox.payloads import JsonEncoder, PayloadEncoder
from relaybox.outbox.tracing import with_trace_context

MAX_LABEL = 255
MAX_ID = 200
DEFAULT_ENCODER: PayloadEncoder = JsonEncoder()


@dataclass(frozen=True, slots=True)
class Limits:
    """What an event may weigh: ``max_bytes`` of payload plus headers (default 1 MiB)."""

    max_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        if self.max_bytes < 1:
            raise ConfigurationError("max_bytes must be a positive number of bytes")


@dataclass(frozen=True, slots=True)
class Row:
    """One event ready for INSERT, in the column order of the events table."""

    event_id: str
    topic: str
    key: str | None
    lane: str
    type: str
    aggregate_type: str
    content_type: str
    payload: bytes
    headers: str
    created_at: datetime | None


def encode(
    event: Event,
    limits: Limits = Limits(),
    *,
    trace: bool = True,
    encoder: PayloadEncoder = DEFAULT_ENCODER,
) -> Row:
    """Validate ``event`` and encode it; raises :class:`EventValidationError` naming the field.

    Bytes payloads are stored as given; any other payload goes through
    ``encoder``, whose ``content_type`` is stored unless the event names one.
    """
    if not isinstance(event, Event):
        raise EventValidationError("event", f"expected relaybox.Event, got {type(event).__name__}")
    _label("id", event.id, MAX_ID, required=True)
    _label("topic", event.topic, MAX_LABEL, required=True)
    if event.key is not None:
        _label("key", event.key, MAX_LABEL, required=True)
    _label("type", event.type, MAX_LABEL)
    _label("aggregate_type", event.aggregate_type, MAX_LABEL)
    payload, content_type = _payload(event, encoder)
    headers = _headers(with_trace_context(event.headers) if trace else event.headers)
    size = len(payload) + len(headers)
    if size > limits.max_bytes:
        raise EventValidationError(
            "payload", f"is {size} bytes with headers, over the limit of {limits.max_bytes}"
        )
    if event.created_at is not None and event.created_at.tzinfo is None:
        raise EventValidationError("created_at", "must be timezone-aware (use datetime.now(UTC))")
    return Row(
        event.id,
        event.topic,
        event.key,
        lane_of(event.key, event.id),
        event.type,
        event.aggregate_type,
        content_type,
        payload,
        headers,
        event.created_at,
    )


def _label(field: str, value: object, limit: int, *, required: bool = False) -> None:
    if not isinstance(value, str):
        raise EventValidationError(field, f"must be a string, got {type(value).__name__}")
    if required and not value:
        raise EventValidationError(field, "is required and must not be empty")
    if len(value) > limit:
        raise EventValidationError(field, f"is {len(value)} characters, over {limit}")
    if "\x00" in value:
        raise EventValidationError(field, "must not contain NUL characters")
    _storable(field, value)


def _storable(field: str, text: str) -> None:
    """Databases store UTF-8: a lone surrogate is a Python str but no text they accept."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EventValidationError(field, f"is not valid Unicode text ({exc.reason})") from exc


def _payload(event: Event, encoder: PayloadEncoder) -> tuple[bytes, str]:
    content_type = event.content_type
    if content_type is not None:
        _label("content_type", content_type, MAX_LABEL, required=True)
    if isinstance(event.payload, bytes | bytearray | memoryview):
        return bytes(event.payload), content_type or OCTETS
    try:
        payload = encoder(event.payload)
    except UnicodeEncodeError as exc:
        raise EventValidationError("payload", f"is not valid Unicode text ({exc.reason})") from exc
    except (TypeError, ValueError, OverflowError) as exc:
        raise EventValidationError(
            "payload",
            f"cannot be encoded ({exc}); give Outbox(encoder=JsonEncoder(default=...)) "
            "a function for that type, or pass bytes with a content_type",
        ) from exc
    return payload, content_type or encoder.content_type


def _headers(headers: Mapping[str, str]) -> str:
    if not isinstance(headers, Mapping):
        raise EventValidationError("headers", f"must be a mapping, got {type(headers).__name__}")
    if not headers:
        return "{}"
    for name, value in headers.items():
        if not isinstance(name, str) or not name:
            raise EventValidationError("headers", f"names must be non-empty strings, got {name!r}")
        if not isinstance(value, str):
            raise EventValidationError(
                f"headers[{name!r}]", f"must be a string, got {type(value).__name__}"
            )
        _storable("headers", name)
        _storable(f"headers[{name!r}]", value)
    return json.dumps(dict(headers), separators=(",", ":"), ensure_ascii=False)
