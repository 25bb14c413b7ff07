"""The Kafka publisher a ``kafka://`` destination URL names."""

from __future__ import annotations

from relaybox.adapters.kafka.publisher import KafkaPublisher
from relaybox.adapters.kafka.settings import KafkaSettings
from relaybox.outbox.destinations import PublisherOptions
from relaybox.outbox.routing import TopicMap


def from_url(url: str, options: PublisherOptions) -> KafkaPublisher:
    """A :class:`KafkaPublisher` for ``kafka://...`` (options as :mod:`.settings` lists)."""
    settings = KafkaSettings.parse(url, options.environ)
    topics = TopicMap(settings.topic) if settings.topic else options.topics
    return KafkaPublisher(settings, topics=topics, timeout=options.timeout)
