"""Signed webhooks run the publisher contract against an aiohttp receiver on loopback.

The receiver verifies every signature (a forged or unsigned request is refused
with 401 and counted), keeps what it accepted in arrival order, and answers
410 for the ``refused`` destination. Stopping the "broker" closes its
listening socket; starting it listens on the same port again.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp import web

from relaybox.adapters.webhooks import from_url
from relaybox.core.events import Message
from relaybox.outbox.destinations import PublisherOptions
from relaybox.ports.publisher import Publisher
from relaybox.testing import message
from relaybox.testing.publisher_contract import PublisherContract, Received
from relaybox.webhooks import WebhookVerificationError, verify

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"the contract receiver's secret").decode()
ENVIRON = {"RELAYBOX_WEBHOOK_SECRET": SECRET}


class Receiver:
    """An HTTP server on a fixed loopback port that can be stopped and started again."""

    def __init__(self) -> None:
        self.got: list[Received] = []
        self.forged = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/in/{destination}", self.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event_id = verify(body, request.headers, [SECRET])
        except WebhookVerificationError:
            self.forged += 1
            return web.Response(status=401)
        if request.match_info["destination"] == "refused":
            return web.Response(status=410)
        h = request.headers
        topic, key, kind = h["relaybox-topic"], h.get("relaybox-key"), h.get("relaybox-type", "")
        self.got.append(Received(event_id, key, kind, topic, dict(h), body))
        return web.Response(status=204)


class TestWebhookPublisher(PublisherContract):
    can_stop_broker = True

    @pytest.fixture(autouse=True)
    async def _receiver(self) -> AsyncIterator[None]:
        self.receiver = Receiver()
        await self.receiver.start()
        try:
            yield
        finally:
            await self.receiver.stop()
        assert self.receiver.forged == 0

    async def make_publisher(self, options: PublisherOptions) -> Publisher:
        self.receiver.got.clear()
        url = f"http://127.0.0.1:{self.receiver.port}/in/{{topic}}"
        return from_url(url, replace(options, environ=ENVIRON))

    async def received(self) -> list[Received]:
        return list(self.receiver.got)

    async def unreachable_publisher(self, options: PublisherOptions) -> Publisher:
        return from_url("http://127.0.0.1:1/in/{topic}", replace(options, environ=ENVIRON))

    async def rejected_message(self, row_id: int, key: str) -> Message | None:
        return message(row_id, key=key, topic="refused")

    async def stop_broker(self) -> None:
        await self.receiver.stop()

    async def start_broker(self) -> None:
        await self.receiver.start()
