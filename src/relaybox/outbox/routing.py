"""Where each event goes at a destination: its topic through a template and overrides.

A broker adapter names its destination per event (a Kafka topic, an exchange
and routing key, a JetStream subject, a stream, an MQTT topic, a URL) from the
event's topic. :class:`TopicMap` says how, and is checked at start-up: a topic
it cannot map is a :class:`ConfigurationError` before anything is claimed,
never a dead letter at run time.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from relaybox.core.errors import ConfigurationError

_FIELDS = frozenset({"topic"})


@dataclass(frozen=True, slots=True)
class TopicMap:
    """Map an event's topic to a destination name.

    * ``overrides`` - exact topics to their destination, checked first.
    * ``template`` - for every other topic, a ``str.format`` template over
      ``{topic}`` (``"{topic}"`` by default, ``"orders.{topic}"``, ...). ``None``
      maps only the overridden topics; :meth:`check` then refuses any other.
    """

    template: str | None = "{topic}"
    overrides: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        for topic, target in self.overrides.items():
            if not topic or not target:
                raise ConfigurationError(f"topic override {topic!r} -> {target!r} is empty")
        if self.template is not None:
            parsed = string.Formatter().parse(self.template)
            names = {name for _, name, _, _ in parsed if name is not None}
            unknown = names - _FIELDS
            if unknown or not self.template:
                raise ConfigurationError(
                    f"topic template {self.template!r} may use only {{topic}}, "
                    f"not {', '.join(sorted(unknown)) or 'nothing'}"
                )

    def maps(self, topic: str) -> bool:
        return topic in self.overrides or self.template is not None

    def destination(self, topic: str) -> str:
        """The destination of ``topic``; :class:`ConfigurationError` if it has none."""
        target = self.overrides.get(topic)
        if target is not None:
            return target
        if self.template is None:
            raise ConfigurationError(
                f"topic {topic!r} has no destination: add it to the topic overrides "
                "or give a template"
            )
        return self.template.format(topic=topic)

    def check(self, topics: Iterable[str]) -> None:
        """Refuse at start-up any of ``topics`` that this map cannot place."""
        missing = sorted({t for t in topics if not self.maps(t)})
        if missing:
            raise ConfigurationError(
                f"no destination for topic(s) {', '.join(map(repr, missing))}: add them to "
                "the topic overrides or give a template"
            )
