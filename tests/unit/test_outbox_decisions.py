"""What the relay decides for each claimed event, and how a claim picks its lanes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from relaybox.core.backoff import FixedBackoff, LinearBackoff
from relaybox.core.errors import (
    ConfigurationError,
    DestinationUnavailableError,
    KeyBlockedError,
    PermanentError,
    ShutdownReleasedError,
    TemporaryError,
)
from relaybox.core.events import Message
from relaybox.core.outcome import Failure, Outcome
from relaybox.outbox.decisions import decide, describe
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.settling import LaneUpdate, SettlePlan
from relaybox.ports.store import Claim, Dead, Retry, Settlement
from relaybox.testing.messages import message as make_message


def message(row_id: int, key: str | None = "a", attempts: int = 0) -> Message:
    return make_message(row_id, key=key, attempts=attempts, topic="t")


def claim_of(*messages: Message) -> Claim:
    return Claim("me", 7, tuple(dict.fromkeys(m.lane for m in messages)), messages)


SETTINGS = RelaySettings(max_attempts=3, backoff=FixedBackoff(5.0))


def test_delivered_events_are_deleted_and_released_ones_untouched() -> None:
    a, b = message(1), message(2)
    outcome = Outcome(delivered=[a], failed=[Failure(b, KeyBlockedError(), 0)])
    settlement = decide(claim_of(a, b), outcome, SETTINGS)
    assert list(settlement.delivered) == [a]
    assert (settlement.retry, settlement.dead, settlement.hold) == ([], [], {})


def test_a_temporary_failure_is_retried_after_the_backoff_and_holds_its_key() -> None:
    a = message(1)
    settlement = decide(claim_of(a), Outcome(failed=[Failure(a, TemporaryError("x"))]), SETTINGS)
    [retry] = settlement.retry
    assert (retry.delay, retry.error) == (5.0, "TemporaryError: x")
    assert settlement.hold == {"k:a": 5.0}


def test_retry_after_hints_stretch_the_backoff() -> None:
    a = message(1, key=None)
    error = TemporaryError("slow down", retry_after=60.0)
    settlement = decide(claim_of(a), Outcome(failed=[Failure(a, error)]), SETTINGS)
    assert settlement.retry[0].delay == 60.0
    assert settlement.hold == {}


def test_the_backoff_grows_with_the_attempts_already_made() -> None:
    settings = RelaySettings(max_attempts=10, backoff=LinearBackoff(step=2.0))
    a = message(1, attempts=3)
    settlement = decide(claim_of(a), Outcome(failed=[Failure(a, TemporaryError())]), settings)
    assert settlement.retry[0].delay == 8.0


def test_the_last_allowed_attempt_makes_a_dead_letter_that_parks_its_key() -> None:
    a = message(1, attempts=2)
    settlement = decide(claim_of(a), Outcome(failed=[Failure(a, TemporaryError("x"))]), SETTINGS)
    [dead] = settlement.dead
    assert (dead.attempts, dead.error, dead.error_type) == (
        3,
        "TemporaryError: x",
        "TemporaryError",
    )
    assert settlement.park == {"k:a": ("id-1", "TemporaryError: x")}


def test_a_permanent_error_is_dead_at_once_and_continue_leaves_the_key_open() -> None:
    settings = RelaySettings(on_key_failure="continue")
    a = message(1)
    settlement = decide(claim_of(a), Outcome(failed=[Failure(a, PermanentError("bad"))]), settings)
    assert settlement.dead[0].attempts == 1
    assert settlement.park == {}


def test_a_stop_releases_without_an_attempt() -> None:
    a = message(1)
    outcome = Outcome(failed=[Failure(a, ShutdownReleasedError(), 0)])
    settlement = decide(claim_of(a), outcome, SETTINGS)
    assert (settlement.retry, settlement.dead) == ([], [])


def test_stored_errors_are_cut_on_a_code_point() -> None:
    text = describe(TemporaryError("é" * 5000))
    assert len(text) == 4000
    text.encode("utf-8")


def test_a_plan_changes_only_the_lanes_that_must_wait_or_stop() -> None:
    a, b, c = message(1, "a"), message(2, "b"), message(3, "c")
    settlement = Settlement(
        delivered=[a],
        retry=[Retry(b, 30.0, "TemporaryError: busy")],
        dead=[Dead(c, "PermanentError: bad", "PermanentError", 1)],
        hold={"k:b": 30.0},
        park={"k:c": (c.id, "PermanentError: bad")},
    )

    plan = SettlePlan.build(claim_of(a, b, c), settlement)

    assert (plan.delivered, plan.settled) == ([1], 3)
    assert plan.lanes == [
        LaneUpdate("k:b", hold=30.0),
        LaneUpdate("k:c", park_event_id=c.id, park_reason="PermanentError: bad"),
    ]
    assert settlement.decided() == (a, b, c)


@pytest.mark.parametrize(
    "options",
    [
        {"batch_size": 0},
        {"lease": 0},
        {"max_attempts": 0},
        {"poll_min": 2.0, "poll_max": 1.0},
        {"on_key_failure": "skip"},
        {"cleanup_interval": -1},
        {"owner": ""},
    ],
)
def test_invalid_relay_settings_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        RelaySettings(**options)  # type: ignore[arg-type]


def test_a_call_that_failed_as_a_whole_waits_the_outage_pause_and_counts_no_attempt() -> None:
    a = message(1, attempts=2)  # the last attempt of SETTINGS
    outage = Failure(a, RuntimeError("broker down"), fatal=True)
    settlement = decide(claim_of(a), Outcome(failed=[outage]), SETTINGS, pause=7.0)
    assert settlement.dead == []
    [retry] = settlement.retry
    assert (retry.delay, retry.counted) == (7.0, False)
    assert settlement.hold == {"k:a": 7.0}


@pytest.mark.parametrize(
    "error",
    [ConnectionRefusedError("refused"), TimeoutError("slow"), DestinationUnavailableError("down")],
)
def test_per_event_unavailability_counts_no_attempt(error: Exception) -> None:
    a = message(1, attempts=2)
    settlement = decide(claim_of(a), Outcome(failed=[Failure(a, error)]), SETTINGS, pause=3.0)
    assert settlement.dead == []
    assert [(r.counted, r.delay) for r in settlement.retry] == [(False, 3.0)]


def test_a_permanent_error_is_never_taken_for_an_outage() -> None:
    a = message(1)
    outcome = Outcome(failed=[Failure(a, PermanentError("bad"), fatal=True)])
    assert [d.error_type for d in decide(claim_of(a), outcome, SETTINGS).dead] == ["PermanentError"]


def test_max_age_dead_letters_an_outage_only_when_asked_and_says_why() -> None:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    a = message(1)
    a.first_failed_at = first
    outcome = Outcome(failed=[Failure(a, ConnectionError("refused"))])
    later = first + timedelta(hours=2)
    assert decide(claim_of(a), outcome, SETTINGS, now=later).dead == []
    settings = RelaySettings(max_attempts=3, max_age=3600.0)
    [dead] = decide(claim_of(a), outcome, settings, now=later).dead
    assert dead.error_type == "DestinationUnavailableError"
    assert "longer than max_age (3600 s)" in dead.error
    assert "ConnectionError: refused" in dead.error
    assert decide(claim_of(a), outcome, settings, now=first + timedelta(minutes=5)).dead == []
