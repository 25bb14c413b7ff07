"""A dead-letter topic: where a consumer sends records that failed for good."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka import Message as Report

from relaybox.adapters.kafka.record import Headers, KafkaRecord


class DeadLetterTopic:
    """Produces a failed record, bytes and headers unchanged, with its error and origin.

    Added headers: ``error`` (``Type: message``), ``origin`` (``topic/partition/offset``).
    :meth:`send` returns only once the broker acknowledged it, or raises.
    """

    def __init__(self, client: Mapping[str, str], topic: str, *, timeout: float) -> None:
        self.topic = topic
        self.timeout = timeout
        self._producer = Producer({**client, "enable.idempotence": True, "acks": "all"})

    async def send(self, record: KafkaRecord, error: BaseException) -> None:
        await asyncio.to_thread(self._send, record, error)

    def _send(self, record: KafkaRecord, error: BaseException) -> None:
        reports: list[KafkaError | None] = []
        headers: Headers = [(name, value.encode()) for name, value in record.raw_headers]
        headers += [
            ("error", f"{type(error).__name__}: {error}".encode()),
            ("origin", f"{record.kafka_topic}/{record.partition}/{record.offset}".encode()),
        ]
        self._producer.produce(
            self.topic,
            value=record.payload,
            key=record.key.encode() if record.key is not None else None,
            headers=headers,
            on_delivery=lambda err, _msg: _note(reports, err, _msg),
        )
        self._producer.flush(self.timeout)
        if not reports or reports[0] is not None:
            raise KafkaException(reports[0] if reports else KafkaError(KafkaError._MSG_TIMED_OUT))

    async def close(self) -> None:
        await asyncio.to_thread(self._producer.flush, self.timeout)


def _note(reports: list[KafkaError | None], error: KafkaError | None, _: Report) -> None:
    reports.append(error)
