"""Publishing a batch with many acknowledgements in flight, keeping per-key order.

Brokers that keep the order of one connection (an AMQP channel, an MQTT
session) need no round trip per message: every message is written in batch
order, and the acknowledgements are awaited together. :func:`publish_pipelined`
does that for any adapter's ``send``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from relaybox.core.errors import ConfigurationError, DestinationUnavailableError, KeyBlockedError
from relaybox.core.events import Message
from relaybox.core.outcome import Failure, Outcome

Send = Callable[[Message], Awaitable[None]]
"""Writes one message and returns once the destination acknowledged it; raises if it did not."""


async def publish_pipelined(
    messages: Sequence[Message], send: Send, *, window: int, within: float
) -> Outcome[Message]:
    """Send ``messages`` in batch order, up to ``window`` unacknowledged, all within ``within`` s.

    ``send`` must put its message on the wire before its first real suspension
    (the drivers used here write synchronously or under a FIFO lock), so tasks
    started in batch order write in batch order and each key's messages reach
    the destination in sequence.

    Outcome: a message is delivered when its ``send`` returned; it fails with
    what ``send`` raised; one still unacknowledged (or not yet started) when
    ``within`` seconds have passed fails with :class:`DestinationUnavailableError`. Once a
    key's message fails, that key's messages not yet started are not sent, and
    all its later messages are released with :class:`KeyBlockedError`: those
    already written while the failure was unknown reach the destination again,
    after the failed one, when the relay retries the key (consumers drop the
    copy by message id), so the last copy of each key is always in order.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigurationError(f"window must be a positive int, got {window!r}")
    errors: dict[int, BaseException] = {}
    try:
        async with asyncio.timeout(within):
            await _send_all(messages, send, window, errors)
    except TimeoutError:
        pass  # whatever has no answer yet is reported below
    return _outcome(messages, errors, within)


async def _send_all(
    messages: Sequence[Message], send: Send, window: int, errors: dict[int, BaseException]
) -> None:
    slots = asyncio.Semaphore(window)
    failed_keys: set[str] = set()
    acked: set[int] = set()

    async def one(index: int, message: Message) -> None:
        try:
            # Tasks are created before earlier ones run: a key may have failed meanwhile.
            if message.key in failed_keys:
                return
            await send(message)
        except Exception as exc:
            errors[index] = exc
            if message.key is not None:
                failed_keys.add(message.key)
        else:
            acked.add(index)
        finally:
            slots.release()

    tasks: list[asyncio.Task[None]] = []
    try:
        for index, message in enumerate(messages):
            if message.key in failed_keys:
                continue
            await slots.acquire()
            tasks.append(asyncio.create_task(one(index, message)))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for index in range(len(messages)):
            if index not in acked and index not in errors:
                errors[index] = _NOT_DONE


_NOT_DONE = DestinationUnavailableError("no acknowledgement in time")


def _outcome(
    messages: Sequence[Message], errors: dict[int, BaseException], within: float
) -> Outcome[Message]:
    delivered: list[Message] = []
    failed: list[Failure[Message]] = []
    blocked: set[str] = set()
    for index, message in enumerate(messages):
        error = errors.get(index)
        if message.key is not None and message.key in blocked:
            reason = KeyBlockedError(f"an earlier message with key {message.key!r} failed")
            failed.append(Failure(message, reason, 0))
            continue
        if error is None:
            delivered.append(message)
            continue
        if error is _NOT_DONE:
            error = DestinationUnavailableError(f"no acknowledgement within {within:g} s")
        failed.append(Failure(message, error))
        if message.key is not None:
            blocked.add(message.key)
    return Outcome(tuple(delivered), tuple(failed))
