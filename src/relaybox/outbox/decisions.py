"""What happens to each claimed event after publishing: pure decisions.

* Delivered -> deleted.
* Released (a blocked key, a stop, an open breaker, a lost lease) -> untouched:
  offered again, no attempt counted.
* Failed because the destination is unavailable (the whole publish call
  raised, or the event's error is a connection error, a timeout or a
  :class:`DestinationUnavailableError`) -> no attempt counted: it waits the
  relay's outage pause and is offered again, however long the outage lasts.
  Only with ``max_age`` set does an event failing so for longer than that
  since its first failure become a dead letter, saying why.
* Failed for itself -> one more attempt counted. A :class:`PermanentError`, or
  a failure on the last allowed attempt, makes it a dead letter with its error;
  otherwise it is retried after the backoff (or the error's ``retry_after``,
  if longer).
* A keyed event's failure closes its key: while it waits for its retry nothing
  behind it may overtake it (the lane is held); once it is dead the key parks
  (strict order, the default) or continues, as configured.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime

from relaybox.core.errors import (
    DestinationUnavailableError,
    TemporaryError,
    is_permanent,
    is_released,
    is_unavailable,
)
from relaybox.core.events import Message, key_of
from relaybox.core.outcome import Failure, Outcome
from relaybox.outbox.settings import RelaySettings
from relaybox.ports.store import Claim, Dead, Retry, Settlement

MAX_DELAY = 365 * 24 * 3600.0
"""No retry waits longer than a year, whatever a backoff or a retry_after hint says."""


def describe(error: BaseException) -> str:
    """The error as stored: its type and message as storable text, cut at 4000 characters.

    Cut on a code point (never inside a character); NUL characters and lone
    surrogates, which databases refuse in text, are written as escapes.
    """
    text = f"{type(error).__name__}: {error}".replace("\x00", "\\x00")
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= 4000 else text[:3997] + "..."


def decide(
    claim: Claim,
    outcome: Outcome[Message],
    settings: RelaySettings,
    exhausted: Iterable[Dead] = (),
    rng: random.Random | None = None,
    *,
    pause: float | None = None,
    now: datetime | None = None,
) -> Settlement:
    """The settlement of ``claim`` after ``outcome``.

    ``pause`` is how long an event waits when the destination was unavailable
    (the relay's current outage pause; the first step of ``outage_backoff`` by
    default); ``now`` is the time ``max_age`` is measured to.
    """
    retry: list[Retry] = []
    dead: list[Dead] = list(exhausted)
    hold: dict[str, float] = {}
    wait = settings.outage_backoff.delay(1, rng) if pause is None else pause
    failures = [(f, False) for f in outcome.failed] + [(f, True) for f in outcome.dead]
    for failure, dead_already in failures:
        if is_released(failure.error):
            continue
        if not dead_already and unavailable(failure):
            decision = _wait_for_destination(failure, settings, wait, now)
        else:
            decision = _decide_one(failure, settings, rng, dead_already=dead_already)
        if isinstance(decision, Retry):
            retry.append(decision)
            if key_of(failure.record.lane) is not None:
                hold[failure.record.lane] = max(hold.get(failure.record.lane, 0.0), decision.delay)
        else:
            dead.append(decision)
    park = {}
    if settings.on_key_failure == "park":
        park = {d.message.lane: (d.message.id, d.error) for d in dead if d.message.key is not None}
    return Settlement(outcome.delivered, retry, dead, hold, park)


def unavailable(failure: Failure[Message]) -> bool:
    """True when the failure says the destination is down, not that the event is bad.

    A call that failed as a whole (``fatal``) says nothing about its events, and
    neither does a connection error, a timeout or a
    :class:`DestinationUnavailableError`. A permanent error never is one.
    """
    if is_permanent(failure.error):
        return False
    return failure.fatal or is_unavailable(failure.error)


def _wait_for_destination(
    failure: Failure[Message], settings: RelaySettings, pause: float, now: datetime | None
) -> Retry | Dead:
    message, error = failure.record, failure.error
    first = message.first_failed_at
    if settings.max_age is not None and first is not None and now is not None:
        age = (now - first).total_seconds()
        if age >= settings.max_age:
            gave_up = DestinationUnavailableError(
                f"the destination was unavailable for {age:.0f} s since the event first failed, "
                f"longer than max_age ({settings.max_age:g} s); last error: {describe(error)}"
            )
            return Dead(message, describe(gave_up), type(gave_up).__name__, message.attempts)
    return Retry(message, min(pause, MAX_DELAY), describe(error), counted=False)


def _decide_one(
    failure: Failure[Message],
    settings: RelaySettings,
    rng: random.Random | None,
    *,
    dead_already: bool,
) -> Retry | Dead:
    message, error = failure.record, failure.error
    attempts = message.attempts + 1
    if dead_already or is_permanent(error) or attempts >= settings.max_attempts:
        return Dead(message, describe(error), type(error).__name__, attempts)
    delay = settings.backoff.delay(attempts, rng)
    if isinstance(error, TemporaryError) and error.retry_after:
        delay = max(delay, error.retry_after)
    if not delay <= MAX_DELAY:  # also catches NaN
        delay = MAX_DELAY
    return Retry(message, delay, describe(error))
