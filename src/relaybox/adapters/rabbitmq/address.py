"""A RabbitMQ destination URL: the broker to connect to and where each topic goes.

``amqp[s]://user[:password]@host:port/vhost?exchange=NAME&window=1000&password_env=VAR``

* ``exchange`` - every event is published to this exchange with the topic's
  destination (see :class:`~relaybox.outbox.routing.TopicMap`) as routing key.
  Without it, a destination ``"EXCHANGE/ROUTING_KEY"`` names both, and one
  without ``/`` goes through the default exchange straight to the queue of
  that name (so by default a topic lands in the queue named after it).
* ``window`` - publisher confirms awaited at once (1000).
* ``password_env`` - the environment variable holding the password, so it
  stays out of the URL, the process list and every error message.
* ``transient=1`` - publish non-persistent messages (persistent by default).

Other query parameters (``heartbeat``, ``name``...) go to aio-pika unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from relaybox.core.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class RabbitAddress:
    """The parsed URL; ``url`` (for aio-pika) may hold the password and is never shown."""

    url: str = field(repr=False)
    where: str
    exchange: str | None = None
    window: int = 1000
    persistent: bool = True

    @classmethod
    def parse(cls, url: str, environ: Mapping[str, str] | None = None) -> RabbitAddress:
        parts = urlsplit(url)
        where = f"{parts.scheme}://{parts.hostname or '127.0.0.1'}:{parts.port or 5672}"
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        netloc = parts.netloc
        if (variable := options.pop("password_env", None)) is not None:
            password = (os.environ if environ is None else environ).get(variable)
            if password is None:
                raise ConfigurationError(f"{where}: password_env names unset {variable!r}")
            user = quote(parts.username or "guest", safe="")
            netloc = f"{user}:{quote(password, safe='')}@{parts.netloc.rpartition('@')[2]}"
        exchange = options.pop("exchange", None)
        window = _window(where, options.pop("window", "1000"))
        persistent = options.pop("transient", "0").lower() in ("0", "false", "no", "")
        plain = urlunsplit((parts.scheme, netloc, parts.path, urlencode(options), ""))
        return cls(plain, where, exchange, window, persistent)

    def route(self, destination: str) -> tuple[str, str]:
        """``(exchange, routing_key)`` for a topic's destination name."""
        if self.exchange is not None:
            return self.exchange, destination
        exchange, slash, key = destination.partition("/")
        return (exchange, key) if slash else ("", destination)


def _window(where: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{where}: window must be a whole number >= 1, got {raw!r}")
    return int(raw)
