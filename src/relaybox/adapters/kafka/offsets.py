"""Which offsets a consumer may commit: never past a record that is not settled.

For each owned partition the ledger keeps the records handed out, in offset
order, and which of them were acked. The commit point is one past the end of
the acked prefix, so a record in flight or failed holds its partition's commit
back however many later records were acked. Acks and nacks come from the
event loop, rebalance callbacks from the consumer's thread: one lock and a
condition guard it all.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from relaybox.adapters.kafka.record import KafkaRecord

Partition = tuple[str, int]


@dataclass
class _State:
    epoch: int = 0  # bumped when records read before now must no longer be handed out
    handed: dict[int, KafkaRecord] = field(default_factory=dict)  # insertion = offset order
    acked: set[int] = field(default_factory=set)
    committable: int | None = None  # offset to commit next, once it differs from committed
    committed: int | None = None
    seek: int | None = None  # where the consumer must go back to
    resume_at: float = 0.0


class Ledger:
    """Per-partition record of what was handed out and what was acked."""

    def __init__(self) -> None:
        self._parts: dict[Partition, _State] = {}
        self._changed = threading.Condition()
        self.revoking = False  # a rebalance waits for records in flight to settle

    def assign(self, partitions: list[Partition]) -> None:
        with self._changed:
            for partition in partitions:
                self._parts[partition] = _State()

    def owned(self) -> list[Partition]:
        with self._changed:
            return sorted(self._parts)

    def epochs(self) -> dict[Partition, int]:
        with self._changed:
            return {p: s.epoch for p, s in self._parts.items()}

    def hand(self, record: KafkaRecord, epoch: int) -> bool:
        """Register ``record`` as handed out; False if its partition was revoked or rewound."""
        with self._changed:
            state = self._parts.get((record.kafka_topic, record.partition))
            if state is None or state.epoch != epoch:
                return False
            state.handed[record.offset] = record
            return True

    def ack(self, record: KafkaRecord) -> None:
        with self._changed:
            state = self._current(record)
            if state is not None:
                state.acked.add(record.offset)
                while state.handed and (first := next(iter(state.handed))) in state.acked:
                    del state.handed[first]
                    state.acked.discard(first)
                    state.committable = first + 1
            self._changed.notify_all()

    def rewind(self, record: KafkaRecord, delay: float) -> bool:
        """Read ``record``'s partition again from it after ``delay`` seconds; False if stale."""
        with self._changed:
            state = self._current(record)
            if state is not None:
                for offset in [o for o in state.handed if o >= record.offset]:
                    del state.handed[offset]
                    state.acked.discard(offset)
                state.epoch += 1
                state.seek = record.offset
                state.resume_at = time.monotonic() + delay
            self._changed.notify_all()
            return state is not None

    def _current(self, record: KafkaRecord) -> _State | None:
        state = self._parts.get((record.kafka_topic, record.partition))
        if state is None or state.handed.get(record.offset) is not record:
            return None  # revoked, rewound past it, or settled already
        return state

    def seeks(self) -> dict[Partition, tuple[int, float]]:
        """Partitions to move back: offset and when to resume reading them; clears them."""
        with self._changed:
            due = {p: (s.seek, s.resume_at) for p, s in self._parts.items() if s.seek is not None}
            for partition in due:
                self._parts[partition].seek = None
            return due

    def commits(self, partitions: list[Partition] | None = None) -> dict[Partition, int]:
        """Commit points that moved since the last :meth:`committed`."""
        with self._changed:
            chosen = self._parts if partitions is None else partitions
            points = {p: self._parts[p].committable for p in chosen if p in self._parts}
            return {
                p: at
                for p, at in points.items()
                if at is not None and at != self._parts[p].committed
            }

    def committed(self, points: dict[Partition, int]) -> None:
        with self._changed:
            for partition, offset in points.items():
                if partition in self._parts:
                    self._parts[partition].committed = offset

    def revoke(self, partitions: list[Partition], grace: float) -> None:
        """Stop handing out ``partitions``; wait up to ``grace`` s for their records to settle."""
        deadline = time.monotonic() + grace
        with self._changed:
            for partition in partitions:
                if (state := self._parts.get(partition)) is not None:
                    state.epoch += 1
                    state.seek = None
            self.revoking = True
            self._changed.wait_for(
                lambda: not self.unsettled(partitions), max(0.0, deadline - time.monotonic())
            )
            self.revoking = False

    def unsettled(self, partitions: list[Partition]) -> int:
        """Records of ``partitions`` handed out and neither acked nor rewound (lock held)."""
        states = [self._parts[p] for p in partitions if p in self._parts]
        return sum(len(s.handed) - len(s.acked) for s in states)

    def forget(self, partitions: list[Partition]) -> None:
        """Drop ``partitions``: later acks of their records change nothing."""
        with self._changed:
            for partition in partitions:
                self._parts.pop(partition, None)
            self._changed.notify_all()
