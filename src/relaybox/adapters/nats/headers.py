"""How an outbox message's metadata travels in NATS headers."""

from __future__ import annotations

from relaybox.core.events import Message

MSG_ID = "Nats-Msg-Id"
"""JetStream drops a second message with the same id inside the stream's duplicate window."""

EVENT_ID = "Relaybox-Id"
EVENT_TYPE = "Relaybox-Type"
EVENT_KEY = "Relaybox-Key"
EVENT_TOPIC = "Relaybox-Topic"
CONTENT_TYPE = "Content-Type"


def message_headers(message: Message) -> dict[str, str]:
    """The event's own headers (``traceparent`` included), then relaybox's, then the dedup id."""
    headers = dict(message.headers)
    headers[EVENT_ID] = message.id
    headers[EVENT_TOPIC] = message.topic
    headers[CONTENT_TYPE] = message.content_type
    if message.type:
        headers[EVENT_TYPE] = message.type
    if message.key is not None:
        headers[EVENT_KEY] = message.key
    headers[MSG_ID] = message.id
    return headers
