from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from relaybox.core.errors import ConfigurationError, EventValidationError
from relaybox.core.events import JSON, OCTETS, UNKEYED_LANES, Event, new_event_id
from relaybox.outbox.encoding import Limits, encode


def rejected(event: Any, limits: Limits | None = None) -> EventValidationError:
    with pytest.raises(EventValidationError) as caught:
        encode(event, limits or Limits(), trace=False)
    return caught.value


@pytest.mark.parametrize(
    ("event", "field", "problem"),
    [
        (Event(None), "topic", "must be a string"),  # type: ignore[arg-type]
        (Event(""), "topic", "is required"),
        (Event("t" * 256), "topic", "over 255"),
        (Event("a\x00b"), "topic", "NUL"),
        (Event("t", key=""), "key", "is required"),
        (Event("t", key=7), "key", "must be a string"),  # type: ignore[arg-type]
        (Event("t", type=None), "type", "must be a string"),  # type: ignore[arg-type]
        (Event("t", aggregate_type="x" * 300), "aggregate_type", "over 255"),
        (Event("t", id=""), "id", "is required"),
        (Event("t", content_type=""), "content_type", "is required"),
        (Event("t", headers={"n": 1}), "headers['n']", "must be a string"),  # type: ignore[dict-item]
        (Event("t", headers={"": "v"}), "headers", "non-empty strings"),
        (Event("t", headers=[("a", "b")]), "headers", "must be a mapping"),  # type: ignore[arg-type]
        (Event("t", payload={1, 2}), "payload", "cannot be encoded"),
        (Event("t", payload=float("nan")), "payload", "cannot be encoded"),
        (Event("t", created_at=datetime(2024, 1, 1)), "created_at", "timezone-aware"),
        ("not an event", "event", "expected relaybox.Event"),
    ],
)
def test_each_bad_field_is_rejected_with_its_name(event: Any, field: str, problem: str) -> None:
    error = rejected(event)
    assert error.field == field
    assert problem in error.problem
    assert field in str(error)


def test_an_event_over_the_size_limit_is_rejected_as_payload() -> None:
    error = rejected(Event("t", payload=b"x" * 90, headers={"h": "y" * 20}), Limits(max_bytes=100))
    assert error.field == "payload"
    assert "over the limit of 100" in error.problem


def test_an_event_at_the_size_limit_is_accepted() -> None:
    row = encode(Event("t", payload=b"x" * 98, headers={}), Limits(max_bytes=100), trace=False)
    assert len(row.payload) + len(row.headers) == 100


def test_the_size_limit_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_bytes"):
        Limits(max_bytes=0)


@pytest.mark.parametrize(
    "payload", [b"\x89PNG\x00", bytearray(b"\x89PNG\x00"), memoryview(b"\x89PNG\x00")]
)
def test_bytes_payloads_keep_their_bytes_and_content_type(payload: Any) -> None:
    row = encode(Event("t", payload=payload, content_type="image/png"), trace=False)
    assert (row.payload, row.content_type) == (b"\x89PNG\x00", "image/png")


def test_bytes_payloads_without_a_content_type_are_octets() -> None:
    assert encode(Event("t", payload=b"raw"), trace=False).content_type == OCTETS


def test_json_payloads_are_compact_utf8_with_the_json_content_type() -> None:
    row = encode(Event("t", payload={"name": "Zoë", "n": [1, 2]}), trace=False)
    assert row.content_type == JSON
    assert row.payload == '{"name":"Zoë","n":[1,2]}'.encode()
    assert json.loads(row.payload) == {"name": "Zoë", "n": [1, 2]}


def test_a_json_payload_may_carry_its_own_content_type() -> None:
    row = encode(Event("t", payload=[1], content_type="application/cloudevents+json"), trace=False)
    assert (row.payload, row.content_type) == (b"[1]", "application/cloudevents+json")


def test_headers_are_stored_as_a_json_object() -> None:
    assert encode(Event("t", headers={"a": "1"}), trace=False).headers == '{"a":"1"}'
    assert encode(Event("t"), trace=False).headers == "{}"


def test_keyed_events_travel_in_their_key_lane_and_unkeyed_ones_spread() -> None:
    assert encode(Event("t", key="order-1"), trace=False).lane == "k:order-1"
    lanes = {encode(Event("t"), trace=False).lane for _ in range(400)}
    assert lanes <= {f"u:{n}" for n in range(UNKEYED_LANES)}
    assert len(lanes) > 1


def test_created_at_is_kept_when_given_and_left_to_the_database_otherwise() -> None:
    when = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert encode(Event("t", created_at=when), trace=False).created_at == when
    assert encode(Event("t"), trace=False).created_at is None


def test_event_ids_are_uuid7_and_sort_by_creation() -> None:
    ids = [new_event_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)


def test_events_get_a_fresh_id_each_unless_given() -> None:
    first, second = Event("t"), Event("t")
    assert first.id != second.id
    assert encode(Event("t", id="my-id"), trace=False).event_id == "my-id"
