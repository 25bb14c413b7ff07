"""Waiting for JetStream's acknowledgements of a batch, up to the call's deadline."""

from __future__ import annotations

import asyncio
import contextlib

from nats.js.api import PubAck

from relaybox.adapters.nats.faults import rejected
from relaybox.core.errors import DestinationUnavailableError, KeyBlockedError
from relaybox.core.events import Message
from relaybox.core.outcome import Failure

Acks = list[tuple[Message, "asyncio.Future[PubAck]"]]
"""Each message sent, with the future of its acknowledgement."""


def is_outage(error: BaseException) -> bool:
    """The failure says the server is away (or waits behind such a failure), not the event."""
    return isinstance(error, DestinationUnavailableError | KeyBlockedError)


async def settle(acks: Acks, deadline: float) -> tuple[list[Message], list[Failure[Message]]]:
    """Wait for the acks until ``deadline``; what is still unanswered then is an outage."""
    try:
        async with asyncio.timeout_at(deadline):
            for _, future in acks:
                if not future.done():
                    # One at a time is cheaper than asyncio.wait on a thousand futures.
                    with contextlib.suppress(Exception):  # read per message below
                        await future
    except TimeoutError:
        pass  # what is unanswered now fails below
    delivered: list[Message] = []
    failed: list[Failure[Message]] = []
    for message, future in acks:
        if not future.done() or future.cancelled():  # the deadline cancels the one it waited on
            future.cancel()
            failed.append(Failure(message, DestinationUnavailableError("no JetStream ack in time")))
        elif (error := future.exception()) is not None:
            failed.append(Failure(message, rejected(error)))
        else:
            delivered.append(message)
    return delivered, failed
