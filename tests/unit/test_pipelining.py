"""Pipelined publishing: batch order on the wire, per-key blocking, a bounded call."""

from __future__ import annotations

import asyncio

import pytest

from relaybox.adapters.rabbitmq import RabbitAddress
from relaybox.core.errors import (
    ConfigurationError,
    DestinationUnavailableError,
    KeyBlockedError,
    PermanentError,
)
from relaybox.core.events import Message
from relaybox.outbox.pipelining import publish_pipelined
from relaybox.testing import message


class Wire:
    """Records write order; acks after a yield, failing or never acking as told."""

    def __init__(self, fail: set[int] = frozenset(), hang: set[int] = frozenset()) -> None:
        self.written: list[int] = []
        self.in_flight = self.most_in_flight = 0
        self._fail, self._hang = fail, hang

    async def send(self, m: Message) -> None:
        self.written.append(m.row_id)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            if m.row_id in self._hang:
                await asyncio.Event().wait()
            if m.row_id in self._fail:
                raise PermanentError(f"refused {m.row_id}")
        finally:
            self.in_flight -= 1


def batch() -> list[Message]:
    return [message(n, key=f"k{n % 3}") for n in range(1, 13)]


async def test_every_message_is_written_in_batch_order_within_the_window() -> None:
    wire = Wire()
    outcome = await publish_pipelined(batch(), wire.send, window=4, within=5)
    assert wire.written == list(range(1, 13))
    assert wire.most_in_flight == 4
    assert [m.row_id for m in outcome.delivered] == list(range(1, 13))


async def test_a_failure_fails_alone_and_releases_the_rest_of_its_key() -> None:
    outcome = await publish_pipelined(batch(), Wire(fail={4}).send, window=100, within=5)
    errors = {f.record.row_id: f.error for f in outcome.failed}
    assert isinstance(errors.pop(4), PermanentError)
    assert sorted(errors) == [7, 10]
    assert all(isinstance(e, KeyBlockedError) for e in errors.values())
    assert all(f.attempts == 0 for f in outcome.failed if f.record.row_id != 4)
    assert sorted(m.row_id for m in outcome.delivered) == [1, 2, 3, 5, 6, 8, 9, 11, 12]


async def test_a_key_that_failed_is_not_sent_further() -> None:
    wire = Wire(fail={1})
    await publish_pipelined(batch(), wire.send, window=1, within=5)
    assert [n for n in wire.written if n % 3 == 1] == [1]


async def test_a_message_refused_before_the_wire_holds_back_its_key_already_queued() -> None:
    async def send(m: Message) -> None:
        if m.row_id == 1:
            raise PermanentError("refused before writing")  # no suspension first
        written.append(m.row_id)

    written: list[int] = []
    outcome = await publish_pipelined(batch(), send, window=100, within=5)
    assert [n for n in written if n % 3 == 1] == []
    assert sorted(f.record.row_id for f in outcome.failed) == [1, 4, 7, 10]


async def test_unacknowledged_messages_fail_as_unavailable_when_time_is_up() -> None:
    outcome = await publish_pipelined(batch(), Wire(hang={2}).send, window=100, within=0.05)
    errors = {f.record.row_id: f.error for f in outcome.failed}
    assert isinstance(errors[2], DestinationUnavailableError)
    assert "0.05" in str(errors[2])
    assert all(isinstance(errors[n], KeyBlockedError) for n in (5, 8, 11))
    assert len(outcome.delivered) == 8


async def test_the_window_must_be_positive() -> None:
    with pytest.raises(ConfigurationError):
        await publish_pipelined(batch(), Wire().send, window=0, within=1)


def test_a_rabbitmq_destination_names_exchange_and_routing_key() -> None:
    plain = RabbitAddress.parse("amqp://u:p@h:5672/vh?heartbeat=30")
    assert plain.route("orders") == ("", "orders")
    assert plain.route("events/orders.paid") == ("events", "orders.paid")
    assert plain.url == "amqp://u:p@h:5672/vh?heartbeat=30"
    fixed = RabbitAddress.parse("amqp://h/?exchange=events&window=50&transient=1")
    assert fixed.route("a/b") == ("events", "a/b")
    assert (fixed.window, fixed.persistent) == (50, False)
    hidden = RabbitAddress.parse("amqp://app@h/?password_env=PW", environ={"PW": "s3cr:t"})
    assert hidden.url == "amqp://app:s3cr%3At@h/"
    assert "s3cr" not in repr(hidden)
    with pytest.raises(ConfigurationError, match="'NOPE'"):
        RabbitAddress.parse("amqp://h/?password_env=NOPE", environ={})
