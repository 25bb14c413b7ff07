"""Kafka: a publisher for the relay and a consumer-group source, on confluent-kafka.

``kafka://host:9092?acks=all`` names a :class:`KafkaPublisher` (see :func:`from_url`);
:class:`KafkaSource` reads a consumer group for the streaming coordinator.
"""

from __future__ import annotations

try:
    import confluent_kafka  # noqa: F401  (fail here, with the fix, when the extra is missing)
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the Kafka adapter needs confluent-kafka: pip install 'relaybox[kafka]'"
    ) from exc

from relaybox.adapters.kafka.destination import from_url
from relaybox.adapters.kafka.publisher import KafkaPublisher
from relaybox.adapters.kafka.record import KafkaRecord
from relaybox.adapters.kafka.settings import KafkaSettings
from relaybox.adapters.kafka.source import KafkaSource, source_from_url

__all__ = [
    "KafkaPublisher",
    "KafkaRecord",
    "KafkaSettings",
    "KafkaSource",
    "from_url",
    "source_from_url",
]
