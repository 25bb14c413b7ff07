"""Publishing outbox messages to NATS JetStream with many acknowledgements in flight."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from relaybox.adapters.nats.acks import Acks, is_outage, settle
from relaybox.adapters.nats.faults import UNREACHABLE, rejected, unavailable
from relaybox.adapters.nats.headers import message_headers
from relaybox.adapters.nats.streams import StreamLimits
from relaybox.core.errors import (
    ConfigurationError,
    DestinationUnavailableError,
)
from relaybox.core.events import Message
from relaybox.core.outcome import Failure, Outcome
from relaybox.outbox.publishers import screen
from relaybox.outbox.routing import TopicMap

log = logging.getLogger(__name__)


class JetStreamPublisher:
    """Publishes each message to its subject (the topic through ``topics``), acks in flight.

    Messages go out in batch order on one connection, so each key's messages
    are stored in order, and every ack is awaited together (at most
    ``max_pending`` in flight). ``Nats-Msg-Id`` is the event id: a re-publication
    inside the stream's duplicate window is dropped by the server and counts as
    delivered. The first time a subject is seen its stream is looked up
    (:class:`~relaybox.adapters.nats.streams.StreamLimits`): a duplicate window
    shorter than ``max_retry_delay`` (the relay's longest wait between attempts)
    is logged as a warning, and a message over the stream's size limit fails
    alone before anything is sent, releasing its key's later messages. (A
    refusal JetStream answers only after the batch is sent fails that message
    alone; its key's later messages, already stored, count as delivered.)
    What is unacknowledged after ``timeout`` fails with
    ``DestinationUnavailableError``; connecting is lazy, on the first publish.
    """

    def __init__(
        self,
        servers: str | list[str],
        *,
        topics: TopicMap | None = None,
        timeout: float = 10.0,
        max_retry_delay: float = 600.0,
        max_pending: int = 4000,
        connect: dict[str, object] | None = None,
        where: str = "nats",
    ) -> None:
        self._servers = servers
        self._topics = topics or TopicMap()
        self._timeout = timeout
        self._max_retry_delay = max_retry_delay
        self._max_pending = max_pending
        self._connect = connect or {}
        self._where = where
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._limits = StreamLimits(max_retry_delay)

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        deadline = asyncio.get_running_loop().time() + self._timeout
        try:
            async with asyncio.timeout_at(deadline):
                js = await self._jetstream()
                await self._limits.learn(js, self._subjects(messages))
        except UNREACHABLE as exc:
            raise unavailable(self._where, exc) from exc
        sendable, failed = screen(messages, self._refusal)
        acks, unsent = await self._send(js, sendable, deadline)
        delivered, ack_failures = await settle(acks, deadline)
        lost = [*unsent, *ack_failures]
        if not delivered and not failed and lost and all(is_outage(f.error) for f in lost):
            # Nothing got through and nothing was refused: the server is away, not the events.
            raise unavailable(self._where, lost[0].error)
        return Outcome(tuple(delivered), (*failed, *lost))

    def _subjects(self, messages: Sequence[Message]) -> set[str]:
        topics = {m.topic for m in messages}
        return {self._topics.destination(t) for t in topics if self._topics.maps(t)}

    def _refusal(self, message: Message) -> BaseException | None:
        """Why ``message`` cannot be sent: its topic has no subject, or it is too large."""
        try:
            subject = self._topics.destination(message.topic)
        except ConfigurationError as exc:
            return exc
        return self._limits.refusal(subject, message)

    async def _send(
        self, js: JetStreamContext, messages: Sequence[Message], deadline: float
    ) -> tuple[Acks, list[Failure[Message]]]:
        """Hand every message to the connection in order; a refused one blocks its key."""
        acks: Acks = []
        verdicts: dict[int, BaseException] = {}
        blocked: set[str] = set()
        position = 0
        subjects: dict[str, str] = {}
        try:
            async with asyncio.timeout_at(deadline):
                for message in messages:
                    if message.key not in blocked:
                        subject = subjects.get(message.topic)
                        if subject is None:
                            subject = subjects[message.topic] = self._subject(message)
                        try:
                            # No wait_stall: with one, every call yields to the loop and
                            # nats-py flushes each message alone (7x slower, measured).
                            future = await js.publish_async(
                                subject, message.payload, headers=message_headers(message)
                            )
                            acks.append((message, future))
                        except UNREACHABLE:
                            raise
                        except Exception as exc:
                            error = rejected(exc)
                            if isinstance(error, DestinationUnavailableError):
                                raise error from exc
                            verdicts[id(message)] = error
                            blocked.update([message.key] if message.key is not None else [])
                    position += 1
        except (DestinationUnavailableError, *UNREACHABLE) as exc:
            outage = unavailable(self._where, exc)
            for message in messages[position:]:
                verdicts.setdefault(id(message), outage)
        sent = {id(message) for message, _ in acks}
        rest = [m for m in messages if id(m) not in sent]
        unjudged, failures = screen(rest, lambda m: verdicts.get(id(m)))
        failures.extend(Failure(m, unavailable(self._where, TimeoutError())) for m in unjudged)
        return acks, failures

    def _subject(self, message: Message) -> str:
        return self._topics.destination(message.topic)

    async def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            self._client = await nats.connect(
                self._servers,
                connect_timeout=self._timeout,
                max_reconnect_attempts=-1,
                error_cb=self._on_error,
                **self._connect,
            )
            self._js = self._client.jetstream(publish_async_max_pending=self._max_pending)
        return self._js

    async def _on_error(self, exc: Exception) -> None:
        # The client reconnects by itself; one line per error, not nats-py's traceback.
        log.warning("NATS at %s: %s", self._where, str(exc) or type(exc).__name__)

    async def close(self) -> None:
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            await client.close()

    def __repr__(self) -> str:
        state = "connected" if self._client is not None else "not connected"
        return f"JetStreamPublisher({self._where}, {state})"
