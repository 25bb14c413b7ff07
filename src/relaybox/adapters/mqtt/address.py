"""An MQTT destination URL: the broker, the QoS and how many publishes may await their ack.

``mqtt[s]://[user[:password]@]host:1883?qos=1&window=1000&password_env=VAR&client_id=ID``

* ``qos`` - 1 (at least once, the default) or 2 (exactly once between the
  relay and the broker; slower). QoS 0 is refused: it has no acknowledgement.
* ``window`` - publishes awaiting their PUBACK at once (1000).
* ``password_env`` - the environment variable holding the password.
* ``client_id`` - the MQTT client identifier (random by default).

Each topic's destination (see :class:`~relaybox.outbox.routing.TopicMap`) is
the MQTT topic name. The connection speaks MQTT 5, for its user properties.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from relaybox.core.errors import ConfigurationError

_OPTIONS = frozenset({"qos", "window", "password_env", "client_id"})


@dataclass(frozen=True, slots=True)
class MqttAddress:
    """The parsed URL; the password is never shown."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    qos: int = 1
    window: int = 1000
    client_id: str | None = None

    @classmethod
    def parse(cls, url: str, environ: Mapping[str, str] | None = None) -> MqttAddress:
        parts = urlsplit(url)
        tls = parts.scheme.lower() == "mqtts"
        host, port = parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883)
        where = f"{parts.scheme}://{host}:{port}"
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        if unknown := sorted(set(options) - _OPTIONS):
            raise ConfigurationError(f"{where}: unknown option(s) {', '.join(unknown)}")
        password = unquote(parts.password) if parts.password else None
        if (variable := options.get("password_env")) is not None:
            password = (os.environ if environ is None else environ).get(variable)
            if password is None:
                raise ConfigurationError(f"{where}: password_env names unset {variable!r}")
        qos = options.get("qos", "1")
        if qos not in ("1", "2"):
            raise ConfigurationError(f"{where}: qos must be 1 or 2, got {qos!r}")
        window = options.get("window", "1000")
        if not window.isdigit() or int(window) < 1:
            raise ConfigurationError(f"{where}: window must be a whole number >= 1")
        username = unquote(parts.username) if parts.username else None
        return cls(
            host, port, tls, username, password, int(qos), int(window), options.get("client_id")
        )

    @property
    def where(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"
