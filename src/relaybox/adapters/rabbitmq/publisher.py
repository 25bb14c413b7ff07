"""Publishing outbox messages to RabbitMQ with publisher confirms, many in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aio_pika
import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from relaybox.adapters.rabbitmq.address import PublishOptions, RabbitAddress
from relaybox.adapters.rabbitmq.envelope import mapped, outgoing
from relaybox.core.errors import DestinationUnavailableError, PermanentError
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
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
    """

    def __init__(self, address: RabbitAddress, topics: TopicMap, *, timeout: float = 10.0) -> None:
        self._address = address
        self._topics = topics
        self._timeout = timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange | PermanentError] = {}
        self._connecting = asyncio.Lock()

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
        if name in self._exchanges:
            return
        if not name:
            self._exchanges[name] = channel.default_exchange
            return
        assert self._connection is not None
        # A passive declare of a missing exchange closes its channel: use a spare one.
        try:
            async with asyncio.timeout(self._timeout):
                probe = await self._connection.channel()
                async with probe:
                    await probe.get_exchange(name, ensure=True)
        except aiormq.exceptions.ChannelNotFoundEntity:
            self._exchanges[name] = PermanentError(
                f"exchange {name!r} does not exist at {self._address.where}"
            )
            return
        except Exception as exc:
            raise DestinationUnavailableError(
                f"cannot check exchange {name!r} at {self._address.where}: {exc!r}"
            ) from exc
        self._exchanges[name] = await channel.get_exchange(name, ensure=False)

    async def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        self._exchanges.clear()
        if connection is not None:
            await connection.close()

    def __repr__(self) -> str:
        state = "connected" if self._channel is not None else "idle"
        where, exchange = self._address.where, self._address.exchange
        return f"RabbitPublisher({where}, exchange={exchange!r}, {state})"


def from_url(url: str, options: PublishOptions) -> RabbitPublisher:
    """The :data:`~relaybox.service.publishers.PublisherFactory` of ``amqp://`` and ``amqps://``."""
    # Options that name their environment (for tests, say) are read there, else os.environ.
    address = RabbitAddress.parse(url, getattr(options, "environ", None))
    return RabbitPublisher(address, options.topics, timeout=options.timeout)
