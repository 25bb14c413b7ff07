"""An outbox message as an AMQP message, and back; driver errors as relaybox errors.

AMQP properties carry what they can natively: ``message_id`` (the event id),
``type``, ``content_type``, ``timestamp`` (``created_at``) and the delivery
mode. The key, topic, sequence and aggregate type travel as ``relaybox-*``
headers, next to the event's own headers (``traceparent`` among them). The
body is the payload bytes, untouched.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode, HeadersType

from relaybox.core.errors import DestinationUnavailableError, PermanentError, TemporaryError
from relaybox.core.events import Message

KEY, TOPIC, SEQ, AGGREGATE = "relaybox-key", "relaybox-topic", "relaybox-seq", "relaybox-aggregate"
_OURS = frozenset({KEY, TOPIC, SEQ, AGGREGATE})


def outgoing(message: Message, *, persistent: bool) -> aio_pika.Message:
    headers: HeadersType = dict(message.headers)
    headers[TOPIC] = message.topic
    if message.key is not None:
        headers[KEY] = message.key
        headers[SEQ] = message.seq
    if message.aggregate_type:
        headers[AGGREGATE] = message.aggregate_type
    return aio_pika.Message(
        message.payload,
        headers=headers,
        content_type=message.content_type,
        delivery_mode=DeliveryMode.PERSISTENT if persistent else DeliveryMode.NOT_PERSISTENT,
        message_id=message.id,
        timestamp=message.created_at,
        type=message.type or None,
    )


def incoming(delivery: AbstractIncomingMessage) -> Message:
    """The outbox message a delivery carries (``row_id`` is its delivery tag)."""
    headers = delivery.headers or {}
    key = headers.get(KEY)
    seq = headers.get(SEQ)
    aggregate = headers.get(AGGREGATE)
    return Message(
        row_id=delivery.delivery_tag or 0,
        id=delivery.message_id or "",
        topic=str(headers.get(TOPIC) or delivery.routing_key or ""),
        key=str(key) if key is not None else None,
        seq=seq if isinstance(seq, int) else None,
        type=delivery.type or "",
        aggregate_type=str(aggregate) if aggregate else "",
        content_type=delivery.content_type or "application/octet-stream",
        payload=delivery.body,
        headers={k: _text(v) for k, v in headers.items() if k not in _OURS},
        created_at=delivery.timestamp or datetime.now(UTC),
    )


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def mapped(exc: Exception, where: str) -> Exception:
    """The relaybox error for a driver error raised while publishing one message."""
    if isinstance(exc, aiormq.exceptions.PublishError):
        return PermanentError(f"unroutable: no queue bound for routing key at {where} ({exc})")
    if isinstance(exc, aiormq.exceptions.DeliveryError):
        return TemporaryError(f"{where} refused the message (nack): {exc}")
    if isinstance(exc, aiormq.exceptions.AMQPError | ConnectionError | RuntimeError):
        return DestinationUnavailableError(f"{where} connection lost: {exc!r}")
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return DestinationUnavailableError(f"{where} did not answer in time")
    return exc
