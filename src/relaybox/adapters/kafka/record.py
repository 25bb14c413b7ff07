"""Event metadata in Kafka headers, written by the publisher and read back by the source.

The publisher puts the event's own headers (``traceparent`` among them) first,
then the reserved ones below; a consumer reads the reserved names back into a
:class:`KafkaRecord` and leaves every other header to ``headers``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import Message as Consumed

from relaybox.core.events import OCTETS, Message

ID, TYPE, TOPIC, AGGREGATE_TYPE, CONTENT_TYPE = (
    "event-id",
    "event-type",
    "event-topic",
    "aggregate-type",
    "content-type",
)
RESERVED = frozenset({ID, TYPE, TOPIC, AGGREGATE_TYPE, CONTENT_TYPE})

Headers = list[tuple[str, str | bytes | None]]


def headers_of(message: Message) -> Headers:
    """The Kafka headers that carry ``message``'s metadata and its own headers."""
    own: Headers = [(name, value.encode()) for name, value in message.headers.items()]
    return [
        *own,
        (ID, message.id.encode()),
        (TYPE, message.type.encode()),
        (TOPIC, message.topic.encode()),
        (AGGREGATE_TYPE, message.aggregate_type.encode()),
        (CONTENT_TYPE, message.content_type.encode()),
    ]


@dataclass(slots=True, eq=False)
class KafkaRecord:
    """One consumed Kafka message with the event metadata decoded from its headers.

    ``topic`` is the event's topic (from ``event-topic``, else the Kafka topic);
    ``kafka_topic``, ``partition`` and ``offset`` say where it was read;
    ``raw_headers`` are all the headers as sent, reserved ones included.
    Records are tracked by identity, as outcomes require.
    """

    id: str
    key: str | None
    topic: str
    type: str
    content_type: str
    headers: Mapping[str, str]
    payload: bytes
    kafka_topic: str
    partition: int
    offset: int
    raw_headers: tuple[tuple[str, str], ...] = ()

    def json(self) -> object:
        """The payload decoded as JSON."""
        return json.loads(self.payload)


def record_of(consumed: Consumed) -> KafkaRecord:
    """A :class:`KafkaRecord` from a consumed message."""
    raw = tuple((name, _text(value)) for name, value in _pairs(consumed))
    reserved: dict[str, str] = {}
    own: dict[str, str] = {}
    for name, text in raw:
        (reserved if name in RESERVED else own)[name] = text
    kafka_topic, partition, offset = consumed.topic() or "", consumed.partition(), consumed.offset()
    key = consumed.key()
    return KafkaRecord(
        id=reserved.get(ID, f"{kafka_topic}/{partition}/{offset}"),
        key=key.decode(errors="replace") if isinstance(key, bytes) else key,
        topic=reserved.get(TOPIC, kafka_topic),
        type=reserved.get(TYPE, ""),
        content_type=reserved.get(CONTENT_TYPE, OCTETS),
        headers=own,
        payload=consumed.value() or b"",
        kafka_topic=kafka_topic,
        partition=partition or 0,
        offset=offset or 0,
        raw_headers=raw,
    )


def _pairs(consumed: Consumed) -> list[tuple[str, str | bytes | None]]:
    headers = consumed.headers() or []
    return list(headers.items()) if isinstance(headers, dict) else list(headers)


def _text(value: str | bytes | None) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value or ""
