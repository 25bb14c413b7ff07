"""Redis failures in relaybox's terms, decided at the adapter edge."""

from __future__ import annotations

from redis import exceptions as rx

from relaybox.core.errors import DestinationUnavailableError, PermanentError, TemporaryError

UNREACHABLE = (rx.ConnectionError, rx.TimeoutError, rx.BusyLoadingError, OSError, TimeoutError)
"""What says the server is down, restarting or unreachable, not that a message is bad."""


def unavailable(where: str, exc: BaseException) -> DestinationUnavailableError:
    return DestinationUnavailableError(
        f"Redis at {where} is unavailable: {str(exc) or type(exc).__name__}"
    )


def rejected(exc: BaseException) -> BaseException:
    """The error one command's reply stands for.

    ``WRONGTYPE`` (the stream name holds another kind of value) and other
    syntax-level refusals cannot change on a retry; out-of-memory and a read-only
    replica are the server's state, not the message's.
    """
    text = str(exc)
    if isinstance(exc, rx.ReadOnlyError) or text.startswith(("OOM", "READONLY", "MASTERDOWN")):
        return DestinationUnavailableError(f"Redis refused writes: {text}")
    if isinstance(exc, rx.ResponseError) and text.startswith(("WRONGTYPE", "ERR")):
        return PermanentError(f"Redis rejected the entry: {text}")
    if isinstance(exc, UNREACHABLE):
        return DestinationUnavailableError(f"Redis connection failed: {text}")
    return TemporaryError(f"Redis failed the entry: {text}")
