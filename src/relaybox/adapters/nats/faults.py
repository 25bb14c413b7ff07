"""NATS failures in relaybox's terms, decided at the adapter edge."""

from __future__ import annotations

import nats.errors as nx
import nats.js.errors as jx

from relaybox.core.errors import DestinationUnavailableError, PermanentError, TemporaryError

UNREACHABLE = (
    nx.ConnectionClosedError,
    nx.ConnectionReconnectingError,
    nx.ConnectionDrainingError,
    nx.StaleConnectionError,
    nx.OutboundBufferLimitError,
    nx.NoServersError,
    nx.TimeoutError,
    jx.TooManyStalledMsgsError,
    OSError,
    TimeoutError,
)
"""What says the server is down, restarting or unreachable, not that a message is bad."""


def unavailable(where: str, exc: BaseException) -> DestinationUnavailableError:
    return DestinationUnavailableError(
        f"NATS at {where} is unavailable: {str(exc) or type(exc).__name__}"
    )


def rejected(exc: BaseException) -> BaseException:
    """The error a failed publish of one message stands for.

    No stream answering for a subject is an outage (JetStream restarting, or a
    stream not yet created), never the event's fault. A request JetStream
    refuses (too large for the stream, a bad subject) will be refused again.
    """
    if isinstance(
        exc, jx.NoStreamResponseError | nx.NoRespondersError | jx.ServiceUnavailableError
    ):
        return DestinationUnavailableError(f"no JetStream stream answered: {exc}")
    if isinstance(exc, nx.MaxPayloadError | nx.BadSubjectError | jx.BadRequestError):
        return PermanentError(f"NATS rejected the message: {exc}")
    if isinstance(exc, jx.APIError) and exc.code is not None and 400 <= exc.code < 500:
        return PermanentError(f"JetStream rejected the message: {exc}")
    if isinstance(exc, UNREACHABLE):
        return DestinationUnavailableError(
            f"NATS connection failed: {str(exc) or type(exc).__name__}"
        )
    return TemporaryError(f"JetStream failed the message: {exc}")
