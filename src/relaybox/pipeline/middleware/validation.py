"""Validation: check records before applying them, and deal with the invalid ones.

A validator takes a record and returns a reason it is invalid, or ``None``;
raising :class:`ValueError` also counts, with ``str(exc)`` as the reason. Every
validator runs on every record and every reason is kept in one
:class:`ValidationError`, so a person fixing the data sees all problems at once.

An invalid record can never succeed, hence ``ValidationError`` is permanent.
``on_invalid`` chooses what happens to it: ``"fail"`` reports it failed (an
outer dead-letter middleware stores it; retry leaves it alone), ``"dead_letter"``
stores it in the given queue and reports it dead, and ``"skip"`` reports it
delivered without applying it. A validator that raises anything other than
``ValueError`` says nothing about the record, so the record fails with that
exception whatever ``on_invalid`` says. Valid records go to the inner applier,
which is not called when there are none.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable, Sequence, Sized
from typing import Generic, Literal, TypeAlias, TypeVar, cast

from relaybox.core.calls import is_async_callable
from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import ConfigurationError, DeadLetterError, ValidationError
from relaybox.core.outcome import Failure, Outcome
from relaybox.ports.applier import Applier, Middleware, attempt
from relaybox.ports.dead_letters import DeadLetter, DeadLetterQueue

T = TypeVar("T")

Validator: TypeAlias = Callable[[T], str | None]
AsyncValidator: TypeAlias = Callable[[T], Awaitable[str | None]]
OnInvalid = Literal["fail", "dead_letter", "skip"]


class ValidatingApplier(Generic[T]):
    """Applies the valid records and handles the others; see :func:`validate`."""

    def __init__(
        self,
        inner: Applier[T],
        validators: Sequence[Validator[T] | AsyncValidator[T]],
        on_invalid: OnInvalid,
        dead_letters: DeadLetterQueue[T] | None,
        clock: Clock,
    ) -> None:
        self._inner = inner
        self._validators = tuple(validators)
        self._async = any(is_async_callable(v) for v in validators)
        # Without async validators each check is a plain call: no await per record.
        self._sync = cast(tuple[Validator[T], ...], self._validators)
        self._on_invalid = on_invalid
        self._dead_letters = dead_letters
        self._clock = clock
        self.invalid = 0

    async def apply(self, records: Sequence[T], /) -> Outcome[T]:
        valid: list[T] = []
        problems: list[tuple[T, Exception]] = []
        for record in records:
            problem = await self._problem_async(record) if self._async else self._problem(record)
            if problem is None:
                valid.append(record)
            else:
                problems.append((record, problem))
        if not problems:
            return await self._inner.apply(records)
        self.invalid += len(problems)
        handled = await self._handle(problems)
        if not valid:
            return handled
        outcome = await attempt(self._inner, valid)
        return Outcome(
            delivered=(*outcome.delivered, *handled.delivered),
            failed=(*outcome.failed, *handled.failed),
            dead=(*outcome.dead, *handled.dead),
            error=outcome.error,
        )

    def _problem(self, record: T) -> Exception | None:
        reasons: list[str] | None = None  # allocated only for an invalid record
        for validator in self._sync:
            try:
                reason = validator(record)
            except ValueError as exc:
                reason = str(exc) or type(exc).__name__
            except Exception as exc:
                return exc
            if reason is not None:
                reasons = reasons or []
                reasons.append(reason)
        return None if reasons is None else ValidationError(reasons)

    async def _problem_async(self, record: T) -> Exception | None:
        reasons: list[str] | None = None  # allocated only for an invalid record
        for validator in self._validators:
            try:
                reason = validator(record)
                if not isinstance(reason, str | None):
                    reason = await reason
            except ValueError as exc:
                reason = str(exc) or type(exc).__name__
            except Exception as exc:
                return exc
            if reason is not None:
                reasons = reasons or []
                reasons.append(reason)
        return None if reasons is None else ValidationError(reasons)

    async def _handle(self, problems: list[tuple[T, Exception]]) -> Outcome[T]:
        now = self._clock.now()
        delivered: list[T] = []
        failed: list[Failure[T]] = []
        dead: list[Failure[T]] = []
        for record, error in problems:
            failure = Failure(record, error, first_failed_at=now, last_failed_at=now)
            if not isinstance(error, ValidationError) or self._on_invalid == "fail":
                failed.append(failure)
            elif self._on_invalid == "skip":
                delivered.append(record)
            elif (store_error := await self._store(failure, now)) is None:
                dead.append(failure)
            else:
                failed.append(_undeliverable(failure, store_error))
        return Outcome(tuple(delivered), tuple(failed), tuple(dead))

    async def _store(self, failure: Failure[T], now: float) -> Exception | None:
        """Put ``failure`` in the dead-letter queue; the store's error if that failed."""
        assert self._dead_letters is not None  # checked by validate()
        try:
            await self._dead_letters.put(DeadLetter.of(failure, now=now))
        except Exception as exc:
            return exc
        return None

    def __repr__(self) -> str:
        return (
            f"ValidatingApplier({self._inner!r}, validators={len(self._validators)}, "
            f"on_invalid={self._on_invalid!r}, invalid={self.invalid})"
        )


def _undeliverable(failure: Failure[T], cause: Exception) -> Failure[T]:
    """The record stays failed, with the store's error as the ``__cause__``."""
    error = DeadLetterError(failure.error)
    error.__cause__ = cause
    return dataclasses.replace(failure, error=error)


def validate(
    *validators: Validator[T] | AsyncValidator[T],
    on_invalid: OnInvalid = "fail",
    dead_letters: DeadLetterQueue[T] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Middleware[T]:
    """Middleware running every validator on every record before applying it.

    ``on_invalid`` (default ``"fail"``) picks the fate of invalid records:
    ``"fail"``, ``"dead_letter"`` (needs ``dead_letters``) or ``"skip"``; see
    the module docstring. Validators may be ``def`` (called inline, keep them
    cheap) or ``async def``. ``clock`` stamps the failure times.
    """
    if not validators:
        raise ConfigurationError("validate() needs at least one validator")
    for validator in validators:
        if not callable(validator):
            raise ConfigurationError(f"a validator must be callable, not {validator!r}")
    if on_invalid not in ("fail", "dead_letter", "skip"):
        raise ConfigurationError(
            f"on_invalid must be 'fail', 'dead_letter' or 'skip', not {on_invalid!r}"
        )
    if on_invalid == "dead_letter" and dead_letters is None:
        raise ConfigurationError("on_invalid='dead_letter' needs a dead_letters queue")
    if on_invalid != "dead_letter" and dead_letters is not None:
        raise ConfigurationError("dead_letters is used only with on_invalid='dead_letter'")

    def wrap(inner: Applier[T]) -> Applier[T]:
        return ValidatingApplier(inner, validators, on_invalid, dead_letters, clock)

    return wrap


def not_empty(get: Callable[[T], object], field: str) -> Validator[T]:
    """Invalid when ``get(record)`` is ``None`` or empty: ``"<field> is required"``."""
    message = f"{field} is required"

    def check(record: T) -> str | None:
        value = get(record)
        if value is None or (isinstance(value, Sized) and len(value) == 0):
            return message
        return None

    return check


def not_none(get: Callable[[T], object], field: str) -> Validator[T]:
    """Invalid when ``get(record)`` is ``None``: ``"<field> is required"``."""
    message = f"{field} is required"

    def check(record: T) -> str | None:
        return message if get(record) is None else None

    return check


def positive(get: Callable[[T], float | None], field: str) -> Validator[T]:
    """Invalid unless ``get(record)`` is above zero: ``"<field> must be positive"``."""
    message = f"{field} must be positive"

    def check(record: T) -> str | None:
        value = get(record)
        # "not >" also rejects NaN.
        return message if value is None or not value > 0 else None

    return check


def in_range(get: Callable[[T], float | None], low: float, high: float, field: str) -> Validator[T]:
    """Invalid unless ``low <= get(record) <= high`` (inclusive).

    Reason: ``"<field> must be between <low> and <high>"``.
    """
    if not low <= high:
        raise ConfigurationError(f"in_range needs low <= high, got low={low!r}, high={high!r}")
    message = f"{field} must be between {low} and {high}"

    def check(record: T) -> str | None:
        value = get(record)
        return message if value is None or not low <= value <= high else None

    return check


def matches(predicate: Callable[[T], bool], message: str) -> Validator[T]:
    """Invalid when ``predicate(record)`` is false, with ``message`` as the reason."""

    def check(record: T) -> str | None:
        return None if predicate(record) else message

    return check


def matches_pattern(
    get: Callable[[T], str | None], regex: str | re.Pattern[str], field: str
) -> Validator[T]:
    """Invalid unless the whole of ``get(record)`` matches ``regex`` (``re.fullmatch``).

    Reason: ``"<field> must match <regex>"``.
    """
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise ConfigurationError(
            f"{field}: {regex!r} is not a valid regular expression: {exc}"
        ) from exc
    message = f"{field} must match {pattern.pattern}"

    def check(record: T) -> str | None:
        value = get(record)
        return message if value is None or pattern.fullmatch(value) is None else None

    return check
