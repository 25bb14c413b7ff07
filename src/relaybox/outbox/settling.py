"""Turn a relay's settlement into the rows a store must change.

Pure and shared by every store: which event ids to delete, which to schedule
again, which to move to the dead letters, and which lanes must wait or stop.
A store applies the plan only while the claim's lease holds; a lease covers
the whole claim, so otherwise nothing is applied and every decided message is
reported lost (see :meth:`~relaybox.ports.store.Settlement.decided`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relaybox.ports.store import Claim, Dead, Retry, Settlement


@dataclass(frozen=True, slots=True)
class LaneUpdate:
    """A lane to hold shut for ``hold`` seconds, or to park on a dead event."""

    lane: str
    hold: float | None = None
    park_event_id: str | None = None
    park_reason: str | None = None


@dataclass(slots=True)
class SettlePlan:
    delivered: list[int] = field(default_factory=list)
    retry: list[Retry] = field(default_factory=list)
    dead: list[Dead] = field(default_factory=list)
    lanes: list[LaneUpdate] = field(default_factory=list)

    @property
    def settled(self) -> int:
        return len(self.delivered) + len(self.retry) + len(self.dead)

    @classmethod
    def build(cls, claim: Claim, settlement: Settlement) -> SettlePlan:
        """The changes for ``settlement``; ``lanes`` lists only lanes held or parked."""
        plan = cls(
            [m.row_id for m in settlement.delivered],
            list(settlement.retry),
            list(settlement.dead),
        )
        for lane in claim.lanes:
            hold = settlement.hold.get(lane)
            parked = settlement.park.get(lane)
            if hold is not None or parked is not None:
                plan.lanes.append(
                    LaneUpdate(
                        lane, hold, parked[0] if parked else None, parked[1] if parked else None
                    )
                )
        return plan
