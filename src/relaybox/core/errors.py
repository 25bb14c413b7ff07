"""The one exception tree of relaybox.

Every error relaybox raises or records derives from :class:`RelayboxError`. The
docstring of each class is its default message, so ``raise CircuitOpenError()``
already says what happened.

Two branches steer delivery:

* :class:`TemporaryError` - worth another attempt (optionally after ``retry_after``).
* :class:`PermanentError` - another attempt cannot help; the record goes straight
  to dead letters.

Any other exception raised by user code counts as temporary.
"""

from __future__ import annotations

from collections.abc import Sequence


class RelayboxError(Exception):
    """relaybox failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip().splitlines()[0])


class ConfigurationError(RelayboxError, ValueError):
    """The configuration is invalid."""


class TemporaryError(RelayboxError):
    """The operation failed for now; another attempt may succeed."""

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(RelayboxError):
    """The operation can never succeed for this record; it is dead-lettered."""


class DestinationUnavailableError(TemporaryError):
    """The destination cannot be reached right now; no attempt is counted.

    Adapters raise it at their edge for connection loss, timeouts and a broker
    that is down or restarting (``raise DestinationUnavailableError(...) from
    exc``). It says nothing about the event: the relay backs off and opens its
    breaker, and the event is never dead-lettered for it (unless a ``max_age``
    was asked for). Compare an event-specific failure (the broker rejected this
    message), which counts an attempt.
    """


class ReleasedError(TemporaryError):
    """The record was released unattempted and will be offered again by its source."""


class ShutdownReleasedError(ReleasedError):
    """The record was released because the pipeline is stopping; it was not dead-lettered."""


class KeyBlockedError(ReleasedError):
    """An earlier record with the same key failed, so this one waits to keep key order."""


class CircuitOpenError(ReleasedError):
    """The circuit breaker is open: the downstream failed repeatedly and is resting.

    A refused call hands its records back unattempted, so this is a release: it
    is not an attempt, never dead-lettered and not a downstream failure, also
    after a middleware turned the refused call into per-record failures.
    """


class ApplyTimeoutError(TemporaryError, TimeoutError):
    """Applying the records took longer than the configured timeout."""


class DuplicateInFlightError(ReleasedError):
    """A record with the same deduplication key is being applied right now.

    The record is handed back unattempted, to be offered again once the other
    is settled, so this is a release: never an attempt, never dead-lettered.
    """


class MissingOutcomeError(RelayboxError):
    """The applier returned no outcome for this record, so it is treated as failed."""


class ValidationError(PermanentError):
    """The record is invalid."""

    def __init__(self, reasons: Sequence[str]) -> None:
        self.reasons = tuple(reasons)
        super().__init__("validation failed: " + "; ".join(self.reasons))


class UnknownRouteError(PermanentError):
    """No route matches the record and no default applier is configured."""

    def __init__(self, route: object) -> None:
        self.route = route
        super().__init__(f"no route for {route!r} and no default applier")


class DeadLetterError(RelayboxError):
    """The record failed and could not be stored as a dead letter; it stays failed.

    ``original`` is the failure that sent it to dead letters; ``__cause__`` is the
    error of the dead-letter store.
    """

    def __init__(self, original: BaseException) -> None:
        self.original = original
        super().__init__(f"could not store dead letter (original error: {original!r})")


class DeadLetterNotFoundError(RelayboxError, KeyError):
    """No dead letter with that id."""


class FanOutError(RelayboxError):
    """Some destinations of a fan-out failed for this record."""

    def __init__(self, errors: dict[str, BaseException]) -> None:
        self.errors = dict(errors)
        detail = ", ".join(f"{name}: {err!r}" for name, err in self.errors.items())
        super().__init__(f"fan-out failed for {detail}")


class CoordinatorRunningError(RelayboxError):
    """The coordinator is already running; stop it first."""


def described(error: BaseException) -> str:
    """``error`` as one would read it in a log: ``ValueError: bad row``."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class FetchError(RelayboxError):
    """Fetching records from the source failed.

    Raised ``from`` the source's own exception (in ``__cause__``), whose type and
    message also end this one's message, so a log line shows what went wrong.
    """

    @classmethod
    def caused_by(cls, error: BaseException) -> FetchError:
        fetch_error = cls(f"fetching records from the source failed: {described(error)}")
        fetch_error.__cause__ = error
        return fetch_error


class SettleError(RelayboxError):
    """Marking, acking or nacking records at the source failed (see __cause__).

    The delivered records were applied but not recorded as done, so the source
    will offer them again: delivery stays at-least-once.
    """

    def __init__(self, count: int, message: str | None = None) -> None:
        self.count = count
        super().__init__(message or f"could not settle {count} records at the source")

    @classmethod
    def caused_by(cls, count: int, error: BaseException) -> SettleError:
        settle_error = cls(
            count, f"could not settle {count} records at the source: {described(error)}"
        )
        settle_error.__cause__ = error
        return settle_error


class SchemaMissingError(ConfigurationError):
    """The outbox schema is missing or out of date."""

    def __init__(self, detail: str, *, command: str = "relaybox migrate --db URL") -> None:
        self.command = command
        super().__init__(f"{detail}; create or upgrade it with `{command}`")


class EventValidationError(ValidationError):
    """An event is invalid and was not written."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__([f"{field}: {problem}"])


class LeaseExpiredError(TemporaryError):
    """A relay claimed the event and its lease expired before it settled (a crash or a stall)."""


class AttemptsExhaustedError(PermanentError):
    """The event failed on every allowed attempt."""

    def __init__(self, attempts: int, last: BaseException | str | None = None) -> None:
        self.attempts = attempts
        self.last = last
        detail = f": {last}" if last else ""
        super().__init__(f"gave up after {attempts} attempts{detail}")


def is_permanent(error: BaseException) -> bool:
    """True when another attempt cannot help."""
    return isinstance(error, PermanentError)


def is_unavailable(error: BaseException) -> bool:
    """True when the error says the destination is down, not that the event is bad.

    That is a :class:`DestinationUnavailableError`, a connection error or a
    timeout (``ConnectionError`` and ``TimeoutError`` with their subclasses,
    which include asyncio's and the socket module's). A :class:`PermanentError`
    never is, whatever else it derives from.
    """
    if isinstance(error, PermanentError):
        return False
    return isinstance(error, DestinationUnavailableError | ConnectionError | TimeoutError)


def is_released(error: BaseException) -> bool:
    """True when the record was handed back unattempted (not a real attempt)."""
    return isinstance(error, ReleasedError)
