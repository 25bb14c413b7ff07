"""Per-key order at the relay's boundary with its publisher, whatever the middleware does.

The relay accepts any middleware, and some of it splits a batch, reorders
records, drops some to the dead letters, or retries part of a call. None of
that may publish a key's event before an earlier event of that key in the
claim was delivered. :class:`KeyOrder` sits between the middleware and the
publisher and, for each claim, lets a keyed message through only when every
earlier message of its lane in the claim was delivered, or goes out before it
in the same call (the publisher sends a key's messages in order and stops the
key at its first failure). Any other keyed message is handed back unsent,
released with :class:`KeyBlockedError`: not an attempt, offered again by the
next claim, after its predecessors. Unkeyed messages have no order and pass.
"""

from __future__ import annotations

from collections.abc import Sequence

from relaybox.core.errors import KeyBlockedError, is_released
from relaybox.core.events import Message
from relaybox.core.outcome import Failure, Outcome
from relaybox.ports.applier import Applier


class KeyOrder:
    """An applier that keeps each key's order within a claim (see the module docstring)."""

    def __init__(self, inner: Applier[Message]) -> None:
        self.inner = inner
        self._claim: Sequence[Message] = ()
        self._position: dict[int, int] = {}
        self._lanes: dict[str, list[Message]] = {}
        self._delivered: set[int] = set()
        self._stopped: set[str] = set()
        self._unlearnt: list[Outcome[Message]] = []
        self._sent = False

    def begin(self, messages: Sequence[Message]) -> None:
        """A new claim is being published: forget the last one."""
        self._claim = messages
        self._position = {}
        self._lanes = {}
        self._delivered = set()
        self._stopped = set()
        self._unlearnt = []
        self._sent = False

    async def apply(self, records: Sequence[Message], /) -> Outcome[Message]:
        if not self._sent and _same(records, self._claim):
            # The common case: the whole claim in one call, in its order. What it
            # delivered is learnt only if another call of this claim comes.
            self._sent = True
            outcome = await self.inner.apply(records)
            self._unlearnt.append(outcome)
            return outcome
        self._sent = True
        allowed, held = self._screen(records)
        outcome = await self.inner.apply(allowed) if allowed else Outcome()
        self._unlearnt.append(outcome)
        if not held:
            return outcome
        released = tuple(Failure(m, KeyBlockedError(), 0) for m in held)
        return Outcome(outcome.delivered, (*outcome.failed, *released), outcome.dead, outcome.error)

    def _screen(self, records: Sequence[Message]) -> tuple[list[Message], list[Message]]:
        position = self._positions()
        ordered = sorted(records, key=lambda m: position.get(id(m), -1))
        going = {id(m) for m in ordered}
        allowed: list[Message] = []
        held: list[Message] = []
        for message in ordered:
            if message.key is None or self._may_go(message, position, going):
                allowed.append(message)
            else:
                held.append(message)
                going.discard(id(message))
        return allowed, held

    def _may_go(self, message: Message, position: dict[int, int], going: set[int]) -> bool:
        if message.lane in self._stopped:
            return False
        if id(message) not in position:  # not from this claim: nothing to order it against
            return True
        for earlier in self._lanes[message.lane]:
            if earlier is message:
                return True
            if id(earlier) not in self._delivered and id(earlier) not in going:
                return False
        return True

    def _positions(self) -> dict[int, int]:
        while self._unlearnt:
            self._learn(self._unlearnt.pop())
        if not self._position:
            self._position = {id(m): i for i, m in enumerate(self._claim)}
            for m in self._claim:
                self._lanes.setdefault(m.lane, []).append(m)
        return self._position

    def _learn(self, outcome: Outcome[Message]) -> None:
        self._delivered.update(id(m) for m in outcome.delivered)
        for failure in (*outcome.failed, *outcome.dead):
            if failure.record.key is not None and not is_released(failure.error):
                self._stopped.add(failure.record.lane)


def _same(records: Sequence[Message], claim: Sequence[Message]) -> bool:
    return len(records) == len(claim) and all(a is b for a, b in zip(records, claim, strict=True))
