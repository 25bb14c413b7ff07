"""The Kafka publisher against a real broker (tansu): delivery, headers, order, failures."""

from __future__ import annotations

import asyncio
import time

import pytest
from confluent_kafka import Producer
from kafka_broker import Tansu, free_port, own_broker, read_back, tansu, unique

from relaybox.adapters.kafka import KafkaPublisher, KafkaSettings, from_url
from relaybox.core.errors import DestinationUnavailableError, KeyBlockedError, PermanentError
from relaybox.outbox.routing import TopicMap
from relaybox.service.publishers import PublisherOptions, publisher_for
from relaybox.testing import message

pytestmark = pytest.mark.integration
__all__ = ["own_broker", "tansu"]

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def publisher(broker: Tansu, query: str = "", timeout: float = 10.0) -> KafkaPublisher:
    return from_url(broker.url(query), PublisherOptions(timeout=timeout))


async def test_a_keyed_batch_arrives_intact_with_its_headers_in_key_order(tansu: Tansu) -> None:
    topic = unique("orders")
    await asyncio.to_thread(tansu.create_topic, topic, 3)
    batch = [
        message(
            n,
            key=f"k{n % 5}",
            topic=topic,
            payload=b'{"n": %d}' % n,
            type="Placed",
            headers={"traceparent": TRACE, "tenant": "t1"},
        )
        for n in range(200)
    ] + [message(1000 + n, topic=topic, payload=bytes([n, 0, 255])) for n in range(10)]
    kafka = publisher(tansu)
    try:
        outcome = await kafka.publish(batch)
    finally:
        await kafka.close()

    assert len(outcome.delivered) == 210
    assert not outcome.failed
    read = await asyncio.to_thread(read_back, tansu.bootstrap, topic, 210)
    assert len(read) == 210
    by_key: dict[bytes | None, list[int]] = {}
    for m in read:
        headers = dict(m.headers() or [])
        by_key.setdefault(m.key(), []).append(int(headers["event-id"].decode()[3:]))
        assert headers["event-topic"] == topic.encode()
        if m.key() is not None:
            assert headers["traceparent"] == TRACE.encode()
            assert headers["tenant"] == b"t1"
            assert headers["event-type"] == b"Placed"
            assert headers["content-type"] == b"application/json"
            assert m.value() == b'{"n": %d}' % int(headers["event-id"].decode()[3:])
    for k in range(5):
        assert by_key[f"k{k}".encode()] == list(range(k, 200, 5))
    assert sorted(m.value() for m in read if m.key() is None) == sorted(
        bytes([n, 0, 255]) for n in range(10)
    )


async def test_the_topic_map_names_the_kafka_topic(tansu: Tansu) -> None:
    topic = unique("mapped")
    options = PublisherOptions(topics=TopicMap("app.{topic}"))
    kafka = publisher_for(tansu.url(), options)
    try:
        outcome = await kafka.publish([message(1, key="a", topic=topic)])
    finally:
        await kafka.close()
    assert len(outcome.delivered) == 1
    [read] = await asyncio.to_thread(read_back, tansu.bootstrap, f"app.{topic}", 1)
    assert dict(read.headers() or [])["event-topic"] == topic.encode()


async def test_a_message_over_the_size_limit_fails_alone_and_blocks_only_its_key(
    tansu: Tansu,
) -> None:
    topic = unique("sizes")
    big = b"x" * 2_000_000  # over librdkafka's message.max.bytes (1 MB)
    batch = [
        message(1, key="a", topic=topic),
        message(2, key="a", topic=topic, payload=big),
        message(3, key="a", topic=topic),
        message(4, key="b", topic=topic),
        message(5, topic=topic, payload=big),
        message(6, topic=topic),
    ]
    kafka = publisher(tansu)
    try:
        outcome = await kafka.publish(batch)
    finally:
        await kafka.close()

    assert sorted(m.row_id for m in outcome.delivered) == [1, 4, 6]
    errors = {f.record.row_id: f.error for f in outcome.failed}
    assert isinstance(errors[2], PermanentError)
    assert isinstance(errors[5], PermanentError)
    assert isinstance(errors[3], KeyBlockedError)
    assert [f.attempts for f in outcome.failed if f.record.row_id == 3] == [0]


async def test_an_unreachable_broker_is_unavailable_within_the_timeout() -> None:
    kafka = from_url(f"kafka://127.0.0.1:{free_port()}", PublisherOptions(timeout=1.5))
    started = time.monotonic()
    try:
        with pytest.raises(DestinationUnavailableError):
            await kafka.publish([message(1, key="a"), message(2, key="a"), message(3)])
    finally:
        await kafka.close()
    assert time.monotonic() - started < 1.5 + 2.0  # bounded by the timeout, not by librdkafka


async def test_a_killed_broker_is_unavailable_and_a_restarted_one_is_published_to_again(
    own_broker: Tansu,
) -> None:
    topic = unique("restart")
    await asyncio.to_thread(own_broker.create_topic, topic, 3)
    kafka = publisher(own_broker, timeout=1.0)
    try:
        assert len((await kafka.publish([message(1, key="a", topic=topic)])).delivered) == 1
        own_broker.kill()
        with pytest.raises(DestinationUnavailableError):
            await kafka.publish([message(2, key="a", topic=topic)])
        own_broker.start()  # memory storage: topics and producer ids are gone
        await asyncio.to_thread(own_broker.create_topic, topic, 3)
        # The first calls after the restart may time out while the producer reconnects, then
        # meet its fatal UNKNOWN_PRODUCER_ID; each fails as unavailable, and a new producer
        # takes over.
        outcome = None
        give_up = time.monotonic() + 20
        while outcome is None:
            try:
                outcome = await kafka.publish([message(2, key="a", topic=topic)])
            except DestinationUnavailableError:
                if time.monotonic() > give_up:
                    raise
    finally:
        await kafka.close()
    assert outcome is not None
    assert [m.row_id for m in outcome.delivered] == [2], outcome.failed
    [read] = await asyncio.to_thread(read_back, own_broker.bootstrap, topic, 1)
    assert dict(read.headers() or [])["event-id"] == b"id-2"


async def test_transactional_batches_are_committed(tansu: Tansu) -> None:
    topic = unique("txn")
    kafka = publisher(tansu, f"transactional_id={unique('relay')}")
    try:
        first = await kafka.publish([message(n, key="a", topic=topic) for n in range(5)])
        second = await kafka.publish([message(n, key="b", topic=topic) for n in range(5, 8)])
    finally:
        await kafka.close()
    assert len(first.delivered) == 5
    assert len(second.delivered) == 3
    # tansu stores aborted records and shows them to read_committed readers too, so
    # only a committed transaction's records are checked here, not an abort's invisibility.
    read = await asyncio.to_thread(read_back, tansu.bootstrap, topic, 8)
    assert len(read) == 8


async def test_a_transaction_leaves_out_a_message_too_large_and_commits_the_rest(
    tansu: Tansu,
) -> None:
    topic = unique("txn-sizes")
    kafka = publisher(tansu, f"transactional_id={unique('relay')}")
    batch = [
        message(1, key="a", topic=topic),
        message(2, key="a", topic=topic, payload=b"x" * 2_000_000),
        message(3, key="a", topic=topic),
        message(4, key="b", topic=topic),
    ]
    try:
        outcome = await kafka.publish(batch)
    finally:
        await kafka.close()
    assert sorted(m.row_id for m in outcome.delivered) == [1, 4], outcome.failed
    errors = {f.record.row_id: type(f.error) for f in outcome.failed}
    assert errors == {2: PermanentError, 3: KeyBlockedError}


def test_url_options_reach_the_client_and_secrets_come_from_the_environment() -> None:
    settings = KafkaSettings.parse(
        "kafka://h1:9092,h2:9092?acks=all&compression=lz4&security_protocol=SASL_SSL"
        "&sasl_mechanism=PLAIN&username=relay&password_env=KAFKA_PW&transactional_id=t1",
        {"KAFKA_PW": "s3cret"},
    )
    assert settings.client["bootstrap.servers"] == "h1:9092,h2:9092"
    assert settings.client["sasl.password"] == "s3cret"
    assert settings.client["compression.type"] == "lz4"
    assert settings.transactional_id == "t1"
    assert settings.idempotent
    assert "s3cret" not in repr(KafkaPublisher(settings))


async def test_a_publisher_through_the_callers_producer_leaves_it_usable(tansu: Tansu) -> None:
    topic = unique("orders")
    await asyncio.to_thread(tansu.create_topic, topic, 3)
    producer = Producer(
        {"bootstrap.servers": tansu.bootstrap, "acks": "all", "enable.idempotence": True}
    )
    batch = [
        message(n, key=f"k{n % 4}", topic="orders", headers={"traceparent": TRACE})
        for n in range(40)
    ]
    kafka = KafkaPublisher.from_producer(producer, topics=TopicMap(overrides={"orders": topic}))
    outcome = await kafka.publish(batch)
    await kafka.close()

    assert len(outcome.delivered) == 40
    producer.produce(topic, b"the caller's own", key=b"mine")  # still the caller's to use
    assert await asyncio.to_thread(producer.flush, 10) == 0
    read = await asyncio.to_thread(read_back, tansu.bootstrap, topic, 41)
    ids: dict[bytes | None, list[int]] = {}
    for m in read:
        headers = dict(m.headers() or [])
        if m.key() != b"mine":
            assert headers["traceparent"] == TRACE.encode()
            ids.setdefault(m.key(), []).append(int(headers["event-id"].decode()[3:]))
    assert sorted(n for got in ids.values() for n in got) == list(range(40))
    assert all(got == sorted(got) for got in ids.values())
