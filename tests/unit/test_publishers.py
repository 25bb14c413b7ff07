from __future__ import annotations

import asyncio
import base64
import io
import itertools
import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relaybox.core.errors import (
    ConfigurationError,
    KeyBlockedError,
    PermanentError,
    ShutdownReleasedError,
)
from relaybox.core.events import JSON, Message
from relaybox.core.outcome import Outcome
from relaybox.core.stopping import stop_signal
from relaybox.outbox.publishers import CallbackPublisher, JsonLinesPublisher, publish_in_key_order
from relaybox.ports.publisher import Publisher
from relaybox.testing.publisher import MemoryPublisher

_row_ids = itertools.count(1)
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def message(
    key: str | None = None,
    payload: bytes = b'{"n":1}',
    content_type: str = JSON,
    *,
    seq: int | None = None,
) -> Message:
    row_id = next(_row_ids)
    return Message(
        row_id=row_id,
        id=f"id-{row_id}",
        topic="orders",
        key=key,
        seq=seq,
        type="OrderPlaced",
        aggregate_type="Order",
        content_type=content_type,
        payload=payload,
        headers={"traceparent": "00-abc-def-01"},
        created_at=WHEN,
        attempts=2,
    )


def batch(*keys: str | None) -> list[Message]:
    return [message(key) for key in keys]


def ids(messages: object) -> list[str]:
    return [m.id for m in messages]  # type: ignore[attr-defined]


class Recorder:
    """A send function that records messages and fails the ones named in ``failing``."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.sent: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.sent.append(message)
        await asyncio.sleep(0)  # let other keys interleave
        if message.id in self.failing:
            raise OSError(f"broker refused {message.id}")


# --- publish_in_key_order ---------------------------------------------------


async def test_each_keys_messages_are_sent_in_order_and_all_delivered() -> None:
    messages = batch("a", "b", "a", None, "b", "a")
    send = Recorder()
    outcome = await publish_in_key_order(messages, send)
    assert sorted(ids(outcome.delivered)) == sorted(ids(messages))
    for key in ("a", "b"):
        assert [m for m in send.sent if m.key == key] == [m for m in messages if m.key == key]


async def test_a_failure_fails_that_message_and_releases_the_rest_of_its_key() -> None:
    a1, a2, a3, b1, b2 = messages = batch("a", "a", "a", "b", "b")
    send = Recorder(failing={a2.id})
    outcome = await publish_in_key_order(messages, send)
    assert set(ids(outcome.delivered)) == {a1.id, b1.id, b2.id}
    failed = {f.record.id: f for f in outcome.failed}
    assert isinstance(failed[a2.id].error, OSError)
    assert failed[a2.id].attempts == 1
    assert isinstance(failed[a3.id].error, KeyBlockedError)
    assert failed[a3.id].attempts == 0
    assert a3 not in send.sent


async def test_unkeyed_messages_are_independent_of_each_other() -> None:
    first, second, third = messages = batch(None, None, None)
    outcome = await publish_in_key_order(messages, Recorder(failing={first.id}))
    assert ids(outcome.delivered) == [second.id, third.id]
    assert [f.record for f in outcome.failed] == [first]


async def test_keys_are_sent_concurrently() -> None:
    b_sent = asyncio.Event()

    async def send(message: Message) -> None:
        if message.key == "a":
            await b_sent.wait()  # would never return if keys ran one after another
        else:
            b_sent.set()

    outcome = await asyncio.wait_for(publish_in_key_order(batch("a", "b"), send), 10)
    assert outcome.count == len(outcome.delivered) == 2


async def test_no_more_keys_than_the_limit_are_in_flight() -> None:
    in_flight: set[str | None] = set()
    most = 0

    async def send(message: Message) -> None:
        nonlocal most
        in_flight.add(message.key)
        most = max(most, len(in_flight))
        await asyncio.sleep(0)
        in_flight.discard(message.key)

    messages = batch(*"abcdefgh", *"abcdefgh")
    outcome = await publish_in_key_order(messages, send, max_concurrent_keys=3)
    assert len(outcome.delivered) == 16
    assert most == 3


async def test_after_a_stop_no_message_is_started_and_all_are_released() -> None:
    send = Recorder()
    stop = asyncio.Event()
    stop.set()
    with stop_signal(stop):
        outcome = await publish_in_key_order(batch("a", "a", None), send)
    assert send.sent == []
    assert all(isinstance(f.error, ShutdownReleasedError) for f in outcome.failed)
    assert [f.attempts for f in outcome.failed] == [0, 0, 0]


async def test_a_stop_during_a_send_lets_it_finish_and_releases_the_rest() -> None:
    stop = asyncio.Event()
    first, second = messages = batch("a", "a")

    async def send(message: Message) -> None:
        stop.set()

    with stop_signal(stop):
        outcome = await publish_in_key_order(messages, send)
    assert list(outcome.delivered) == [first]
    assert [f.record for f in outcome.failed] == [second]
    assert isinstance(outcome.failed[0].error, ShutdownReleasedError)


async def test_a_failure_during_a_stop_releases_the_rest_for_the_stop() -> None:
    stop = asyncio.Event()
    first, second = messages = batch("a", "a")

    async def send(message: Message) -> None:
        stop.set()
        raise OSError("down")

    with stop_signal(stop):
        outcome = await publish_in_key_order(messages, send)
    errors = {f.record.id: f.error for f in outcome.failed}
    assert isinstance(errors[first.id], OSError)
    assert type(errors[second.id]) is ShutdownReleasedError


async def test_an_empty_batch_sends_nothing() -> None:
    assert (await publish_in_key_order([], Recorder())).count == 0


@pytest.mark.parametrize("limit", [0, -1, True, 1.5])
async def test_the_key_limit_must_be_a_positive_int(limit: object) -> None:
    with pytest.raises(ConfigurationError, match="max_concurrent_keys"):
        await publish_in_key_order(batch("a"), Recorder(), max_concurrent_keys=limit)  # type: ignore[arg-type]


# --- CallbackPublisher ------------------------------------------------------


async def test_callback_publisher_calls_an_async_function_per_message_in_key_order() -> None:
    send = Recorder()
    publisher: Publisher = CallbackPublisher(send)
    messages = batch("a", "b", "a")
    outcome = await publisher.publish(messages)
    assert sorted(ids(outcome.delivered)) == sorted(ids(messages))
    assert [m for m in send.sent if m.key == "a"] == [messages[0], messages[2]]


async def test_callback_publisher_runs_a_plain_def_off_the_event_loop() -> None:
    threads: list[int] = []

    def send(message: Message) -> None:
        threads.append(threading.get_ident())

    outcome = await CallbackPublisher(send).publish(batch("a", None))
    assert len(outcome.delivered) == 2
    assert threading.get_ident() not in threads


async def test_callback_publisher_fails_a_message_whose_call_raises() -> None:
    def send(message: Message) -> None:
        if message.key == "bad":
            raise PermanentError("rejected")

    bad, after, good = messages = batch("bad", "bad", "good")
    outcome = await CallbackPublisher(send).publish(messages)
    assert list(outcome.delivered) == [good]
    errors = {f.record.id: type(f.error) for f in outcome.failed}
    assert errors == {bad.id: PermanentError, after.id: KeyBlockedError}


async def test_callback_publisher_close_can_be_called_twice() -> None:
    publisher = CallbackPublisher(Recorder())
    await publisher.close()
    await publisher.close()


def test_callback_publisher_refuses_bad_settings() -> None:
    with pytest.raises(ConfigurationError, match="fn"):
        CallbackPublisher("not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_concurrent_keys"):
        CallbackPublisher(Recorder(), max_concurrent_keys=0)


# --- JsonLinesPublisher -----------------------------------------------------


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_json_lines_writes_one_object_per_message_with_every_field(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    publisher: Publisher = JsonLinesPublisher(path)
    msg = message("order-1", b'{"total":12.5,"name":"Zo\xc3\xab"}', seq=3)
    outcome = await publisher.publish([msg])
    await publisher.close()
    assert list(outcome.delivered) == [msg]
    assert lines(path) == [
        {
            "id": msg.id,
            "topic": "orders",
            "key": "order-1",
            "seq": 3,
            "type": "OrderPlaced",
            "aggregate_type": "Order",
            "content_type": JSON,
            "headers": {"traceparent": "00-abc-def-01"},
            "created_at": "2024-05-01T12:30:00+00:00",
            "attempts": 2,
            "payload": {"total": 12.5, "name": "Zoë"},
        }
    ]


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        (b"\x00\xffbinary", "application/octet-stream"),
        (b"not json", JSON),  # mislabelled: the exact bytes are kept
        (b"<x/>", "application/xml"),
    ],
)
async def test_json_lines_keeps_other_payloads_as_base64(
    tmp_path: Path, payload: bytes, content_type: str
) -> None:
    path = tmp_path / "out.jsonl"
    publisher = JsonLinesPublisher(path)
    await publisher.publish([message(payload=payload, content_type=content_type)])
    await publisher.close()
    (line,) = lines(path)
    assert "payload" not in line
    assert base64.b64decode(str(line["payload_base64"])) == payload


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/cloudevents+json"]
)
async def test_json_lines_decodes_every_json_content_type(
    tmp_path: Path, content_type: str
) -> None:
    path = tmp_path / "out.jsonl"
    publisher = JsonLinesPublisher(path)
    await publisher.publish([message(payload=b"[1,2]", content_type=content_type)])
    await publisher.close()
    assert lines(path)[0]["payload"] == [1, 2]


async def test_json_lines_opens_lazily_appends_and_reopens_after_close(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    publisher = JsonLinesPublisher(path, fsync=True)
    assert not path.exists()
    await publisher.publish(batch("a", "b"))
    await publisher.close()
    await publisher.close()
    await publisher.publish(batch("c"))
    await publisher.close()
    assert [line["key"] for line in lines(path)] == ["a", "b", "c"]


async def test_json_lines_writes_to_a_given_stream_and_leaves_it_open() -> None:
    stream = io.StringIO()
    publisher = JsonLinesPublisher(stream)
    await publisher.publish(batch("a", None))
    await publisher.close()
    assert not stream.closed
    assert [json.loads(line)["key"] for line in stream.getvalue().splitlines()] == ["a", None]


async def test_json_lines_dash_means_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    publisher = JsonLinesPublisher("-")
    msg = message("a")
    await publisher.publish([msg])
    await publisher.close()
    assert json.loads(capsys.readouterr().out)["id"] == msg.id


async def test_json_lines_fails_the_whole_batch_with_the_os_error(tmp_path: Path) -> None:
    publisher = JsonLinesPublisher(tmp_path / "missing-dir" / "out.jsonl")
    messages = batch("a", "b", None)
    outcome = await publisher.publish(messages)
    assert outcome.delivered == ()
    assert [f.record for f in outcome.failed] == messages
    assert all(isinstance(f.error, FileNotFoundError) for f in outcome.failed)


async def test_json_lines_writes_concurrent_batches_whole(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    publisher = JsonLinesPublisher(path)
    batches = [batch(*[f"k{n}"] * 50) for n in range(8)]
    outcomes = await asyncio.gather(*(publisher.publish(b) for b in batches))
    await publisher.close()
    assert all(len(o.delivered) == 50 for o in outcomes)
    keys = [str(line["key"]) for line in lines(path)]
    runs = [k for k, _ in itertools.groupby(keys)]
    assert sorted(runs) == sorted(f"k{n}" for n in range(8))


def test_json_lines_refuses_a_target_it_cannot_write_to() -> None:
    with pytest.raises(ConfigurationError):
        JsonLinesPublisher("")
    with pytest.raises(ConfigurationError):
        JsonLinesPublisher(42)  # type: ignore[arg-type]


# --- MemoryPublisher --------------------------------------------------------


async def test_memory_publisher_keeps_what_it_delivered_in_order() -> None:
    memory = MemoryPublisher()
    publisher: Publisher = memory
    first, second = batch("a", None), batch("a")
    outcomes = [await publisher.publish(first), await publisher.publish(second)]
    assert [list(o.delivered) for o in outcomes] == [first, second]
    assert memory.published == [*first, *second]
    assert memory.ids() == ids([*first, *second])
    assert memory.by_key() == {"a": [first[0], second[0]], None: [first[1]]}
    assert memory.calls == 2


async def test_memory_publisher_fails_what_fail_names_and_blocks_the_rest_of_its_key() -> None:
    a1, a2, a3, b1, u1 = messages = batch("a", "a", "a", "b", None)
    boom = OSError("injected")
    publisher = MemoryPublisher(fail=lambda m: boom if m is a2 else None)
    outcome = await publisher.publish(messages)
    assert list(outcome.delivered) == [a1, b1, u1]
    assert publisher.published == [a1, b1, u1]
    assert [(f.record, f.error, f.attempts) for f in outcome.failed[:1]] == [(a2, boom, 1)]
    blocked = outcome.failed[1]
    assert (blocked.record, type(blocked.error), blocked.attempts) == (a3, KeyBlockedError, 0)


async def test_memory_publisher_unkeyed_failures_block_nothing() -> None:
    u1, u2 = messages = batch(None, None)
    publisher = MemoryPublisher(fail=lambda m: OSError() if m is u1 else None)
    outcome = await publisher.publish(messages)
    assert list(outcome.delivered) == [u2]


async def test_memory_publisher_outcome_covers_the_batch_exactly() -> None:
    messages = batch("a", "a", "b", None)
    outcome = await MemoryPublisher(fail=lambda m: OSError()).publish(messages)
    assert outcome.reconcile(messages) is outcome
    happy = await MemoryPublisher().publish(messages)
    assert happy.reconcile(messages) is happy
    assert isinstance(happy, Outcome)


async def test_memory_publisher_close_is_recorded_and_idempotent() -> None:
    publisher = MemoryPublisher()
    await publisher.close()
    await publisher.close()
    assert publisher.closed
