"""NATS JetStream on a real server: the publisher contract, dedup, windows, and the pull source."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import nats
import pytest
from broker_checks import TRACEPARENT, keyed_batch
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from brokers import NATS_URL, start_nats, stop_nats
from relaybox.adapters.nats import JetStreamPublisher, JetStreamSource, nats_publisher
from relaybox.adapters.nats.headers import EVENT_ID, EVENT_KEY, EVENT_TOPIC, EVENT_TYPE
from relaybox.core.errors import PermanentError
from relaybox.core.events import Message
from relaybox.outbox.destinations import PublisherOptions
from relaybox.outbox.routing import TopicMap
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.ports.publisher import Publisher
from relaybox.testing import ScriptedApplier, message, wait_until
from relaybox.testing.publisher_contract import PublisherContract, Received

pytestmark = pytest.mark.integration
LIMIT = 64 * 1024


@contextlib.asynccontextmanager
async def jetstream() -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(NATS_URL)
    try:
        yield client.jetstream()
    finally:
        await client.close()


async def fresh_stream(window: float = 900.0) -> str:
    """A stream of its own (subjects ``NAME.>``), refusing messages over 64 KiB."""
    name = f"rbt{uuid.uuid4().hex[:12]}"
    async with jetstream() as js:
        await js.add_stream(
            name=name, subjects=[f"{name}.>"], max_msg_size=LIMIT, duplicate_window=window
        )
    return name


async def stored(stream: str) -> list[Received]:
    async with jetstream() as js:
        last = (await js.stream_info(stream)).state.last_seq
        raw = [await js.get_msg(stream, seq) for seq in range(1, last + 1)]
    return [
        Received(
            m.headers[EVENT_ID],
            m.headers.get(EVENT_KEY),
            m.headers.get(EVENT_TYPE, ""),
            m.headers[EVENT_TOPIC],
            m.headers,
            m.data or b"",
        )
        for m in raw
        if m.headers
    ]


class TestJetStreamPublisher(PublisherContract):
    broker_dedup = True
    can_stop_broker = True

    async def make_publisher(self, options: PublisherOptions) -> Publisher:
        self.stream = await fresh_stream()
        topics = TopicMap(self.stream + ".{topic}")
        return nats_publisher(NATS_URL, replace(options, topics=topics))

    async def received(self) -> list[Received]:
        return await stored(self.stream)

    async def unreachable_publisher(self, options: PublisherOptions) -> Publisher:
        return nats_publisher("nats://127.0.0.1:1", options)

    async def rejected_message(self, row_id: int, key: str) -> Message | None:
        return message(row_id, key=key, payload=b"x" * (LIMIT + 1))

    async def stop_broker(self) -> None:
        await stop_nats()

    async def start_broker(self) -> None:
        await start_nats()


async def test_a_duplicate_window_shorter_than_the_retry_delay_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stream = await fresh_stream(window=60.0)
    options = PublisherOptions(topics=TopicMap(stream + ".{topic}"), max_retry_delay=600.0)
    publisher = nats_publisher(NATS_URL, options)
    with caplog.at_level(logging.WARNING, logger="relaybox.adapters.nats.publisher"):
        try:
            await publisher.publish([message(1), message(2, topic="other")])
        finally:
            await publisher.close()
    warnings = [r.getMessage() for r in caplog.records if stream in r.getMessage()]
    assert len(warnings) == 1
    assert "60 s" in warnings[0]


async def test_the_pull_source_acks_retries_later_and_terminates_poison() -> None:
    stream = await fresh_stream()
    publisher = nats_publisher(NATS_URL, PublisherOptions(topics=TopicMap(stream + ".{topic}")))
    sent = [message(n, key=f"k{n % 3}") for n in range(30)]
    try:
        assert not (await publisher.publish(sent)).failed
    finally:
        await publisher.close()
    poison, flaky = sent[4].id, sent[9].id

    def event_id(msg: Msg) -> str:
        return msg.headers[EVENT_ID] if msg.headers else ""

    applier: ScriptedApplier[Msg] = ScriptedApplier(
        fail_times={flaky: 1},
        fail_when=lambda m: event_id(m) == poison,
        error=lambda m: PermanentError("bad") if event_id(m) == poison else OSError("busy"),
        key=event_id,
    )
    source = await JetStreamSource.connect(
        NATS_URL, f"{stream}.>", "workers", stream=stream, nak_delay=0.1, wait=0.2
    )
    coordinator = StreamingCoordinator(source, applier, batch_size=10, max_wait=0.05)
    task = asyncio.create_task(coordinator.run())
    try:
        await wait_until(lambda: len(applier.delivered) == 29, within=20, what="29 deliveries")
    finally:
        await coordinator.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert {event_id(m) for m in applier.delivered} == {m.id for m in sent} - {poison}
    async with jetstream() as js:
        info = await js.consumer_info(stream, "workers")
        await js.delete_stream(stream)
    assert info.num_ack_pending == 0
    assert info.num_pending == 0


async def test_the_pull_source_outlives_a_server_restart() -> None:
    stream = await fresh_stream()
    applier: ScriptedApplier[Msg] = ScriptedApplier(key=lambda m: m.reply)
    source = await JetStreamSource.connect(NATS_URL, f"{stream}.>", "w", stream=stream, wait=0.2)
    coordinator = StreamingCoordinator(source, applier, batch_size=10, max_wait=0.05)
    task = asyncio.create_task(coordinator.run())
    topics = TopicMap(stream + ".{topic}")
    try:
        for start in (0, 10):
            if start:
                await stop_nats()
                await start_nats()
            publisher = nats_publisher(NATS_URL, PublisherOptions(topics=topics))
            try:
                sent = [message(start + n) for n in range(10)]
                assert not (await publisher.publish(sent)).failed
            finally:
                await publisher.close()
            expected = start + 10
            await wait_until(lambda: len(applier.delivered) >= expected, within=30)  # noqa: B023
    finally:
        await coordinator.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert task.exception() is None


async def test_a_publisher_from_the_callers_client_leaves_it_open() -> None:
    stream = await fresh_stream()
    sent = keyed_batch(40, 4, topic="orders")
    client = await nats.connect(NATS_URL)
    try:
        publisher = JetStreamPublisher.from_client(
            client, topics=TopicMap(stream + ".{topic}"), timeout=10.0
        )
        outcome = await publisher.publish(sent)
        await publisher.close()

        assert len(outcome.delivered) == 40
        assert client.is_connected
        await client.flush(timeout=5)
    finally:
        await client.close()
    received = await stored(stream)
    assert [r.id for r in received] == [m.id for m in sent]  # the batch is grouped by key
    assert [r.payload for r in received] == [m.payload for m in sent]
    assert {r.headers["traceparent"] for r in received} == {TRACEPARENT}
