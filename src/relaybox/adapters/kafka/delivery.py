"""One batch's delivery reports, turned into an outcome that keeps per-key order.

librdkafka sends a whole batch at once and reports each message later. A key
whose message failed must not look delivered past that point, so the outcome
walks each key in order: its first failure fails, and its later messages are
released (:class:`~relaybox.core.errors.KeyBlockedError`) even when the broker
stored them. Those may then be stored twice once the key is retried; the event
id in their headers (and the idempotent producer within one session) lets
consumers drop the copy.
"""

from __future__ import annotations

from collections.abc import Sequence

from relaybox.core.errors import KeyBlockedError, ReleasedError, is_unavailable
from relaybox.core.events import Message
from relaybox.core.outcome import Failure, Outcome

_PENDING = object()
_DELIVERED = object()


class Deliveries:
    """The fate of each message of one batch, filled in by delivery callbacks."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self.messages = messages
        self._fates: list[object] = [_PENDING] * len(messages)
        self.waiting = len(messages)
        self._blocked: set[str] = set()
        self.fatal = False  # a report said the producer itself is unusable
        self._unsent: set[int] = set()  # failed or released before reaching the producer

    def sendable(self, index: int) -> bool:
        """False once an earlier message of the same key failed before it was sent."""
        return self.messages[index].key not in self._blocked

    def delivered(self, index: int) -> None:
        self._settle(index, _DELIVERED)

    def failed(self, index: int, error: BaseException) -> None:
        key = self.messages[index].key
        if key is not None:
            self._blocked.add(key)
        self._settle(index, error)

    def refused(self, index: int, error: BaseException) -> None:
        """The producer would not take the message (too large, say): it was never sent."""
        self._unsent.add(index)
        self.failed(index, error)

    def released(self, index: int, error: ReleasedError) -> None:
        self._unsent.add(index)
        self._settle(index, error)

    def _settle(self, index: int, fate: object) -> None:
        if self._fates[index] is _PENDING:
            self.waiting -= 1
            self._fates[index] = fate

    def expire(self, error: BaseException) -> None:
        """Fail every message still unreported with ``error`` (the time is up)."""
        for index, fate in enumerate(self._fates):
            if fate is _PENDING:
                self.failed(index, error)

    def clean(self) -> bool:
        """True when every message that was sent was delivered."""
        return all(f is _DELIVERED or i in self._unsent for i, f in enumerate(self._fates))

    def abort(self, error: BaseException) -> None:
        """The batch's transaction was aborted: nothing in it counts as delivered.

        Messages the broker stored are released (another try cannot fail for
        their sake); those still unreported fail with ``error``.
        """
        for index, fate in enumerate(self._fates):
            if fate is _DELIVERED:
                self._fates[index] = ReleasedError(f"aborted with its transaction: {error}")
            elif fate is _PENDING:
                self.failed(index, error)

    def all_unavailable(self) -> BaseException | None:
        """The error when nothing was delivered and every failure says the broker is down."""
        errors = [f for f in self._fates if isinstance(f, BaseException)]
        if errors and len(errors) == len(self._fates) and all(map(is_unavailable, errors)):
            return errors[0]
        return None

    def outcome(self) -> Outcome[Message]:
        """Delivered and failed messages; after a key's first failure, the rest are released."""
        delivered: list[Message] = []
        failed: list[Failure[Message]] = []
        failed_keys: set[str] = set()
        for message, fate in zip(self.messages, self._fates, strict=True):
            if message.key is not None and message.key in failed_keys:
                blocker = KeyBlockedError(f"an earlier message with key {message.key!r} failed")
                failed.append(Failure(message, blocker, 0))
            elif isinstance(fate, BaseException):
                released = isinstance(fate, ReleasedError)
                failed.append(Failure(message, fate, 0 if released else 1))
                if message.key is not None:
                    failed_keys.add(message.key)
            else:
                delivered.append(message)
        return Outcome(tuple(delivered), tuple(failed))
