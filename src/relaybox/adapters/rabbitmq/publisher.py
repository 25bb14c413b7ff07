"""Publishing outbox messages to RabbitMQ with publisher confirms, many in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from relaybox.adapters.rabbitmq.address import RabbitAddress
from relaybox.adapters.rabbitmq.envelope import mapped, outgoing
from relaybox.adapters.rabbitmq.exchanges import exchange_named
from relaybox.core.errors import DestinationUnavailableError, PermanentError
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.destinations import PublisherOptions
from relaybox.outbox.pipelining import publish_pipelined
from relaybox.outbox.routing import TopicMap


class RabbitPublisher:
    """Publishes each message persistent, ``mandatory``, confirmed, on one robust connection.

    * Routing: see :class:`~relaybox.adapters.rabbitmq.address.RabbitAddress`.
    * Up to ``window`` confirms are awaited at once, and the whole call is
      bounded by ``timeout``; unconfirmed messages fail with
      :class:`DestinationUnavailableError`, as does every message when the
      broker cannot be reached or the connection drops (the connection
      reconnects by itself; a later call uses it again).
    * A message no queue is bound for comes back (``mandatory``) and fails alone
      with :class:`PermanentError`; so does one sent to a missing exchange
      (checked once per exchange, before anything is sent there). A nack is a
      :class:`~relaybox.core.errors.TemporaryError`.
    * Key order: :func:`~relaybox.outbox.pipelining.publish_pipelined`.
    * :meth:`from_connection` publishes on a caller's connection instead.
    """

    def __init__(self, address: RabbitAddress, topics: TopicMap, *, timeout: float = 10.0) -> None:
        self._address = address
        self._topics = topics
        self._timeout = timeout
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange | PermanentError] = {}
        self._connecting = asyncio.Lock()
        self._owned = True

    @classmethod
    def from_connection(
        cls,
        connection: AbstractConnection,
        topics: TopicMap,
        *,
        exchange: str | None = None,
        window: int = 1000,
        persistent: bool = True,
        timeout: float = 10.0,
    ) -> RabbitPublisher:
        """Publish on ``connection``, which the caller opened and owns.

        The publisher opens its own channels on it (publisher confirms and
        returned messages need a channel set up for them) and closes only
        those: :meth:`close` leaves the connection open. ``exchange``,
        ``window`` and ``persistent`` mean what the URL's options do
        (:class:`~relaybox.adapters.rabbitmq.address.RabbitAddress`); routing,
        timeout and errors are as for a URL-built publisher. A robust
        connection (``aio_pika.connect_robust``) recovers from an outage by itself.
        """
        url = getattr(connection, "url", None)  # on every aio-pika connection, not in its ABC
        where = f"{url.scheme}://{url.host}:{url.port}" if url is not None else "amqp"
        address = RabbitAddress("", where, exchange, window, persistent)
        publisher = cls(address, topics, timeout=timeout)
        publisher._connection, publisher._owned = connection, False
        return publisher

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        if not messages:
            return Outcome()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        routes = [self._address.route(self._topics.destination(m.topic)) for m in messages]
        try:
            async with asyncio.timeout_at(deadline):  # connecting counts against the call
                channel = await self._open()
                for exchange, _ in set(routes):
                    await self._exchange(channel, exchange)
        except TimeoutError as exc:
            raise DestinationUnavailableError(
                f"RabbitMQ at {self._address.where} did not answer in time"
            ) from exc
        plan = dict(zip(map(id, messages), routes, strict=True))

        async def send(message: Message) -> None:
            exchange, key = plan[id(message)]
            target = self._exchanges[exchange]
            if isinstance(target, PermanentError):
                raise target
            try:
                await target.publish(outgoing(message, persistent=self._address.persistent), key)
            except Exception as exc:
                raise mapped(exc, self._address.where) from exc

        left = max(0.0, deadline - loop.time())
        return await publish_pipelined(messages, send, window=self._address.window, within=left)

    async def _open(self) -> AbstractChannel:
        async with self._connecting:
            if self._channel is not None and not self._channel.is_closed:
                return self._channel
            try:
                async with asyncio.timeout(self._timeout):
                    if self._connection is None:
                        self._connection = await aio_pika.connect_robust(
                            self._address.url, timeout=self._timeout, reconnect_interval=1.0
                        )
                    self._channel = await self._connection.channel(
                        publisher_confirms=True, on_return_raises=True
                    )
            except Exception as exc:
                raise DestinationUnavailableError(
                    f"cannot reach RabbitMQ at {self._address.where}: {type(exc).__name__}"
                ) from exc
            self._exchanges.clear()
            return self._channel

    async def _exchange(self, channel: AbstractChannel, name: str) -> None:
        if name not in self._exchanges:
            assert self._connection is not None
            self._exchanges[name] = await exchange_named(
                self._connection, channel, name, self._timeout, self._address.where
            )

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        self._exchanges.clear()
        if not self._owned:  # the caller's connection: close only the channel opened on it
            if channel is not None and not channel.is_closed:
                await channel.close()
            return
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    def __repr__(self) -> str:
        state = "connected" if self._channel is not None else "idle"
        where, exchange = self._address.where, self._address.exchange
        return f"RabbitPublisher({where}, exchange={exchange!r}, {state})"


def from_url(url: str, options: PublisherOptions) -> RabbitPublisher:
    """The :data:`~relaybox.service.publishers.PublisherFactory` of ``amqp://`` and ``amqps://``."""
    # Options that name their environment (for tests, say) are read there, else os.environ.
    address = RabbitAddress.parse(url, options.environ)
    return RabbitPublisher(address, options.topics, timeout=options.timeout)
