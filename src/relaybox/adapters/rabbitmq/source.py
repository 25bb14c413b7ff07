"""A RabbitMQ queue as a stream of outbox messages, acknowledged after their outcome."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from aio_pika.exceptions import ChannelInvalidStateError

from relaybox.adapters.rabbitmq.address import RabbitAddress
from relaybox.adapters.rabbitmq.envelope import incoming
from relaybox.core.errors import is_permanent
from relaybox.core.events import Message


class RabbitQueueSource:
    """Consumes ``queue`` with manual acks: a :class:`~relaybox.ports.source.StreamSource`.

    * ``records()`` yields each delivery as the :class:`Message` a
      :class:`~relaybox.adapters.rabbitmq.publisher.RabbitPublisher` sent
      (``row_id`` is the delivery tag), at most ``prefetch`` unacknowledged.
    * ``ack`` acknowledges; ``nack`` with a permanent error rejects without
      requeue, so the broker dead-letters it through the queue's
      ``x-dead-letter-exchange`` (dropped when the queue has none); any other
      error requeues it for another delivery.
    * A connection lost mid-stream loses nothing: the broker requeues the
      unacknowledged deliveries, and acks or nacks that arrive for them after
      the loss are dropped (they will be delivered again). ``close()`` ends
      ``records()``.
    """

    def __init__(self, url: str, queue: str, *, prefetch: int = 100) -> None:
        self._address = RabbitAddress.parse(url)
        self._queue = queue
        self._prefetch = prefetch
        self._connection: AbstractRobustConnection | None = None
        self._unsettled: dict[int, AbstractIncomingMessage] = {}
        self._closed = asyncio.Event()

    async def records(self) -> AsyncIterator[Message]:
        if self._closed.is_set():
            return  # a closed source opens no connection that nothing would close
        self._connection = await aio_pika.connect_robust(self._address.url)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self._prefetch)
        queue = await channel.get_queue(self._queue, ensure=True)
        async with queue.iterator() as deliveries:
            closing = asyncio.ensure_future(self._closed.wait())
            try:
                while not self._closed.is_set():
                    delivery = asyncio.ensure_future(anext(deliveries))
                    await asyncio.wait((delivery, closing), return_when=asyncio.FIRST_COMPLETED)
                    if not delivery.done():
                        delivery.cancel()
                        break
                    record = incoming(delivery.result())
                    self._unsettled[id(record)] = delivery.result()
                    yield record
            finally:
                closing.cancel()

    async def ack(self, record: Message, /) -> None:
        delivery = self._unsettled.pop(id(record), None)
        if delivery is not None:
            await _unless_gone(delivery.ack())

    async def nack(self, record: Message, error: BaseException, /) -> None:
        delivery = self._unsettled.pop(id(record), None)
        if delivery is None:
            return
        if is_permanent(error):
            await _unless_gone(delivery.reject(requeue=False))
        else:
            await _unless_gone(delivery.nack(requeue=True))

    async def close(self) -> None:
        self._closed.set()
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    def __repr__(self) -> str:
        return (
            f"RabbitQueueSource({self._address.where}, queue={self._queue!r}, "
            f"unsettled={len(self._unsettled)})"
        )


async def _unless_gone(settling: Awaitable[None]) -> None:
    """Settle a delivery; if its channel is gone the broker already requeued it."""
    with contextlib.suppress(ChannelInvalidStateError, aiormq.exceptions.AMQPError):
        await settling
