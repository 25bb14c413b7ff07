"""The relay's key-order gate between any middleware and the publisher."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from relaybox.core.errors import KeyBlockedError, TemporaryError
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.key_order import KeyOrder
from relaybox.testing.messages import message
from relaybox.testing.publisher import MemoryPublisher


class Calls:
    def __init__(self, publisher: MemoryPublisher) -> None:
        self.publisher = publisher
        self.seen: list[list[int | None]] = []

    async def apply(self, records: Sequence[Message], /) -> Outcome[Message]:
        self.seen.append([m.seq for m in records])
        await asyncio.sleep(0)  # in flight: another call may run now
        return await self.publisher.publish(records)


def claim(*keys: str | None) -> list[Message]:
    seqs: dict[str | None, int] = {}
    made = []
    for row_id, key in enumerate(keys, 1):
        seqs[key] = seqs.get(key, 0) + 1
        made.append(message(row_id, key=key, seq=seqs[key] if key else None))
    return made


async def test_the_whole_claim_in_order_passes_untouched() -> None:
    messages = claim("a", "a", "b")
    inner = Calls(MemoryPublisher())
    gate = KeyOrder(inner)
    gate.begin(messages)
    outcome = await gate.apply(messages)
    assert list(outcome.delivered) == messages
    assert inner.seen == [[1, 2, 1]]


async def test_a_later_event_waits_for_an_earlier_one_sent_elsewhere() -> None:
    a1, a2, a3 = claim("a", "a", "a")
    inner = Calls(MemoryPublisher())
    gate = KeyOrder(inner)
    gate.begin([a1, a2, a3])
    outcome = await gate.apply([a3])  # its predecessors have not gone out
    assert [type(f.error) for f in outcome.failed] == [KeyBlockedError]
    assert inner.seen == []
    await gate.apply([a1, a2])
    assert list((await gate.apply([a3])).delivered) == [a3]


async def test_a_call_is_put_back_in_claim_order_and_a_failure_stops_its_key() -> None:
    a1, a2, b1 = claim("a", "a", "b")

    def fail(m: Message) -> Exception | None:
        return TemporaryError("no") if m is a1 else None

    inner = Calls(MemoryPublisher(fail))
    gate = KeyOrder(inner)
    gate.begin([a1, a2, b1])
    outcome = await gate.apply([b1, a2, a1])
    assert inner.seen == [[1, 2, 1]]  # a1, a2, b1: a's in order
    assert list(outcome.delivered) == [b1]
    later = await gate.apply([a2])  # a retry of a2 alone: a1 failed, a stays shut
    assert [type(f.error) for f in later.failed] == [KeyBlockedError]


async def test_concurrent_calls_never_send_a_key_out_of_order() -> None:
    a1, a2 = claim("a", "a")
    inner = Calls(MemoryPublisher())
    gate = KeyOrder(inner)
    gate.begin([a1, a2])
    first, second = await asyncio.gather(gate.apply([a1]), gate.apply([a2]))
    assert list(first.delivered) == [a1]
    assert [type(f.error) for f in second.failed] == [KeyBlockedError]


async def test_unkeyed_events_are_never_held() -> None:
    u1, u2 = claim(None, None)
    gate = KeyOrder(Calls(MemoryPublisher()))
    gate.begin([u1, u2])
    assert list((await gate.apply([u2])).delivered) == [u2]
