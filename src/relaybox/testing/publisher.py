"""An in-memory publisher that records what it was given, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.publishers import screen

FailFn = Callable[[Message], BaseException | None]


class MemoryPublisher:
    """Keeps every delivered message in ``published``, in publish order.

    ``fail(message)`` injects failures: it returns the error that message fails
    with, or ``None`` to deliver it. Key order is kept as the publisher contract
    asks: after a failure, the key's later messages in the same call are
    released with :class:`~relaybox.core.errors.KeyBlockedError`, not attempted.
    ``calls`` counts publish calls; ``closed`` says whether :meth:`close` ran.

    Without ``fail`` a call is a list extend and nothing else, so benchmarks
    measure the relay rather than the publisher.
    """

    def __init__(self, fail: FailFn | None = None) -> None:
        self.fail = fail
        self.published: list[Message] = []
        self.calls = 0
        self.closed = False

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        self.calls += 1
        if self.fail is None:
            self.published.extend(messages)
            return Outcome(delivered=tuple(messages))
        return self._publish_checked(messages, self.fail)

    def _publish_checked(self, messages: Sequence[Message], fail: FailFn) -> Outcome[Message]:
        delivered, failed = screen(messages, fail)
        self.published.extend(delivered)
        return Outcome(tuple(delivered), tuple(failed))

    async def close(self) -> None:
        self.closed = True

    def by_key(self) -> dict[str | None, list[Message]]:
        """Published messages grouped by key (``None`` for unkeyed), each in publish order."""
        groups: dict[str | None, list[Message]] = {}
        for message in self.published:
            groups.setdefault(message.key, []).append(message)
        return groups

    def ids(self) -> list[str]:
        """Ids of the published messages, in publish order."""
        return [message.id for message in self.published]

    def __repr__(self) -> str:
        return (
            f"MemoryPublisher(published={len(self.published)}, calls={self.calls}, "
            f"closed={self.closed})"
        )
