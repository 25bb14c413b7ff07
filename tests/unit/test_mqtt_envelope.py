"""The MQTT 5 properties the publisher encodes by hand are what paho would encode."""

from __future__ import annotations

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from relaybox.adapters.mqtt.envelope import properties
from relaybox.testing import message


def test_hand_encoded_properties_equal_paho_s_encoding() -> None:
    sent = message(7, key="order-é", type="Placed", headers={"traceparent": "00-ab-cd-01"})
    sent.headers = {"traceparent": "00-ab-cd-01", "long": "x" * 300}
    expected = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    expected.ContentType = sent.content_type
    expected.UserProperty = [
        ("relaybox-id", sent.id),
        ("relaybox-topic", sent.topic),
        ("relaybox-key", "order-é"),
        ("relaybox-seq", "7"),
        ("relaybox-type", "Placed"),
        ("traceparent", "00-ab-cd-01"),
        ("long", "x" * 300),
    ]
    assert properties(sent).pack() == expected.pack()  # type: ignore[no-untyped-call]


def test_a_header_too_long_for_mqtt_is_refused() -> None:
    sent = message(1, headers={"huge": "x" * 70_000})
    with pytest.raises(ValueError, match="65535"):
        properties(sent)
