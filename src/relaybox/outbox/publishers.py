"""Publishers that ship with relaybox, and the per-key send loop they share.

Every publisher keeps the contract of :class:`~relaybox.ports.publisher.Publisher`:
one key's messages go out in order, and once one fails the rest of that key
in the call is released with :class:`~relaybox.core.errors.KeyBlockedError`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import TextIO

from relaybox.core.calls import to_async
from relaybox.core.errors import ConfigurationError, KeyBlockedError, ShutdownReleasedError
from relaybox.core.events import Message
from relaybox.core.outcome import Failure, Outcome, merge
from relaybox.core.stopping import stop_requested

Send = Callable[[Message], Awaitable[None]]


async def publish_in_key_order(
    messages: Sequence[Message], send: Send, *, max_concurrent_keys: int = 64
) -> Outcome[Message]:
    """Send each message with ``send``: in order within a key, keys concurrently.

    Messages are grouped by ``key`` in arrival order; a key's messages are sent
    one after another, up to ``max_concurrent_keys`` keys at once, and each
    unkeyed message on its own. An exception from ``send`` fails that message
    with it and releases the key's later messages unsent (``KeyBlockedError``).
    Once a stop is requested, messages not yet started are released with
    :class:`~relaybox.core.errors.ShutdownReleasedError`; sends in flight finish.
    """
    _check_limit(max_concurrent_keys)
    units = _units(messages)
    results: list[Outcome[Message]] = [Outcome()] * len(units)
    pending = iter(enumerate(units))
    if len(units) <= 1:
        await _drain(pending, send, results)
    else:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(max_concurrent_keys, len(units))):
                group.create_task(_drain(pending, send, results))
    return merge(results)


def _units(messages: Sequence[Message]) -> list[list[Message]]:
    """Each key's messages in arrival order, and each unkeyed message alone."""
    keyed: dict[str, list[Message]] = {}
    units: list[list[Message]] = []
    for message in messages:
        if message.key is None:
            units.append([message])
        elif (unit := keyed.get(message.key)) is not None:
            unit.append(message)
        else:
            units.append(keyed.setdefault(message.key, [message]))
    return units


async def _drain(
    pending: Iterator[tuple[int, list[Message]]], send: Send, results: list[Outcome[Message]]
) -> None:
    """Send units from the shared iterator until none is left (one worker)."""
    for index, unit in pending:
        results[index] = await _send_in_order(unit, send)


async def _send_in_order(unit: list[Message], send: Send) -> Outcome[Message]:
    for position, message in enumerate(unit):
        if stop_requested():
            return Outcome(tuple(unit[:position]), Outcome.released(unit[position:]).failed)
        try:
            await send(message)
        except Exception as exc:
            reason = (
                ShutdownReleasedError()
                if stop_requested()
                else KeyBlockedError(f"an earlier message with key {message.key!r} failed")
            )
            rest = Outcome.released(unit[position + 1 :], reason).failed
            return Outcome(tuple(unit[:position]), (Failure(message, exc), *rest))
    return Outcome(tuple(unit))


def screen(
    messages: Sequence[Message], verdict: Callable[[Message], BaseException | None]
) -> tuple[list[Message], list[Failure[Message]]]:
    """Split ``messages`` into those to send and those failed by ``verdict``, keeping key order.

    ``verdict(message)`` returns the error a message fails with, or ``None``;
    after a key's first failure its later messages are released unsent
    (:class:`~relaybox.core.errors.KeyBlockedError`), as the publisher contract asks.
    """
    passed: list[Message] = []
    failed: list[Failure[Message]] = []
    blocked: set[str] = set()
    for message in messages:
        if message.key in blocked:
            blocker = KeyBlockedError(f"an earlier message with key {message.key!r} failed")
            failed.append(Failure(message, blocker, 0))
        elif (error := verdict(message)) is not None:
            failed.append(Failure(message, error))
            if message.key is not None:
                blocked.add(message.key)
        else:
            passed.append(message)
    return passed, failed


def _check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigurationError(
            f"max_concurrent_keys must be a positive int (keys sent at once), got {limit!r}"
        )


class CallbackPublisher:
    """Publishes each message by calling ``fn(message)``; raising fails that message.

    ``fn`` may be ``async def`` or a plain ``def`` (run in a worker thread, so it
    may block). Messages are sent as :func:`publish_in_key_order` describes.
    """

    def __init__(
        self,
        fn: Callable[[Message], Awaitable[None]] | Callable[[Message], None],
        *,
        max_concurrent_keys: int = 64,
    ) -> None:
        if not callable(fn):
            raise ConfigurationError(f"fn must be a function of one message, got {fn!r}")
        _check_limit(max_concurrent_keys)
        self._fn = fn
        self._send: Send = to_async(fn)
        self._limit = max_concurrent_keys

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        return await publish_in_key_order(messages, self._send, max_concurrent_keys=self._limit)

    async def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"CallbackPublisher({self._fn!r}, max_concurrent_keys={self._limit})"


class JsonLinesPublisher:
    """Appends one JSON object per message to a file or stream (``"-"`` is stdout).

    Each line holds ``id``, ``topic``, ``key``, ``seq``, ``type``,
    ``aggregate_type``, ``content_type``, ``headers``, ``created_at`` (ISO 8601),
    ``attempts`` and ``payload`` (the decoded value for JSON content types) or
    ``payload_base64`` (anything else). A batch is written with one write and
    flush in a worker thread, then ``fsync``-ed when asked (files it opened
    only): all of it is delivered, or all of it fails with the OS error. A path
    is opened lazily for appending; :meth:`close` closes it (a later publish
    reopens it) but never closes a stream it was given.
    """

    def __init__(self, target: str | os.PathLike[str] | TextIO, *, fsync: bool = False) -> None:
        if isinstance(target, str) and not target:
            raise ConfigurationError("target must be a path, '-' for stdout, or a text stream")
        if not isinstance(target, str | os.PathLike) and not hasattr(target, "write"):
            raise ConfigurationError(f"target must be a path or a text stream, got {target!r}")
        self._target = target
        self._fsync = fsync
        self._file: TextIO | None = None
        self._owned = False
        self._lock = asyncio.Lock()  # one batch at a time, so lines never interleave

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        if not messages:
            return Outcome()
        async with self._lock:
            try:
                await asyncio.to_thread(self._write, messages)
            except (OSError, ValueError) as exc:  # ValueError: closed or unencodable stream
                return Outcome.all_failed(messages, exc, fatal=True)
        return Outcome.all_delivered(messages)

    async def close(self) -> None:
        async with self._lock:
            file, owned = self._file, self._owned
            self._file, self._owned = None, False
            if file is not None and owned:
                await asyncio.to_thread(file.close)

    def _write(self, messages: Sequence[Message]) -> None:
        text = "".join(json_line(message) for message in messages)
        stream = self._stream()
        stream.write(text)
        stream.flush()
        if self._fsync and self._owned:
            os.fsync(stream.fileno())

    def _stream(self) -> TextIO:
        if self._file is None:
            target = self._target
            if target == "-":
                self._file = sys.stdout
            elif isinstance(target, str | os.PathLike):
                self._file, self._owned = open(target, "a", encoding="utf-8"), True  # noqa: SIM115
            else:
                self._file = target
        return self._file

    def __repr__(self) -> str:
        state = "open" if self._file is not None else "closed"
        return f"JsonLinesPublisher({self._target!r}, fsync={self._fsync}, {state})"


def json_line(message: Message) -> str:
    """``message`` as one JSON object and a newline, as :class:`JsonLinesPublisher` writes it."""
    record: dict[str, object] = {
        "id": message.id,
        "topic": message.topic,
        "key": message.key,
        "seq": message.seq,
        "type": message.type,
        "aggregate_type": message.aggregate_type,
        "content_type": message.content_type,
        "headers": dict(message.headers),
        "created_at": message.created_at.isoformat(),
        "attempts": message.attempts,
    }
    name, value = _payload(message)
    record[name] = value
    return json.dumps(record, ensure_ascii=False) + "\n"


def _payload(message: Message) -> tuple[str, object]:
    media = message.content_type.partition(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return "payload", json.loads(message.payload)
        except ValueError:
            pass  # mislabelled: fall through and keep the exact bytes
    return "payload_base64", base64.b64encode(message.payload).decode("ascii")
