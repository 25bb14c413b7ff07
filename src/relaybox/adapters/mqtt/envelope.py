"""An outbox message as an MQTT 5 PUBLISH, and back.

The payload bytes go untouched; ``content_type`` travels as the MQTT 5
Content Type property. The event id, key, topic, type, sequence and the
event's own headers (``traceparent``...) travel as MQTT 5 user properties:
``relaybox-id``, ``relaybox-key``, ``relaybox-topic``, ``relaybox-type``,
``relaybox-seq``, then each header under its own name.
"""

from __future__ import annotations

from datetime import UTC, datetime

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from relaybox.core.events import OCTETS, Message

ID, KEY, TOPIC, TYPE, SEQ = (
    "relaybox-id",
    "relaybox-key",
    "relaybox-topic",
    "relaybox-type",
    "relaybox-seq",
)
_OURS = frozenset({ID, KEY, TOPIC, TYPE, SEQ})


def properties(message: Message) -> Properties:
    """The PUBLISH properties that carry ``message``'s metadata, already encoded."""
    pairs = [(ID, message.id), (TOPIC, message.topic)]
    if message.key is not None:
        pairs += [(KEY, message.key), (SEQ, str(message.seq))]
    if message.type:
        pairs.append((TYPE, message.type))
    pairs += message.headers.items()
    body = _CONTENT_TYPE + _utf8(message.content_type)
    body += b"".join(_USER_PROPERTY + _utf8(name) + _utf8(value) for name, value in pairs)
    return _Encoded(_varint(len(body)) + body)


_CONTENT_TYPE, _USER_PROPERTY = b"\x03", b"\x26"  # MQTT 5 property identifiers


class _Encoded(Properties):
    """PUBLISH properties encoded by hand: paho's generic encoder cost more than the
    rest of a publish (a third of the publisher's time), and paho only calls ``pack()``."""

    def __init__(self, packed: bytes) -> None:  # no super().__init__: nothing to set up
        object.__setattr__(self, "packed", packed)
        object.__setattr__(self, "packetType", PacketTypes.PUBLISH)

    def pack(self) -> bytes:
        packed: bytes = object.__getattribute__(self, "packed")
        return packed


def _utf8(text: str) -> bytes:
    data = text.encode()
    if len(data) > 0xFFFF:
        raise ValueError(f"an MQTT string holds at most 65535 bytes, not {len(data)}")
    return len(data).to_bytes(2, "big") + data


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        value, byte = divmod(value, 128)
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def incoming(delivery: aiomqtt.Message) -> Message:
    """The outbox message an MQTT delivery carries (for consumers and tests)."""
    props = delivery.properties
    pairs: list[tuple[str, str]] = list(getattr(props, "UserProperty", None) or [])
    ours = {name: value for name, value in pairs if name in _OURS}
    seq = ours.get(SEQ)
    payload = delivery.payload
    return Message(
        row_id=delivery.mid,
        id=ours.get(ID, ""),
        topic=ours.get(TOPIC, delivery.topic.value),
        key=ours.get(KEY),
        seq=int(seq) if seq and seq.isdigit() else None,
        type=ours.get(TYPE, ""),
        aggregate_type="",
        content_type=getattr(props, "ContentType", None) or OCTETS,
        payload=payload if isinstance(payload, bytes) else str(payload).encode(),
        headers={name: value for name, value in pairs if name not in _OURS},
        created_at=datetime.now(UTC),
    )
