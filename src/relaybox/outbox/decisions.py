"""What happens to each claimed event after publishing: pure decisions.

* Delivered -> deleted.
* Released (a blocked key, a stop, an open breaker, a lost lease) -> untouched:
  offered again, no attempt counted.
* Failed -> one more attempt counted. A :class:`PermanentError`, or a failure
  on the last allowed attempt, makes it a dead letter with its error; otherwise
  it is retried after the backoff (or the error's ``retry_after``, if longer).
  A publish call that failed as a whole (the destination is unreachable) backs
  off the same way but never dead-letters: an outage is nobody's poison.
* A keyed event's failure closes its key: while it waits for its retry nothing
  behind it may overtake it (the lane is held); once it is dead the key parks
  (strict order, the default) or continues, as configured.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from relaybox.core.errors import TemporaryError, is_permanent, is_released
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
) -> Settlement:
    retry: list[Retry] = []
    dead: list[Dead] = list(exhausted)
    hold: dict[str, float] = {}
    failures = [(f, False) for f in outcome.failed] + [(f, True) for f in outcome.dead]
    for failure, dead_already in failures:
        if is_released(failure.error):
            continue
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


def _decide_one(
    failure: Failure[Message],
    settings: RelaySettings,
    rng: random.Random | None,
    *,
    dead_already: bool,
) -> Retry | Dead:
    message, error = failure.record, failure.error
    attempts = message.attempts + 1
    permanent = is_permanent(error)
    # A call that failed as a whole (the destination is down) says nothing about
    # this event: it backs off like any failure but never uses up its attempts.
    spent = attempts >= settings.max_attempts and not failure.fatal
    if dead_already or permanent or spent:
        return Dead(message, describe(error), type(error).__name__, attempts)
    delay = settings.backoff.delay(attempts, rng)
    if isinstance(error, TemporaryError) and error.retry_after:
        delay = max(delay, error.retry_after)
    if not delay <= MAX_DELAY:  # also catches NaN
        delay = MAX_DELAY
    return Retry(message, delay, describe(error))
