"""The MQTT connection a publisher opens for itself, and what it learns from or sets on one."""

from __future__ import annotations

import socket
from typing import Any

import aiomqtt

from relaybox.adapters.mqtt.address import MqttAddress

NO_DELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
"""Without it, Nagle's algorithm holds back small PUBLISH packets while PUBACKs
are outstanding: QoS 1 then runs at 0.5-2k messages/s on loopback."""


def new_client(address: MqttAddress, timeout: float) -> aiomqtt.Client:
    """An MQTT 5 client for ``address``, not yet connected, with no Nagle delay."""
    a = address
    client = aiomqtt.Client(
        a.host,
        a.port,
        username=a.username,
        password=a.password,
        identifier=a.client_id,
        protocol=aiomqtt.ProtocolVersion.V5,
        timeout=timeout,
        max_inflight_messages=a.window,
        tls_params=aiomqtt.TLSParameters() if a.tls else None,
        socket_options=[NO_DELAY],
    )
    allow_window(client, a.window)
    return client


def allow_window(client: aiomqtt.Client, window: int) -> None:
    """Keep ``client`` quiet about ``window`` publishes awaiting their acks."""
    # A full window of publishes awaiting acks is the plan, not a backlog to warn about.
    client.pending_calls_threshold = max(client.pending_calls_threshold, window + 1)


def without_delay(client: aiomqtt.Client) -> None:
    """Turn Nagle's algorithm off on a connected client's socket (see :data:`NO_DELAY`)."""
    sock = client._client.socket()  # aiomqtt does not expose its socket
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(*NO_DELAY)


def receive_maximum(client: aiomqtt.Client) -> list[int]:
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


def where(client: aiomqtt.Client) -> str:
    """The broker a caller's client talks to, for error messages."""
    return f"mqtt://{client._hostname}:{client._port}"
