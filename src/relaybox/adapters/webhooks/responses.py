"""What a webhook receiver's answer, or its silence, means for the event.

* 2xx - delivered.
* 408, 429 and 5xx - :class:`TemporaryError`, with ``retry_after`` from the
  ``Retry-After`` header (seconds, or an HTTP date) when the receiver sent one.
* any other status (4xx, and 3xx since redirects are not followed) -
  :class:`PermanentError`: the receiver refuses this event.
* a connection refused or cut, or a connect or read timeout -
  :class:`DestinationUnavailableError`: the receiver is down, not the event.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import parsedate_to_datetime

import aiohttp

from relaybox.core.errors import DestinationUnavailableError, PermanentError, TemporaryError

_RETRIED = frozenset({408, 429})


def verdict(status: int, retry_after: str | None, where: str) -> Exception | None:
    """The error an answer with ``status`` fails its event with; ``None`` when delivered."""
    if 200 <= status < 300:
        return None
    if status in _RETRIED or status >= 500:
        return TemporaryError(f"{where} answered {status}", retry_after=seconds(retry_after))
    return PermanentError(f"{where} refused the event with {status}")


def seconds(retry_after: str | None, *, now: float | None = None) -> float | None:
    """A ``Retry-After`` value as seconds from now (never negative); ``None`` if absent or bad."""
    if not retry_after:
        return None
    text = retry_after.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def mapped(exc: Exception, where: str) -> Exception:
    """The relaybox error for what the HTTP client raised while delivering one event."""
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return DestinationUnavailableError(f"{where} did not answer in time")
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | OSError):
        return DestinationUnavailableError(f"{where} is unreachable: {type(exc).__name__}")
    if isinstance(exc, aiohttp.ClientError | ValueError):
        return PermanentError(f"{where} cannot take this event: {exc}")
    return exc
