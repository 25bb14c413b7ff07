from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from relaybox.core.errors import (
    ConfigurationError,
    DeadLetterError,
    PermanentError,
    ValidationError,
)
from relaybox.core.outcome import Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.validation import (
    Validator,
    in_range,
    matches,
    matches_pattern,
    not_empty,
    not_none,
    positive,
    validate,
)
from relaybox.ports.dead_letters import DeadLetter
from relaybox.testing import FakeClock, ScriptedApplier


@dataclass(eq=False)
class Order:
    id: str
    amount: float = 1
    email: str | None = "a@example.com"


class ListQueue:
    """A minimal dead-letter queue keeping letters in a list."""

    def __init__(self, *, broken: bool = False) -> None:
        self.letters: list[DeadLetter[Order]] = []
        self.broken = broken

    async def put(self, letter: DeadLetter[Order], /) -> None:
        if self.broken:
            raise OSError("queue down")
        self.letters.append(letter)

    async def peek(self, limit: int | None = None, /) -> Sequence[DeadLetter[Order]]:
        return self.letters[:limit]

    async def remove(self, letter_id: str, /) -> DeadLetter[Order]:
        raise NotImplementedError

    async def count(self) -> int:
        return len(self.letters)


def order_id(order: Order) -> str:
    return order.id


def get_amount(order: Order) -> float:
    return order.amount


def email(order: Order) -> str | None:
    return order.email


has_id = not_empty(order_id, "id")
has_amount = positive(get_amount, "amount")


# -- built-in validators ------------------------------------------------------


def test_not_empty_rejects_none_and_empty_values() -> None:
    check = not_empty(email, "email")
    assert check(Order("1", email="")) == "email is required"
    assert check(Order("1", email=None)) == "email is required"
    assert check(Order("1", email="x")) is None


def test_not_none_rejects_only_none() -> None:
    check = not_none(email, "email")
    assert check(Order("1", email=None)) == "email is required"
    assert check(Order("1", email="")) is None


@pytest.mark.parametrize(("amount", "valid"), [(1, True), (0.01, True), (0, False), (-3, False)])
def test_positive_rejects_zero_and_below(amount: float, valid: bool) -> None:
    reason = positive(get_amount, "amount")(Order("1", amount=amount))
    assert reason == (None if valid else "amount must be positive")


def test_positive_rejects_nan() -> None:
    assert positive(get_amount, "amount")(Order("1", amount=float("nan"))) is not None


@pytest.mark.parametrize(("amount", "valid"), [(1, True), (10, True), (0.5, False), (11, False)])
def test_in_range_is_inclusive(amount: float, valid: bool) -> None:
    reason = in_range(get_amount, 1, 10, "amount")(Order("1", amount=amount))
    assert reason == (None if valid else "amount must be between 1 and 10")


def test_in_range_needs_low_at_most_high() -> None:
    with pytest.raises(ConfigurationError, match="low <= high"):
        in_range(get_amount, 5, 1, "amount")


def test_matches_uses_the_given_message() -> None:
    check: Validator[Order] = matches(lambda o: o.id.isdigit(), "id must be numeric")
    assert check(Order("x")) == "id must be numeric"
    assert check(Order("12")) is None


def test_matches_pattern_needs_the_whole_value_to_match() -> None:
    check = matches_pattern(email, r"[^@]+@[^@]+", "email")
    assert check(Order("1", email="a@b")) is None
    assert check(Order("1", email="a@b@c")) == "email must match [^@]+@[^@]+"
    assert check(Order("1", email=None)) is not None


def test_matches_pattern_accepts_a_compiled_pattern() -> None:
    check = matches_pattern(order_id, re.compile(r"\d+"), "id")
    assert check(Order("42")) is None


def test_matches_pattern_rejects_a_broken_regex() -> None:
    with pytest.raises(ConfigurationError, match="regular expression"):
        matches_pattern(order_id, "(", "id")


# -- the middleware -----------------------------------------------------------


async def test_all_valid_passes_the_inner_outcome_through() -> None:
    expected: Outcome[Order] = Outcome()

    async def inner(records: Sequence[Order]) -> Outcome[Order]:
        nonlocal expected
        expected = Outcome.all_delivered(records)
        return expected

    outcome = await validate(has_id)(applier(inner)).apply([Order("1")])
    assert outcome is expected


async def test_fail_mode_fails_invalid_records_permanently_and_applies_the_rest() -> None:
    clock = FakeClock()
    inner = ScriptedApplier[Order]()
    good, bad = Order("1"), Order("", amount=0)
    outcome = await validate(has_id, has_amount, clock=clock)(inner).apply([good, bad])
    assert inner.calls == [[good]]
    assert list(outcome.delivered) == [good]
    [failure] = outcome.failed
    assert failure.record is bad
    assert isinstance(failure.error, ValidationError)
    assert isinstance(failure.error, PermanentError)
    assert failure.error.reasons == ("id is required", "amount must be positive")
    assert failure.first_failed_at == clock.now()


async def test_validator_raising_value_error_gives_its_message_as_reason() -> None:
    def check(order: Order) -> str | None:
        raise ValueError(f"order {order.id} is on hold")

    outcome = await validate(check)(ScriptedApplier[Order]()).apply([Order("7")])
    error = outcome.failed[0].error
    assert isinstance(error, ValidationError)
    assert error.reasons == ("order 7 is on hold",)


async def test_validator_raising_another_error_fails_the_record_with_it_in_any_mode() -> None:
    bug = KeyError("missing")

    def broken(order: Order) -> str | None:
        raise bug

    outcome = await validate(broken, on_invalid="skip")(ScriptedApplier[Order]()).apply(
        [Order("1")]
    )
    assert outcome.delivered == ()
    assert outcome.failed[0].error is bug


async def test_async_validators_are_awaited_alongside_sync_ones() -> None:
    async def known(order: Order) -> str | None:
        return None if order.id == "1" else "unknown order"

    inner = ScriptedApplier[Order]()
    outcome = await validate(has_id, known)(inner).apply([Order("1"), Order("")])
    assert [o.id for o in outcome.delivered] == ["1"]
    error = outcome.failed[0].error
    assert isinstance(error, ValidationError)
    assert error.reasons == ("id is required", "unknown order")


async def test_dead_letter_mode_stores_invalid_records_and_lists_them_dead() -> None:
    clock = FakeClock()
    queue = ListQueue()
    bad = Order("")
    wrapped = validate(has_id, on_invalid="dead_letter", dead_letters=queue, clock=clock)
    outcome = await wrapped(ScriptedApplier[Order]()).apply([Order("1"), bad])
    assert [f.record for f in outcome.dead] == [bad]
    assert outcome.failed == ()
    [letter] = queue.letters
    assert letter.record is bad
    assert isinstance(letter.error, ValidationError)
    assert letter.first_failed_at == clock.now()


async def test_dead_letter_store_failure_keeps_the_record_failed_with_both_errors() -> None:
    wrapped = validate(has_id, on_invalid="dead_letter", dead_letters=ListQueue(broken=True))
    outcome = await wrapped(ScriptedApplier[Order]()).apply([Order("")])
    assert outcome.dead == ()
    error = outcome.failed[0].error
    assert isinstance(error, DeadLetterError)
    assert isinstance(error.original, ValidationError)
    assert isinstance(error.__cause__, OSError)


async def test_skip_mode_reports_invalid_records_delivered_without_applying_them() -> None:
    inner = ScriptedApplier[Order]()
    good, bad = Order("1"), Order("")
    outcome = await validate(has_id, on_invalid="skip")(inner).apply([good, bad])
    assert inner.calls == [[good]]
    assert {id(r) for r in outcome.delivered} == {id(good), id(bad)}
    assert outcome.failed == ()


async def test_inner_applier_is_not_called_when_nothing_is_valid() -> None:
    inner = ScriptedApplier[Order]()
    outcome = await validate(has_id)(inner).apply([Order(""), Order("")])
    assert inner.calls == []
    assert len(outcome.failed) == 2


async def test_inner_exception_keeps_invalid_records_accounted() -> None:
    boom = RuntimeError("down")

    async def inner(records: Sequence[Order]) -> Outcome[Order]:
        raise boom

    bad = Order("")
    outcome = await validate(has_id, on_invalid="skip")(applier(inner)).apply([Order("1"), bad])
    assert outcome.error is boom
    assert list(outcome.delivered) == [bad]


def test_zero_validators_raise_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="at least one validator"):
        validate()


def test_dead_letter_mode_needs_a_queue() -> None:
    with pytest.raises(ConfigurationError, match="dead_letters"):
        validate(has_id, on_invalid="dead_letter")


def test_a_queue_without_dead_letter_mode_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="only with"):
        validate(has_id, dead_letters=ListQueue())


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="on_invalid"):
        validate(has_id, on_invalid="drop")  # type: ignore[arg-type]


async def test_repr_counts_invalid_records() -> None:
    wrapped = validate(has_id)(ScriptedApplier[Order]())
    await wrapped.apply([Order("")])
    assert "invalid=1" in repr(wrapped)
