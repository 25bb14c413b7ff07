"""What happened to a batch: the value every applier returns.

Records are tracked by identity, never by equality: an applier must return the
very objects it received. :meth:`Outcome.reconcile` turns whatever an applier
returned into a complete account in which every input record appears exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from relaybox.core.errors import MissingOutcomeError, ShutdownReleasedError

T = TypeVar("T")


@dataclass(frozen=True)
class Failure(Generic[T]):
    """One record that failed, with the real error and how often it was tried.

    ``first_failed_at`` and ``last_failed_at`` are wall-clock epoch seconds, or
    ``None`` when the failing component does not track time. ``fatal`` says the
    record failed only because its whole call did (a crash, a lost connection):
    the error says nothing about the record itself, so dead letters leave it to
    its source unless the error is permanent.
    """

    record: T
    error: BaseException
    attempts: int = 1
    first_failed_at: float | None = None
    last_failed_at: float | None = None
    fatal: bool = False


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """The account of one applied batch.

    (Not slotted, unlike most values here: on Python 3.11 a slotted generic
    dataclass cannot be built through its subscripted form, ``Outcome[str](...)``.)

    * ``delivered``: done; the source marks or acks them.
    * ``failed``: retryable failures, each with its error and attempt count.
    * ``dead``: handled for good (already dead-lettered, parked or skipped by
      policy); the source settles them as done and never offers them again.
    * ``error``: a fatal error of the whole call; input records that appear in no
      list count as failed with it.
    """

    delivered: Sequence[T] = ()
    failed: Sequence[Failure[T]] = ()
    dead: Sequence[Failure[T]] = ()
    error: BaseException | None = field(default=None)

    @property
    def count(self) -> int:
        """How many records the outcome accounts for."""
        return len(self.delivered) + len(self.failed) + len(self.dead)

    @classmethod
    def all_delivered(cls, records: Iterable[T]) -> Outcome[T]:
        return cls(delivered=tuple(records))

    @classmethod
    def all_failed(
        cls, records: Iterable[T], error: BaseException, *, fatal: bool = False
    ) -> Outcome[T]:
        """Every record failed with ``error``.

        ``fatal`` says the whole call failed: it sets ``error`` on the outcome and
        marks each failure :attr:`Failure.fatal`.
        """
        return cls(
            failed=tuple(Failure(r, error, fatal=fatal) for r in records),
            error=error if fatal else None,
        )

    @classmethod
    def released(cls, records: Iterable[T], error: BaseException | None = None) -> Outcome[T]:
        """Every record handed back unattempted (no attempt counted).

        ``error`` defaults to :class:`ShutdownReleasedError`; it should be a
        :class:`~relaybox.core.errors.ReleasedError` so retry does not count it
        and dead letters never take it. Records never sent because a call
        crashed should be released with the crash as the error's ``__cause__``.
        """
        reason = error if error is not None else ShutdownReleasedError()
        return cls(failed=tuple(Failure(r, reason, 0) for r in records))

    def reconcile(self, records: Sequence[T]) -> Outcome[T]:
        """The same outcome, covering exactly ``records``, each once.

        Entries for objects that were not in ``records`` are dropped, a record
        listed twice keeps its first listing (delivered, then dead, then failed),
        and records missing from every list fail with ``error`` or, when the
        applier gave none, with :class:`MissingOutcomeError`.
        """
        if self.error is None and _covers(self, records):
            return self
        slots: dict[int, int] = {}
        for record in records:
            slots[id(record)] = slots.get(id(record), 0) + 1
        delivered = [r for r in self.delivered if _take(slots, r)]
        dead = [f for f in self.dead if _take(slots, f.record)]
        failed = [f for f in self.failed if _take(slots, f.record)]
        if slots:
            missing_error = self.error or MissingOutcomeError()
            fatal = self.error is not None
            for record in records:
                if _take(slots, record):
                    failed.append(Failure(record, missing_error, fatal=fatal))
        return Outcome(tuple(delivered), tuple(failed), tuple(dead), self.error)


def merge(outcomes: Iterable[Outcome[T]]) -> Outcome[T]:
    """Several outcomes of disjoint sub-batches as one; the first fatal error wins."""
    delivered: list[T] = []
    failed: list[Failure[T]] = []
    dead: list[Failure[T]] = []
    error: BaseException | None = None
    for outcome in outcomes:
        delivered.extend(outcome.delivered)
        failed.extend(outcome.failed)
        dead.extend(outcome.dead)
        error = error or outcome.error
    return Outcome(tuple(delivered), tuple(failed), tuple(dead), error)


def _covers(outcome: Outcome[T], records: Sequence[T]) -> bool:
    """Fast path: the lists hold each input object exactly once and nothing else."""
    if outcome.count != len(records):
        return False
    wanted = {id(r) for r in records}
    if len(wanted) != len(records):
        return False
    seen = {id(r) for r in outcome.delivered}
    seen.update(id(f.record) for f in outcome.failed)
    seen.update(id(f.record) for f in outcome.dead)
    return seen == wanted


def _take(slots: dict[int, int], record: object) -> bool:
    left = slots.get(id(record), 0)
    if left <= 0:
        return False
    if left == 1:
        del slots[id(record)]
    else:
        slots[id(record)] = left - 1
    return True
