"""The publisher named by a destination URL.

Files and standard output are built in. Every other scheme maps to a factory
in its adapter's subpackage, imported only when a URL of that scheme is
opened (so a Kafka user never needs the RabbitMQ extra): see :data:`SCHEMES`.
A scheme not listed there is looked up among the installed distributions'
entry points of the group ``relaybox.publishers`` (name = the scheme, value =
``module:factory``, a :data:`PublisherFactory`), so a third-party package can
add one; ``relaybox relay --publisher module:factory`` names a factory directly.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import replace
from importlib.metadata import entry_points
from urllib.parse import unquote

from relaybox.core.errors import ConfigurationError
from relaybox.outbox.destinations import PublisherFactory, PublisherOptions, safe_url
from relaybox.outbox.publishers import JsonLinesPublisher
from relaybox.ports.publisher import Publisher
from relaybox.service.redaction import redact

__all__ = [
    "SCHEMES",
    "PublisherFactory",
    "PublisherOptions",
    "publisher_for",
    "publisher_target",
    "safe_url",
]

SUPPORTED = "file:///ABSOLUTE/PATH.jsonl, file:RELATIVE.jsonl, jsonl:PATH, stdout: or -"
STDOUT = "-"


SCHEMES: dict[str, str] = {
    "redis": "relaybox.adapters.redis:redis_publisher",
    "rediss": "relaybox.adapters.redis:redis_publisher",
    "nats": "relaybox.adapters.nats:nats_publisher",
    "amqp": "relaybox.adapters.rabbitmq:from_url",
    "amqps": "relaybox.adapters.rabbitmq:from_url",
    "mqtt": "relaybox.adapters.mqtt:from_url",
    "mqtts": "relaybox.adapters.mqtt:from_url",
    "http": "relaybox.adapters.webhooks:from_url",
    "https": "relaybox.adapters.webhooks:from_url",
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
    raise ConfigurationError(f"unsupported destination {redact(url)!r}: use {_supported()}")


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
    scheme = _scheme(url)
    if scheme not in SCHEMES and _entry_point(scheme) is None:
        publisher_target(url)


def _scheme(url: str) -> str:
    scheme, colon, _ = url.strip().partition(":")
    return scheme.lower() if colon else ""


def _entry_point(scheme: str) -> str | None:
    """The ``module:factory`` an installed distribution registers for ``scheme``, if any."""
    if not scheme or scheme in ("file", "jsonl", "stdout"):
        return None
    found = entry_points(group="relaybox.publishers", name=scheme)
    return next((point.value for point in found), None)


def factory_for(scheme: str) -> PublisherFactory:
    """The factory registered for ``scheme`` (built in, then entry points), imported now."""
    target = SCHEMES.get(scheme) or _entry_point(scheme)
    if target is None:
        raise ConfigurationError(f"no publisher for scheme {scheme!r}: use {_supported()}")
    return load_factory(target)


def load_factory(target: str) -> PublisherFactory:
    """The :data:`PublisherFactory` named ``module:function``, imported now.

    A :class:`ConfigurationError` says what is wrong: a malformed name, a module
    that does not import (a missing extra names its ``pip install``), or a
    name that is not a function.
    """
    module_name, colon, name = target.partition(":")
    if not colon or not module_name or not name.isidentifier():
        raise ConfigurationError(f"publisher factory {target!r} must look like module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"publisher factory {target!r} cannot be imported: {exc}") from exc
    factory = getattr(module, name, None)
    if not callable(factory):
        raise ConfigurationError(f"publisher factory {target!r}: {name!r} is not a function")
    loaded: PublisherFactory = factory
    return loaded


def publisher_for(
    url: str, options: PublisherOptions | None = None, *, factory: str | None = None
) -> Publisher:
    """A new publisher for ``url``; the caller closes it.

    ``factory`` (``module:function``) overrides the scheme's own. ``*_env`` URL
    options are read from the process environment unless ``options.environ`` is given.
    """
    options = options or PublisherOptions()
    if options.environ is None:
        options = replace(options, environ=os.environ)
    scheme = _scheme(url)
    if factory is None and scheme not in SCHEMES and _entry_point(scheme) is None:
        return JsonLinesPublisher(publisher_target(url))
    build = load_factory(factory) if factory is not None else factory_for(scheme)
    publisher = build(url, options)
    if not (
        callable(getattr(publisher, "publish", None))
        and callable(getattr(publisher, "close", None))
    ):
        raise ConfigurationError(
            f"publisher factory for {scheme!r} returned {type(publisher).__name__}, "
            "which has no publish() and close()"
        )
    return publisher
