"""The Kafka consumer-group source against a real broker (tansu): commits, nacks, groups."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest
from kafka_broker import Tansu, read_back, tansu, unique

from relaybox.adapters.kafka import KafkaPublisher, KafkaRecord, KafkaSource, from_url
from relaybox.adapters.kafka.source import source_from_url
from relaybox.core.errors import PermanentError, TemporaryError
from relaybox.core.outcome import Outcome
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.service.publishers import PublisherOptions
from relaybox.testing import message, wait_until

pytestmark = pytest.mark.integration
__all__ = ["tansu"]


async def produce(
    broker: Tansu, topic: str, count: int, keys: int = 4, *, create: bool = True, start: int = 0
) -> None:
    if create:
        await asyncio.to_thread(broker.create_topic, topic, 1 if keys == 1 else 4)
    kafka: KafkaPublisher = from_url(broker.url(), PublisherOptions())
    try:
        batch = [
            message(n, key=f"k{n % keys}", topic=topic, payload=b"%d" % n)
            for n in range(start, start + count)
        ]
        outcome = await kafka.publish(batch)
        assert len(outcome.delivered) == count
    finally:
        await kafka.close()


def source(broker: Tansu, group: str, topic: str, extra: str = "") -> KafkaSource:
    return source_from_url(
        broker.url(f"group={group}&topics={topic}{extra}"), redelivery_delay=0.05
    )


async def take(records: AsyncIterator[KafkaRecord], count: int) -> list[KafkaRecord]:
    taken: list[KafkaRecord] = []
    async with asyncio.timeout(30):
        async for record in records:
            taken.append(record)
            if len(taken) == count:
                break
    return taken


def numbers(records: Sequence[KafkaRecord]) -> list[int]:
    return [int(r.payload) for r in records]


async def test_a_member_that_dies_before_acking_leaves_its_records_to_be_read_again(
    tansu: Tansu,
) -> None:
    topic, group = unique("commits"), unique("g")
    await produce(tansu, topic, 10, keys=1)
    first = source(tansu, group, topic)
    stream = first.records()
    read = await take(stream, 10)
    for record in read[:3]:
        await first.ack(record)
    await first.ack(read[4])  # acked past an unacked record: the commit must stop at 3
    await stream.aclose()
    await first.close()

    second = source(tansu, group, topic)
    stream = second.records()
    again = await take(stream, 7)
    await stream.aclose()
    await second.close()

    assert numbers(read) == list(range(10))
    assert numbers(again) == list(range(3, 10))
    assert again[0].id == read[3].id
    assert (again[0].key, again[0].topic, again[0].headers) == ("k0", topic, {})


async def test_a_nacked_record_is_offered_again_with_the_rest_of_its_partition_in_order(
    tansu: Tansu,
) -> None:
    topic = unique("nacks")
    await produce(tansu, topic, 6, keys=1)
    member = source(tansu, unique("g"), topic)
    stream = member.records()
    try:
        read = await take(stream, 4)
        await member.ack(read[0])
        await member.ack(read[1])
        await member.nack(read[2], TemporaryError("downstream hiccup"))
        await member.ack(read[3])  # read after the nacked one: dropped, read again
        again = await take(stream, 4)
    finally:
        await stream.aclose()
        await member.close()
    assert numbers(read) == [0, 1, 2, 3]
    assert numbers(again) == [2, 3, 4, 5]


async def test_a_permanent_failure_goes_to_the_dead_letter_topic_and_is_not_read_again(
    tansu: Tansu,
) -> None:
    topic, dead = unique("orders"), unique("dead")
    await produce(tansu, topic, 3, keys=1)
    group = unique("g")
    member = source(tansu, group, topic, f"&dead_letter={dead}")
    stream = member.records()
    try:
        read = await take(stream, 3)
        await member.ack(read[0])
        await member.nack(read[1], PermanentError("bad schema"))
        await member.ack(read[2])
    finally:
        await stream.aclose()
        await member.close()
    [letter] = await asyncio.to_thread(read_back, tansu.bootstrap, dead, 1)
    headers = dict(letter.headers() or [])
    assert letter.value() == b"1"
    assert headers["error"] == b"PermanentError: bad schema"
    assert headers["event-id"] == read[1].id.encode()
    assert headers["origin"] == f"{topic}/0/{read[1].offset}".encode()


class Recorder:
    """An applier that keeps what it saw."""

    def __init__(self) -> None:
        self.seen: list[KafkaRecord] = []

    async def apply(self, records: Sequence[KafkaRecord]) -> Outcome[KafkaRecord]:
        self.seen.extend(records)
        return Outcome.all_delivered(records)


async def test_two_members_of_a_group_share_the_partitions_and_see_each_message_once(
    tansu: Tansu,
) -> None:
    topic, group = unique("shared"), unique("g")
    await asyncio.to_thread(tansu.create_topic, topic, 4)
    members = [source(tansu, group, topic) for _ in range(2)]
    appliers = [Recorder(), Recorder()]
    coordinators = [
        StreamingCoordinator(m, a, batch_size=50, max_wait=0.05)
        for m, a in zip(members, appliers, strict=True)
    ]
    async with asyncio.TaskGroup() as group_tasks:
        for coordinator in coordinators:
            group_tasks.create_task(coordinator.run())
        try:
            await wait_until(
                lambda: (
                    all(m.partitions for m in members)
                    and sum(len(m.partitions) for m in members) == 4
                ),
                within=30,
                what="both members to own partitions",
            )
            await produce(tansu, topic, 400, keys=8, create=False)
            await wait_until(
                lambda: sum(len(a.seen) for a in appliers) >= 400, within=30, what="all 400"
            )
        finally:
            for coordinator in coordinators:
                await coordinator.stop()

    everything = [r.id for a in appliers for r in a.seen]
    assert len(everything) == len(set(everything)) == 400
    assert all(a.seen for a in appliers)
    for applier in appliers:
        per_key: dict[str | None, list[int]] = {}
        for record in applier.seen:
            per_key.setdefault(record.key, []).append(int(record.payload))
        assert all(values == sorted(values) for values in per_key.values())


async def test_a_rebalance_waits_for_records_in_flight_so_the_new_owner_never_repeats_them(
    tansu: Tansu,
) -> None:
    topic, group = unique("rebalance"), unique("g")
    await produce(tansu, topic, 40, keys=8)  # four partitions
    first = source_from_url(tansu.url(f"group={group}&topics={topic}"), revoke_grace=20.0)
    second = source(tansu, group, topic)
    seen: dict[str, list[KafkaRecord]] = {"first": [], "second": []}

    async def keep_reading(member: KafkaSource, name: str) -> None:
        async for record in member.records():
            seen[name].append(record)
            if name == "second":
                await member.ack(record)

    async with asyncio.TaskGroup() as tasks:
        readers = [tasks.create_task(keep_reading(first, "first"))]
        try:
            await wait_until(lambda: len(seen["first"]) == 40, within=30, what="all 40 read")
            readers.append(tasks.create_task(keep_reading(second, "second")))
            await wait_until(lambda: first.revoking, within=30, what="the rebalance to wait")
            for record in seen["first"]:  # the records in flight settle during the wait
                await first.ack(record)
            await wait_until(lambda: second.partitions, within=30, what="the second to own some")
            await produce(tansu, topic, 40, keys=8, create=False, start=40)
            await wait_until(
                lambda: len(seen["first"]) + len(seen["second"]) >= 80, within=30, what="all 80"
            )
        finally:
            for reader in readers:
                reader.cancel()
    await first.close()
    await second.close()
    ids = [r.id for r in seen["first"] + seen["second"]]
    assert len(ids) == len(set(ids)) == 80
