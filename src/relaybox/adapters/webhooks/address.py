"""A webhook destination URL: where each topic's events are POSTed, and how they are signed.

``https://hooks.example.com/in/{topic}?secret_env=VAR&concurrency=16``

* ``{topic}`` (anywhere in the URL) is replaced by the topic's destination
  from the :class:`~relaybox.outbox.routing.TopicMap` (the topic itself by
  default); a destination that is itself an ``http(s)://`` URL replaces the
  whole URL. A URL without ``{topic}`` receives every topic.
* ``secret_env`` - the environment variable holding the signing secrets
  (``whsec_...``, several space-separated while rotating); by default
  ``RELAYBOX_WEBHOOK_SECRET``. Without a secret the publisher refuses to
  start, unless ``unsigned=1`` says the receiver does not verify.
* ``concurrency`` - requests in flight per destination host (16).
* ``connect_timeout`` - seconds to open a connection (5, at most the call's timeout).

Any other query parameter stays in the URL the receiver sees.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from relaybox.core.errors import ConfigurationError
from relaybox.core.signatures import secret_key

DEFAULT_SECRET_ENV = "RELAYBOX_WEBHOOK_SECRET"
_OPTIONS = ("secret_env", "unsigned", "concurrency", "connect_timeout")


@dataclass(frozen=True, slots=True)
class WebhookAddress:
    """The parsed URL; the signing keys are never shown."""

    template: str
    keys: tuple[bytes, ...] = field(default=(), repr=False)
    concurrency: int = 16
    connect_timeout: float = 5.0

    @classmethod
    def parse(cls, url: str, environ: Mapping[str, str] | None = None) -> WebhookAddress:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        options = {name: value for name, value in query if name in _OPTIONS}
        kept = urlencode([(name, value) for name, value in query if name not in _OPTIONS])
        template = urlunsplit((parts.scheme, parts.netloc, parts.path, kept, ""))
        template = template.replace("%7Btopic%7D", "{topic}").replace("%7btopic%7d", "{topic}")
        where = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
        return cls(
            template,
            _keys(where, options, os.environ if environ is None else environ),
            _number(where, options, "concurrency", 16, int),
            _number(where, options, "connect_timeout", 5.0, float),
        )

    def url(self, destination: str) -> str:
        """The URL of one topic's destination name."""
        if destination.startswith(("http://", "https://")):
            return destination
        return self.template.replace("{topic}", quote(destination, safe="/:@"))


def _keys(where: str, options: Mapping[str, str], environ: Mapping[str, str]) -> tuple[bytes, ...]:
    if options.get("unsigned", "0").lower() in ("1", "true", "yes"):
        return ()
    variable = options.get("secret_env", DEFAULT_SECRET_ENV)
    secrets = environ.get(variable, "").split()
    if not secrets:
        raise ConfigurationError(
            f"{where}: no signing secret in ${variable} (whsec_...; pass unsigned=1 to send "
            "unsigned webhooks)"
        )
    try:
        return tuple(secret_key(secret) for secret in secrets)
    except ValueError:
        raise ConfigurationError(f"{where}: ${variable} holds a malformed secret") from None


N = TypeVar("N", int, float)


def _number(where: str, options: Mapping[str, str], name: str, default: N, kind: type[N]) -> N:
    raw = options.get(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = kind(0)
    if not value > 0:
        raise ConfigurationError(f"{where}: {name} must be a positive number, got {raw!r}")
    return value
