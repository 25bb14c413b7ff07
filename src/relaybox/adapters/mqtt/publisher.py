"""Publishing outbox messages to an MQTT broker at QoS 1 or 2, many acknowledgements in flight."""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from collections.abc import Sequence
from typing import Any

import aiomqtt

from relaybox.adapters.mqtt.address import MqttAddress, PublishOptions
from relaybox.adapters.mqtt.envelope import properties
from relaybox.core.errors import DestinationUnavailableError, PermanentError
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.pipelining import publish_pipelined
from relaybox.outbox.routing import TopicMap

NO_DELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
"""Without it, Nagle's algorithm holds back small PUBLISH packets while PUBACKs
are outstanding: QoS 1 then runs at 0.5-2k messages/s on loopback."""


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
    """

    def __init__(self, address: MqttAddress, topics: TopicMap, *, timeout: float = 10.0) -> None:
        self._address = address
        self._topics = topics
        self._timeout = timeout
        self._client: aiomqtt.Client | None = None
        self._window = address.window
        self._connecting = asyncio.Lock()

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        if not messages:
            return Outcome()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        client = await self._connected()  # bounded by the timeout as well
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
            client = self._new_client()
            limit = _receive_maximum(client)
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

    def _new_client(self) -> aiomqtt.Client:
        a = self._address
        client = aiomqtt.Client(
            a.host,
            a.port,
            username=a.username,
            password=a.password,
            identifier=a.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            timeout=self._timeout,
            max_inflight_messages=a.window,
            tls_params=aiomqtt.TLSParameters() if a.tls else None,
            socket_options=[NO_DELAY],
        )
        # A full window of publishes awaiting acks is the plan, not a backlog to warn about.
        client.pending_calls_threshold = a.window + 1
        return client

    async def _drop(self, client: aiomqtt.Client) -> None:
        """Forget a broken connection, so the next call opens a new one."""
        if self._client is client:
            self._client = None
            with contextlib.suppress(aiomqtt.MqttError):  # already gone: nothing to close
                await client.__aexit__(None, None, None)

    async def close(self) -> None:
        if self._client is not None:
            await self._drop(self._client)

    def __repr__(self) -> str:
        state = "connected" if self._client is not None else "idle"
        return f"MqttPublisher({self._address.where}, qos={self._address.qos}, {state})"


def _receive_maximum(client: aiomqtt.Client) -> list[int]:
    """A cell that holds the broker's Receive Maximum once the client is connected."""
    cell = [65535]  # the protocol's default when the broker names none
    paho = client._client  # aiomqtt keeps no CONNACK properties
    forward = paho.on_connect

    def on_connect(*args: Any) -> None:
        props = args[4] if len(args) > 4 else None
        cell[0] = getattr(props, "ReceiveMaximum", None) or cell[0]
        forward(*args)  # type: ignore[misc]

    paho.on_connect = on_connect
    return cell


def from_url(url: str, options: PublishOptions) -> MqttPublisher:
    """The :data:`~relaybox.service.publishers.PublisherFactory` of ``mqtt://`` and ``mqtts://``."""
    # Options that name their environment (for tests, say) are read there, else os.environ.
    address = MqttAddress.parse(url, getattr(options, "environ", None))
    return MqttPublisher(address, options.topics, timeout=options.timeout)
