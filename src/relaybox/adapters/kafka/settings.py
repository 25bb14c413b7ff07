"""A ``kafka://`` URL read into librdkafka settings, checked before anything connects.

``kafka://HOST:PORT[,HOST:PORT...]?option=value&...``. Options: ``topic``
(one Kafka topic for every event, instead of the topic map), ``acks``
(``all`` by default; anything else turns idempotence off), ``compression``,
``linger_ms``, ``client_id``, ``transactional_id`` (publish each batch in one
transaction), ``group``, ``topics`` (comma-separated), ``dead_letter`` (a topic
for records a consumer fails for good), ``offset_reset`` (``earliest`` by
default), ``security_protocol``, ``sasl_mechanism``, ``username``,
``password``, ``ssl_ca``. Any option may be given as ``NAME_env=VARIABLE`` to
read it from the environment, which is how a SASL password stays out of the URL.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from relaybox.core.errors import ConfigurationError

ENV_SUFFIX = "_env"
_LIBRDKAFKA = {
    "acks": "acks",
    "compression": "compression.type",
    "linger_ms": "linger.ms",
    "client_id": "client.id",
    "security_protocol": "security.protocol",
    "sasl_mechanism": "sasl.mechanism",
    "username": "sasl.username",
    "password": "sasl.password",
    "ssl_ca": "ssl.ca.location",
}
_OWN = frozenset({"topic", "transactional_id", "group", "topics", "dead_letter", "offset_reset"})


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """What a ``kafka://`` URL says: the client settings and relaybox's own options."""

    client: Mapping[str, str]
    topic: str | None = None
    transactional_id: str | None = None
    group: str | None = None
    topics: tuple[str, ...] = ()
    dead_letter: str | None = None
    offset_reset: str = "earliest"
    redacted: str = field(default="kafka://", compare=False)

    @property
    def idempotent(self) -> bool:
        return self.client.get("acks", "all") in ("all", "-1")

    def producer(self, timeout: float) -> dict[str, object]:
        """librdkafka producer settings for publish calls bounded by ``timeout`` seconds."""
        config: dict[str, object] = {
            **self.client,
            "enable.idempotence": self.idempotent,
            "message.timeout.ms": max(1, int(timeout * 1000)),
            # An unknown topic fails its messages well within the timeout, not after 30 s.
            "topic.metadata.propagation.max.ms": max(1, int(timeout * 500)),
            # Reconnect within a second of a broker's return, not after up to 10 s of backoff.
            "reconnect.backoff.max.ms": 1000,
        }
        if self.transactional_id is not None:
            config["transactional.id"] = self.transactional_id
            # librdkafka refuses a message timeout longer than the transaction's.
            config["transaction.timeout.ms"] = max(60_000, int(timeout * 1000))
        return config

    @classmethod
    def parse(cls, url: str, environ: Mapping[str, str] | None = None) -> KafkaSettings:
        """Read ``url``; :class:`ConfigurationError` names any bad or unknown option."""
        parts = urlsplit(url)
        hosts = parts.netloc.rpartition("@")[2]
        if parts.scheme.lower() != "kafka" or not hosts:
            raise ConfigurationError(f"{url.partition('?')[0]!r} is not kafka://HOST:PORT[,...]")
        redacted = f"kafka://{hosts}"
        params = _params(redacted, parts.query, os.environ if environ is None else environ)
        if parts.username:
            params.setdefault("username", unquote(parts.username))
        client = {"bootstrap.servers": hosts, "acks": "all"}
        client.update({_LIBRDKAFKA[k]: v for k, v in params.items() if k in _LIBRDKAFKA})
        topics = tuple(t for t in params.get("topics", "").split(",") if t)
        return cls(
            client=client,
            topic=params.get("topic") or None,
            transactional_id=params.get("transactional_id") or None,
            group=params.get("group") or None,
            topics=topics,
            dead_letter=params.get("dead_letter") or None,
            offset_reset=params.get("offset_reset", "earliest"),
            redacted=redacted,
        )


def _params(where: str, query: str, environ: Mapping[str, str]) -> dict[str, str]:
    known = set(_LIBRDKAFKA) | _OWN
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        plain = name.removesuffix(ENV_SUFFIX)
        if plain not in known:
            raise ConfigurationError(
                f"{where}: unknown option {name!r} (known: {', '.join(sorted(known))}; "
                f"NAME{ENV_SUFFIX}=VARIABLE reads NAME from the environment)"
            )
        if name.endswith(ENV_SUFFIX) and value not in environ:
            raise ConfigurationError(f"{where}: {name} names {value!r}, which is unset")
        params[plain] = environ[value] if name.endswith(ENV_SUFFIX) else value
    return params
