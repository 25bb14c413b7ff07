"""Publishing outbox messages to NATS JetStream with many acknowledgements in flight."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from relaybox.adapters.nats.acks import is_outage, settle
from relaybox.adapters.nats.faults import UNREACHABLE, unavailable
from relaybox.adapters.nats.sending import hand_over
from relaybox.adapters.nats.streams import StreamLimits
from relaybox.core.errors import (
    ConfigurationError,
)
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
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
    :meth:`from_client` publishes through a caller's connection instead.
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
        self._owned = True

    @classmethod
    def from_client(
        cls,
        client: Client,
        *,
        topics: TopicMap | None = None,
        timeout: float = 10.0,
        max_retry_delay: float = 600.0,
        max_pending: int = 4000,
    ) -> JetStreamPublisher:
        """Publish through ``client``, a connection the caller opened and owns.

        Routing, timeout and error mapping are as for a URL-built publisher;
        reconnecting is the client's own (nats-py reconnects by itself). The
        publisher does not close the client, not even in :meth:`close`.
        """
        url = client.connected_url  # named without its credentials
        where = f"nats://{url.hostname}:{url.port}" if url else "nats"
        publisher = cls(
            [], topics=topics, timeout=timeout, max_retry_delay=max_retry_delay, where=where
        )
        publisher._client, publisher._owned = client, False
        publisher._js = client.jetstream(publish_async_max_pending=max_pending)
        return publisher

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        deadline = asyncio.get_running_loop().time() + self._timeout
        try:
            async with asyncio.timeout_at(deadline):
                js = await self._jetstream()
                await self._limits.learn(js, self._subjects(messages))
        except UNREACHABLE as exc:
            raise unavailable(self._where, exc) from exc
        sendable, failed = screen(messages, self._refusal)
        acks, unsent = await hand_over(js, sendable, deadline, self._topics, self._where)
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
        if not self._owned:
            return  # the caller's connection: the caller closes it
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            await client.close()

    def __repr__(self) -> str:
        state = "connected" if self._client is not None else "not connected"
        return f"JetStreamPublisher({self._where}, {state})"
