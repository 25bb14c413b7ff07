"""Checks of the blocks of docs/rabbitmq-mqtt-webhooks.md: each line relays for real.

RabbitMQ (guest/guest) and Mosquitto (anonymous, so any login passes) are the
machine's own on loopback; webhooks go to an aiohttp receiver of the check's
own that verifies every signature.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path

from docs_relay import SmallOutbox, refused, relay_block, relay_lines, relay_once, unique

from docblocks import Block
from relaybox import Event, Message
from relaybox.testing import wait_until

AMQP = "amqp://guest:guest@127.0.0.1:5672/"


async def rabbitmq(found: Block, tmp_path: Path, **_: object) -> None:
    """Line one fills the queue named after the topic; line two goes through ``events``."""
    import aio_pika

    outbox = await SmallOutbox(tmp_path).migrate()
    direct, routed = relay_lines(found, {"app@rabbit:5672/shop": "guest@127.0.0.1:5672/"})
    env = {"RABBIT_PASSWORD": "guest"}
    first, second = unique("docs-"), unique("docs-")
    async with await aio_pika.connect(AMQP) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(first)
        exchange = await channel.declare_exchange("events", aio_pika.ExchangeType.DIRECT)
        # Named apart from the routing key, so the default exchange could not reach it.
        bound = await channel.declare_queue(f"{second}-bound")
        await bound.bind(exchange, routing_key=second)
        try:
            await refused(direct[3], {"RABBIT_PASSWORD": "not-the-password"}, "Authentication")
            outbox.write(Event(first, {"n": 1}, key="k"))
            await asyncio.to_thread(relay_once, direct, outbox.url, env)
            outbox.write(Event(second, {"n": 2}, key="k"))
            await asyncio.to_thread(relay_once, routed, outbox.url, env)
            for where, body in ((queue, b'{"n":1}'), (bound, b'{"n":2}')):
                got = await where.get(no_ack=True, fail=False)
                assert got is not None
                assert got.body == body
                assert got.headers["relaybox-key"] == "k"
        finally:
            await channel.queue_delete(first)
            await channel.queue_delete(f"{second}-bound")


async def mqtt(found: Block, tmp_path: Path, **_: object) -> None:
    import aiomqtt

    from relaybox.adapters.mqtt import incoming

    outbox = await SmallOutbox(tmp_path).migrate()
    topic = unique("docs-")
    received: list[tuple[int, Message]] = []
    ready = asyncio.Event()

    async def listen() -> None:
        async with aiomqtt.Client("127.0.0.1", 1883, protocol=aiomqtt.ProtocolVersion.V5) as client:
            await client.subscribe(topic, qos=2)  # a delivery then shows the QoS it was sent at
            ready.set()
            async for delivery in client.messages:
                received.append((delivery.qos, incoming(delivery)))

    listening = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(ready.wait(), 10)
        outbox.write(Event(topic, {"n": 1}, key="k"))
        env = {"MQTT_PASSWORD": "not-checked-here"}
        swaps = {"@broker:1883": "@127.0.0.1:1883"}
        await asyncio.to_thread(relay_block, found, swaps, outbox.url, env)
        await wait_until(lambda: len(received) == 1, within=10)
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
    ((qos, message),) = received
    assert (qos, message.key, message.payload) == (1, "k", b'{"n":1}')


async def webhooks(found: Block, tmp_path: Path, **_: object) -> None:
    """The exported secret signs each POST; the receiver verifies it with ``verify``."""
    from aiohttp import web

    from relaybox.webhooks import verify

    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    arrived: list[tuple[str, str, bytes]] = []

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        event_id = verify(body, request.headers, [secret])
        arrived.append((request.match_info["topic"], event_id, body))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/in/{topic}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        outbox = await SmallOutbox(tmp_path).migrate()
        topic = unique("docs-")
        outbox.write(Event(topic, {"n": 1}, key="k"))
        swaps = {"'whsec_...'": secret, "https://hooks.example.com": f"http://127.0.0.1:{port}"}
        await asyncio.to_thread(relay_block, found, swaps, outbox.url, {})
    finally:
        await runner.cleanup()
    ((where, _id, body),) = arrived
    assert (where, body) == (topic, b'{"n":1}')
