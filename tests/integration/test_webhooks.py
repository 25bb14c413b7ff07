"""Signed webhooks to a real HTTP receiver on loopback, and from the outbox through the CLI."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web
from broker_checks import PgOutbox, assert_key_order, keyed_batch, step_events

from relaybox.adapters.webhooks import WebhookAddress, WebhookPublisher
from relaybox.core.errors import (
    DestinationUnavailableError,
    KeyBlockedError,
    PermanentError,
    TemporaryError,
)
from relaybox.core.events import Message
from relaybox.outbox.routing import TopicMap
from relaybox.outbox.tables import Tables
from relaybox.webhooks import WebhookVerificationError, verify

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"receiver and relay share this").decode()
ENV = {"RELAYBOX_WEBHOOK_SECRET": SECRET}


class Receiver:
    """An aiohttp server that verifies every signature and answers by path."""

    def __init__(self) -> None:
        self.received: list[Message] = []
        self.forged = 0
        self.url = ""
        self._slow = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event_id = verify(body, request.headers, [SECRET])
        except WebhookVerificationError:
            self.forged += 1
            return web.Response(status=401)
        assert request.headers["idempotency-key"] == event_id
        answer = request.match_info["answer"]
        if answer == "slow":
            await self._slow.wait()  # never set: the publisher's read timeout must end it
        if answer == "ok":
            self.received.append(_message(request, event_id, body))
        return web.Response(status=_STATUS[answer], headers=_HEADERS.get(answer, {}))


_STATUS = {"ok": 204, "broken": 500, "busy": 429, "gone": 410, "slow": 200}
_HEADERS = {"busy": {"Retry-After": "7"}}


def _message(request: web.Request, event_id: str, body: bytes) -> Message:
    own = {"n": request.headers["n"], "traceparent": request.headers["traceparent"]}
    return Message(
        0,
        event_id,
        request.headers["relaybox-topic"],
        request.headers.get("relaybox-key"),
        None,
        request.headers.get("relaybox-type", ""),
        "",
        request.content_type,
        body,
        own,
        datetime.now(UTC),
    )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hooks = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/{answer}", hooks.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hooks.url = f"http://127.0.0.1:{port}/hooks/{{topic}}"
    try:
        yield hooks
    finally:
        await runner.cleanup()


def publisher(url: str, *, timeout: float = 5.0, **routes: str) -> WebhookPublisher:
    topics = TopicMap(overrides=routes)
    return WebhookPublisher(WebhookAddress.parse(url, environ=ENV), topics, timeout=timeout)


async def test_keyed_events_arrive_signed_intact_and_in_key_order(receiver: Receiver) -> None:
    sent = keyed_batch(300, 12, topic="orders")
    hooks = publisher(receiver.url, orders="ok")
    try:
        outcome = await hooks.publish(sent)
    finally:
        await hooks.close()

    assert len(outcome.delivered) == 300, outcome.failed[:3]
    assert receiver.forged == 0
    got = {m.id: m for m in receiver.received}
    assert sorted(got) == sorted(m.id for m in sent)
    for original in sent:
        copy = got[original.id]
        assert (copy.payload, copy.key, copy.type) == (original.payload, original.key, "Step")
        assert copy.content_type == original.content_type
        assert dict(copy.headers) == dict(original.headers)
    assert_key_order(receiver.received)


async def test_each_answer_gets_its_treatment_and_fails_only_its_own_key(
    receiver: Receiver,
) -> None:
    topics = {"a": "ok", "b": "broken", "c": "busy", "d": "gone", "e": "slow"}
    batch = [m for t in topics for m in keyed_batch(2, 1, topic=t)]
    for m in batch:
        m.key = m.topic  # one key per answer: each key's second event waits on its first
    hooks = publisher(receiver.url, timeout=1.0, **topics)
    try:
        outcome = await hooks.publish(batch)
    finally:
        await hooks.close()

    first = {f.record.topic: f.error for f in outcome.failed if f.record.headers["n"] == "0"}
    second = {f.record.topic: f.error for f in outcome.failed if f.record.headers["n"] == "1"}
    assert [m.topic for m in outcome.delivered] == ["a", "a"]
    assert type(first["b"]) is TemporaryError
    assert first["b"].retry_after is None
    assert type(first["c"]) is TemporaryError
    assert first["c"].retry_after == 7.0
    assert isinstance(first["d"], PermanentError)
    assert isinstance(first["e"], DestinationUnavailableError)
    assert all(isinstance(error, KeyBlockedError) for error in second.values())
    assert sorted(second) == ["b", "c", "d", "e"]
    assert receiver.forged == 0


async def test_an_unreachable_receiver_is_unavailable_within_the_timeout() -> None:
    hooks = publisher("http://127.0.0.1:1/hooks/{topic}", timeout=1.0)
    try:
        outcome = await asyncio.wait_for(hooks.publish(keyed_batch(4, 2, topic="x")), 10.0)
    finally:
        await hooks.close()
    errors = [type(f.error) for f in outcome.failed]
    assert errors.count(DestinationUnavailableError) == 2
    assert errors.count(KeyBlockedError) == 2


async def test_events_committed_in_postgres_reach_the_receiver_through_the_cli(
    receiver: Receiver, pg_store: object, pg_dsn: str, tables: Tables
) -> None:
    outbox = PgOutbox(pg_dsn, tables)
    events = step_events(90, 6, topic="ok")  # the URL template makes it /hooks/ok
    await outbox.write(*events)

    result = await outbox.cli("relay", "--once", "--to", receiver.url, env=ENV)

    assert "delivered 90" in result.output, result.output
    assert receiver.forged == 0
    assert sorted(m.id for m in receiver.received) == sorted(e.id for e in events)
    assert_key_order(receiver.received)


async def test_a_publisher_with_the_callers_session_leaves_it_open(receiver: Receiver) -> None:
    sent = keyed_batch(40, 4, topic="orders")
    address = WebhookAddress.parse(receiver.url, environ=ENV)
    async with aiohttp.ClientSession() as session:
        hooks = WebhookPublisher(address, TopicMap(overrides={"orders": "ok"}), session=session)
        outcome = await hooks.publish(sent)
        await hooks.close()

        assert len(outcome.delivered) == 40, outcome.failed[:3]
        assert not session.closed
    assert receiver.forged == 0
    assert sorted(m.id for m in receiver.received) == sorted(m.id for m in sent)
    assert_key_order(receiver.received)
