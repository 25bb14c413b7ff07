"""Reading a JetStream stream through a durable pull consumer, for the streaming coordinator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import nats
import nats.errors as nx
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from relaybox.adapters.nats.faults import UNREACHABLE, unavailable
from relaybox.core.backoff import Backoff
from relaybox.core.errors import TemporaryError, is_permanent

PullSubscription = JetStreamContext.PullSubscription
RECONNECT = Backoff(initial=0.1, max_delay=2.0)
"""Waits between fetches while the connection is away."""
log = logging.getLogger(__name__)


class JetStreamSource:
    """A :class:`~relaybox.ports.source.StreamSource` of JetStream messages.

    * ``records()`` fetches up to ``batch`` messages at a time, waiting at most
      ``wait`` seconds for each fetch, until closed.
    * ``ack(msg)`` acknowledges: call it once the message is delivered or
      dead-lettered (the coordinator does).
    * ``nack(msg, error)`` asks for redelivery after the error's ``retry_after``
      or ``nak_delay`` seconds; a permanent error terminates the message
      (``term``: JetStream never redelivers it and reports it as terminated).
    * Several sources on one durable consumer share its messages.
    * While the connection is away (the client reconnects by itself) fetching
      waits 0.1 s growing to 2 s between tries; a connection closed for good
      ends ``records()`` with ``DestinationUnavailableError``.
    * ``close()`` ends ``records()`` within ``wait`` seconds, and closes the
      connection when :meth:`connect` opened it.
    """

    def __init__(
        self,
        subscription: PullSubscription,
        *,
        batch: int = 100,
        wait: float = 0.5,
        nak_delay: float = 1.0,
        client: Client | None = None,
    ) -> None:
        self._subscription = subscription
        self._batch = batch
        self._wait = wait
        self._nak_delay = nak_delay
        self._client = client
        self._closed = False

    @classmethod
    async def connect(
        cls,
        servers: str | list[str],
        subject: str,
        durable: str,
        *,
        stream: str | None = None,
        config: ConsumerConfig | None = None,
        batch: int = 100,
        wait: float = 0.5,
        nak_delay: float = 1.0,
    ) -> JetStreamSource:
        """A source on the durable consumer ``durable`` of ``subject`` (created if missing)."""
        client = await nats.connect(servers, max_reconnect_attempts=-1)
        subscription = await client.jetstream().pull_subscribe(
            subject, durable=durable, stream=stream, config=config
        )
        return cls(subscription, batch=batch, wait=wait, nak_delay=nak_delay, client=client)

    async def records(self) -> AsyncIterator[Msg]:
        tries = 0
        while not self._closed:
            try:
                messages = await self._subscription.fetch(self._batch, timeout=self._wait)
            except nx.TimeoutError:
                continue  # nothing arrived within `wait`: look at the stop flag and ask again
            except nx.ConnectionClosedError as exc:
                if self.closed:
                    return
                raise unavailable("nats", exc) from exc  # closed for good: nothing to wait for
            except UNREACHABLE as exc:
                if self.closed:
                    return
                # Reconnecting: the client comes back by itself; wait and fetch again.
                log.warning("fetching from JetStream: %s", unavailable("nats", exc))
                tries += 1
                await asyncio.sleep(RECONNECT.delay(tries))
                continue
            tries = 0
            for message in messages:
                yield message

    @property
    def closed(self) -> bool:
        return self._closed

    async def ack(self, message: Msg, /) -> None:
        await message.ack()

    async def nack(self, message: Msg, error: BaseException, /) -> None:
        if is_permanent(error):
            await message.term()
            return
        delay = error.retry_after if isinstance(error, TemporaryError) else None
        await message.nak(delay=delay if delay is not None else self._nak_delay)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._client is not None and not self._client.is_closed:
            await self._client.close()

    def __repr__(self) -> str:
        return f"JetStreamSource({'closed' if self._closed else 'open'})"
