"""The Kafka publisher a ``kafka://`` destination URL names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from relaybox.adapters.kafka.publisher import KafkaPublisher
from relaybox.adapters.kafka.settings import KafkaSettings
from relaybox.outbox.routing import TopicMap


class Options(Protocol):
    """What the factory reads of the publisher options every URL-built publisher gets."""

    @property
    def topics(self) -> TopicMap: ...

    @property
    def timeout(self) -> float: ...


def from_url(url: str, options: Options) -> KafkaPublisher:
    """A :class:`KafkaPublisher` for ``kafka://...`` (options as :mod:`.settings` lists)."""
    environ: Mapping[str, str] | None = getattr(options, "environ", None)
    settings = KafkaSettings.parse(url, environ)
    topics = TopicMap(settings.topic) if settings.topic else options.topics
    return KafkaPublisher(settings, topics=topics, timeout=options.timeout)
