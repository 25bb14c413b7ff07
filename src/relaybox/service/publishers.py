"""The publisher named by a destination URL.

Files and standard output are built in. Every other scheme maps to a factory
in its adapter's subpackage, imported only when a URL of that scheme is
opened (so a Kafka user never needs the RabbitMQ extra): see :data:`SCHEMES`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

from relaybox.core.errors import ConfigurationError
from relaybox.outbox.publishers import JsonLinesPublisher
from relaybox.outbox.routing import TopicMap
from relaybox.ports.publisher import Publisher

SUPPORTED = "file:///ABSOLUTE/PATH.jsonl, file:RELATIVE.jsonl, jsonl:PATH, stdout: or -"
STDOUT = "-"


@dataclass(frozen=True, slots=True)
class PublisherOptions:
    """What every URL-built publisher is given besides its URL.

    * ``topics`` - how an event's topic maps to the destination's own names.
    * ``timeout`` - the bound on one publish call, shorter than the relay's
      lease, so a dropped connection never hangs a batch.
    """

    topics: TopicMap = field(default_factory=TopicMap)
    timeout: float = 10.0


PublisherFactory = Callable[[str, PublisherOptions], Publisher]
"""Builds a publisher from its URL and the options; imports its driver itself."""

SCHEMES: dict[str, str] = {
    "kafka": "relaybox.adapters.kafka:from_url",
}
"""URL scheme -> ``"module:function"`` of its :data:`PublisherFactory`, imported on use."""


def publisher_target(url: str) -> str:
    """Where ``url`` sends events: a file path, or ``"-"`` for standard output.

    Raises :class:`ConfigurationError` listing the supported forms for any other URL.
    """
    if url.strip() in (STDOUT, "stdout:", "stdout://"):
        return STDOUT
    scheme, colon, rest = url.partition(":")
    if colon and scheme.lower() in ("file", "jsonl"):
        return _path(url, rest)
    raise ConfigurationError(f"unsupported destination {url!r}: use {_supported()}")


def _supported() -> str:
    brokers = ", ".join(f"{scheme}://..." for scheme in sorted(SCHEMES))
    return f"{SUPPORTED}, {brokers}" if brokers else SUPPORTED


def _path(url: str, rest: str) -> str:
    if rest.startswith("//"):
        host, _, path = rest[2:].partition("/")
        if host not in ("", "localhost"):
            raise ConfigurationError(f"{url!r} names a host; files are local: use {SUPPORTED}")
        rest = "/" + path.lstrip("/")
    path = unquote(rest)
    if path in ("", "/"):
        raise ConfigurationError(f"{url!r} names no file: use {SUPPORTED}")
    return path


def check_destination(url: str) -> None:
    """Refuse a destination URL of no known scheme, without connecting or importing a driver."""
    if _scheme(url) not in SCHEMES:
        publisher_target(url)


def _scheme(url: str) -> str:
    scheme, colon, _ = url.strip().partition(":")
    return scheme.lower() if colon else ""


def factory_for(scheme: str) -> PublisherFactory:
    """The factory registered for ``scheme``, imported now."""
    module_name, _, name = SCHEMES[scheme].partition(":")
    factory: PublisherFactory = getattr(importlib.import_module(module_name), name)
    return factory


def publisher_for(url: str, options: PublisherOptions | None = None) -> Publisher:
    """A new publisher for ``url``; the caller closes it."""
    scheme = _scheme(url)
    if scheme in SCHEMES:
        return factory_for(scheme)(url, options or PublisherOptions())
    return JsonLinesPublisher(publisher_target(url))
