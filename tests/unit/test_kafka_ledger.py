"""What a Kafka consumer may commit, and how a batch's delivery reports become an outcome."""

from __future__ import annotations

from relaybox.adapters.kafka.delivery import Deliveries
from relaybox.adapters.kafka.offsets import Ledger
from relaybox.adapters.kafka.record import KafkaRecord
from relaybox.core.errors import (
    DestinationUnavailableError,
    KeyBlockedError,
    PermanentError,
    ReleasedError,
)
from relaybox.testing import message

P = ("orders", 0)


def record(offset: int, partition: int = 0) -> KafkaRecord:
    return KafkaRecord(
        id=f"e{offset}",
        key="k",
        topic="orders",
        type="",
        content_type="application/json",
        headers={},
        payload=b"{}",
        kafka_topic="orders",
        partition=partition,
        offset=offset,
    )


def handed(ledger: Ledger, *offsets: int) -> list[KafkaRecord]:
    epoch = ledger.epochs()[P]
    records = [record(o) for o in offsets]
    assert all(ledger.hand(r, epoch) for r in records)
    return records


def test_the_commit_point_stops_at_the_first_unacked_record() -> None:
    ledger = Ledger()
    ledger.assign([P])
    r = handed(ledger, 10, 11, 12, 13)
    ledger.ack(r[0])
    ledger.ack(r[2])
    assert ledger.commits() == {P: 11}
    ledger.committed({P: 11})
    assert ledger.commits() == {}
    ledger.ack(r[1])
    assert ledger.commits() == {P: 13}


def test_a_rewind_drops_later_records_and_refuses_those_read_before_it() -> None:
    ledger = Ledger()
    ledger.assign([P])
    old_epoch = ledger.epochs()[P]
    r = handed(ledger, 0, 1, 2, 3)
    ledger.ack(r[0])
    assert ledger.rewind(r[1], delay=0.0)
    ledger.ack(r[2])  # stale: read after the rewound record, it will be read again
    assert ledger.commits() == {P: 1}
    assert not ledger.hand(record(4), old_epoch)
    assert set(ledger.seeks()) == {P}
    assert ledger.seeks() == {}
    again = record(1)
    assert ledger.hand(again, ledger.epochs()[P])
    ledger.ack(again)
    assert ledger.commits() == {P: 2}


def test_a_revoked_partition_is_no_longer_handed_out_and_late_acks_change_nothing() -> None:
    ledger = Ledger()
    ledger.assign([P])
    r = handed(ledger, 0, 1)
    epoch = ledger.epochs()[P]
    ledger.ack(r[0])
    ledger.revoke([P], grace=0.0)
    assert not ledger.hand(record(2), epoch)
    assert ledger.commits([P]) == {P: 1}
    ledger.forget([P])
    ledger.ack(r[1])
    assert ledger.commits() == {}
    assert ledger.owned() == []


def test_a_failed_message_releases_its_keys_later_messages_even_when_stored() -> None:
    batch = [message(1, key="a"), message(2, key="a"), message(3, key="a"), message(4, key="b")]
    deliveries = Deliveries(batch)
    deliveries.delivered(0)
    deliveries.failed(1, PermanentError("too large"))
    deliveries.delivered(2)  # stored by the broker, but after a failure of its key
    deliveries.expire(DestinationUnavailableError())

    outcome = deliveries.outcome()

    assert [m.row_id for m in outcome.delivered] == [1]
    errors = {f.record.row_id: (type(f.error), f.attempts) for f in outcome.failed}
    assert errors == {
        2: (PermanentError, 1),
        3: (KeyBlockedError, 0),
        4: (DestinationUnavailableError, 1),
    }
    assert deliveries.all_unavailable() is None


def test_an_aborted_transaction_releases_what_the_broker_stored() -> None:
    deliveries = Deliveries([message(1, key="a"), message(2)])
    deliveries.delivered(0)
    deliveries.abort(DestinationUnavailableError("commit failed"))
    outcome = deliveries.outcome()
    assert not outcome.delivered
    assert isinstance(outcome.failed[0].error, ReleasedError)
    assert isinstance(outcome.failed[1].error, DestinationUnavailableError)


def test_a_kafka_url_refuses_unknown_options_and_unset_secrets() -> None:
    import pytest

    from relaybox.adapters.kafka import KafkaSettings
    from relaybox.core.errors import ConfigurationError
    from relaybox.service.publishers import SCHEMES, factory_for

    with pytest.raises(ConfigurationError, match="unknown option 'ack'"):
        KafkaSettings.parse("kafka://h:9092?ack=all", {})
    with pytest.raises(ConfigurationError, match="'NOPE', which is unset"):
        KafkaSettings.parse("kafka://h:9092?password_env=NOPE", {})
    assert not KafkaSettings.parse("kafka://h:9092?acks=1", {}).idempotent
    assert SCHEMES["kafka"] == "relaybox.adapters.kafka:from_url"
    assert factory_for("kafka").__name__ == "from_url"


def test_driver_errors_map_to_unavailable_or_to_a_fault_of_the_message() -> None:
    from confluent_kafka import KafkaError

    from relaybox.adapters.kafka.errors import mapped
    from relaybox.core.errors import TemporaryError, is_unavailable

    for code in (
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.INVALID_RECORD,
    ):
        assert isinstance(mapped(KafkaError(code)), PermanentError), code
    for code in (
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._MSG_TIMED_OUT,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.LEADER_NOT_AVAILABLE,
    ):
        assert is_unavailable(mapped(KafkaError(code))), code
    other = mapped(KafkaError(KafkaError.POLICY_VIOLATION))
    assert isinstance(other, TemporaryError)
    assert not is_unavailable(other)
