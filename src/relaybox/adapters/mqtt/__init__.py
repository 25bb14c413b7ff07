"""MQTT 5 through aiomqtt (``pip install "relaybox[mqtt]"``): a QoS 1/2 publisher.

``relaybox relay --to 'mqtt://127.0.0.1:1883?qos=1'`` publishes each event to
the MQTT topic its topic maps to; see :mod:`relaybox.adapters.mqtt.address`
for the URL's options and :mod:`relaybox.adapters.mqtt.envelope` for how the
event's metadata travels.
"""

from __future__ import annotations

try:
    import aiomqtt  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('relaybox.adapters.mqtt needs aiomqtt: pip install "relaybox[mqtt]"') from exc

from relaybox.adapters.mqtt.address import MqttAddress
from relaybox.adapters.mqtt.envelope import incoming
from relaybox.adapters.mqtt.publisher import MqttPublisher, from_url

__all__ = ["MqttAddress", "MqttPublisher", "from_url", "incoming"]
