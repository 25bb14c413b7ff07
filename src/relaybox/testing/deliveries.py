"""What the publisher contract sends and reads back, and how it judges an outage."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from relaybox.core.errors import KeyBlockedError, is_unavailable
from relaybox.core.events import OCTETS, Message
from relaybox.core.outcome import Outcome
from relaybox.testing.messages import message

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@dataclass(frozen=True, slots=True)
class Received:
    """One message as read back from the destination."""

    id: str
    key: str | None
    type: str
    topic: str
    headers: Mapping[str, str]
    payload: bytes


def sample(number: int, key: str | None) -> Message:
    """Binary payload, a type, a custom header and a trace context: all must survive."""
    headers = {"traceparent": TRACEPARENT, "x-tenant": f"tenant-{number % 3}"}
    payload = bytes([number % 256, 0, 255]) + f"payload {number}".encode()
    return message(
        number,
        key=key,
        topic="orders",
        payload=payload,
        type="OrderPlaced",
        headers=headers,
        content_type=OCTETS,
    )


async def expect_unavailable(publishing: Awaitable[Outcome[Message]]) -> None:
    """The call raised an unavailable error, or failed every message with one."""
    outcome, error = await _attempt(publishing)
    if error is not None:
        assert is_unavailable(error), repr(error)
        return
    assert not outcome.delivered
    assert outcome.failed
    assert all(
        is_unavailable(f.error) or isinstance(f.error, KeyBlockedError) for f in outcome.failed
    )


async def eventually_delivered(
    publish: Callable[[Sequence[Message]], Awaitable[Outcome[Message]]],
    received: Callable[[], Awaitable[list[Received]]],
    messages: list[Message],
) -> None:
    """Publish until everything is delivered (the client reconnects on its own), with a deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    pending = messages
    while pending:
        assert loop.time() < deadline, f"{len(pending)} messages never delivered after the restart"
        outcome, error = await _attempt(publish(pending))
        if error is not None:
            assert is_unavailable(error), repr(error)
            await asyncio.sleep(0.2)
            continue
        done = {id(m) for m in outcome.delivered}
        pending = [m for m in pending if id(m) not in done]
        if pending:
            await asyncio.sleep(0.2)
    ids = {r.id for r in await received()}
    assert {m.id for m in messages} <= ids


async def _attempt(
    publishing: Awaitable[Outcome[Message]],
) -> tuple[Outcome[Message], Exception | None]:
    """The outcome of a publish call, or the exception it raised (with an empty outcome)."""
    try:
        return await publishing, None
    except Exception as exc:
        return Outcome(), exc


def skip(reason: str) -> NoReturn:
    import pytest  # noqa: PLC0415 - only the optional tests need pytest at import time

    pytest.skip(reason)
    raise AssertionError("unreachable")  # pytest.skip raises; this keeps type checkers sure
