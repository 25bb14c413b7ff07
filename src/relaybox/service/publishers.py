"""The publisher named by a destination URL.

Supported today: JSON-lines files and standard output. Brokers and webhooks
join here, each behind its own scheme, as their adapters arrive.
"""

from __future__ import annotations

from urllib.parse import unquote

from relaybox.core.errors import ConfigurationError
from relaybox.outbox.publishers import JsonLinesPublisher
from relaybox.ports.publisher import Publisher

SUPPORTED = "file:///ABSOLUTE/PATH.jsonl, file:RELATIVE.jsonl, jsonl:PATH, stdout: or -"
STDOUT = "-"


def publisher_target(url: str) -> str:
    """Where ``url`` sends events: a file path, or ``"-"`` for standard output.

    Raises :class:`ConfigurationError` listing the supported forms for any other URL.
    """
    if url.strip() in (STDOUT, "stdout:", "stdout://"):
        return STDOUT
    scheme, colon, rest = url.partition(":")
    if colon and scheme.lower() in ("file", "jsonl"):
        return _path(url, rest)
    raise ConfigurationError(f"unsupported destination {url!r}: use {SUPPORTED}")


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


def publisher_for(url: str) -> Publisher:
    """A new publisher for ``url``; the caller closes it."""
    return JsonLinesPublisher(publisher_target(url))
