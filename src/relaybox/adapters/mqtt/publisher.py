"""Publishing outbox messages to an MQTT broker at QoS 1 or 2, many acknowledgements in flight."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Sequence

import aiomqtt

from relaybox.adapters.mqtt.address import MqttAddress
from relaybox.adapters.mqtt.connection import (
    allow_window,
    new_client,
    receive_maximum,
    where,
    without_delay,
)
from relaybox.adapters.mqtt.envelope import properties
from relaybox.core.errors import ConfigurationError, DestinationUnavailableError, PermanentError
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.destinations import PublisherOptions
from relaybox.outbox.pipelining import publish_pipelined
from relaybox.outbox.routing import TopicMap


class MqttPublisher:
    """Publishes each message with its QoS on one MQTT 5 connection, ``window`` unacknowledged.

    * Metadata as user properties: :mod:`relaybox.adapters.mqtt.envelope`.
    * The whole call is bounded by ``timeout``: messages without their PUBACK
      (PUBCOMP for QoS 2) by then, or all of them when the broker cannot be
      reached or the connection drops, fail with
      :class:`DestinationUnavailableError`; the next call connects again.
    * A message the client refuses (a topic with wildcards, a payload over
      the protocol's limit) fails alone with :class:`PermanentError`.
    * Key order: :func:`~relaybox.outbox.pipelining.publish_pipelined` (MQTT
      keeps the order of one client's messages on a topic).
    * :meth:`from_client` publishes through a client the caller opened; the
      publisher never connects, reconnects nor closes it.
    """

    def __init__(self, address: MqttAddress, topics: TopicMap, *, timeout: float = 10.0) -> None:
        self._address = address
        self._topics = topics
        self._timeout = timeout
        self._client: aiomqtt.Client | None = None
        self._window = address.window
        self._connecting = asyncio.Lock()
        self._owned = True

    @classmethod
    def from_client(
        cls,
        client: aiomqtt.Client,
        topics: TopicMap,
        *,
        qos: int = 1,
        window: int = 1000,
        timeout: float = 10.0,
    ) -> MqttPublisher:
        """Publish through ``client``, which the caller has connected (``async with``) and owns.

        Routing, timeout and errors are as for a URL-built publisher, but the
        publisher does not close the client, not even in :meth:`close`, nor
        reconnect it: while it is disconnected, calls fail with
        :class:`DestinationUnavailableError`. It needs MQTT 5 for the user
        properties. Keep ``window`` at or under the broker's Receive Maximum
        and the client's ``max_inflight_messages``; Nagle's algorithm is
        turned off on the client's socket at the first publish.
        """
        if qos not in (1, 2):
            raise ConfigurationError(f"qos must be 1 or 2, got {qos!r}")
        host, _, port = where(client).removeprefix("mqtt://").rpartition(":")
        publisher = cls(
            MqttAddress(host, int(port), qos=qos, window=window), topics, timeout=timeout
        )
        publisher._client, publisher._owned = client, False
        allow_window(client, window)
        return publisher

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        if not messages:
            return Outcome()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        client = await self._connected()  # bounded by the timeout as well
        if not self._owned:
            without_delay(client)
        qos, where = self._address.qos, self._address.where

        async def send(message: Message) -> None:
            topic = self._topics.destination(message.topic)
            try:
                await client.publish(
                    topic, message.payload, qos, properties=properties(message), timeout=math.inf
                )
            except ValueError as exc:
                raise PermanentError(f"{where} cannot take this message: {exc}") from exc
            except aiomqtt.MqttError as exc:
                await self._drop(client)
                raise DestinationUnavailableError(f"{where}: {exc}") from exc

        # Never more unacknowledged than the broker's Receive Maximum: past it,
        # Mosquitto 2.0 acknowledges some QoS 2 messages and drops them.
        left = max(0.0, deadline - loop.time())
        return await publish_pipelined(messages, send, window=self._window, within=left)

    async def _connected(self) -> aiomqtt.Client:
        async with self._connecting:
            if self._client is not None:
                return self._client
            client = new_client(self._address, self._timeout)
            limit = receive_maximum(client)
            try:
                async with asyncio.timeout(self._timeout):
                    await client.__aenter__()
            except (aiomqtt.MqttError, TimeoutError) as exc:
                raise DestinationUnavailableError(
                    f"cannot reach the MQTT broker at {self._address.where}: {exc}"
                ) from exc
            self._window = min(self._address.window, limit[0])
            self._client = client
            return client

    async def _drop(self, client: aiomqtt.Client) -> None:
        """Forget a broken connection, so the next call opens a new one (of our own)."""
        if self._client is client and self._owned:
            self._client = None
            with contextlib.suppress(aiomqtt.MqttError):  # already gone: nothing to close
                await client.__aexit__(None, None, None)

    async def close(self) -> None:
        if self._client is not None:
            await self._drop(self._client)

    def __repr__(self) -> str:
        state = "connected" if self._client is not None else "idle"
        return f"MqttPublisher({self._address.where}, qos={self._address.qos}, {state})"


def from_url(url: str, options: PublisherOptions) -> MqttPublisher:
    """The :data:`~relaybox.service.publishers.PublisherFactory` of ``mqtt://`` and ``mqtts://``."""
    # Options that name their environment (for tests, say) are read there, else os.environ.
    address = MqttAddress.parse(url, options.environ)
    return MqttPublisher(address, options.topics, timeout=options.timeout)
