"""Turn a relay's settlement into the rows a store must change.

Pure and shared by every store: which event ids to delete, which to schedule
again, which to move to the dead letters, and how each leased lane is left.
Only lanes whose lease the store confirmed (``held``) take part; the messages of
any other lane are reported lost, because another relay may own them now.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from relaybox.core.events import Message
from relaybox.ports.store import Claim, Dead, Retry, Settlement


@dataclass(frozen=True, slots=True)
class LaneUpdate:
    """How a lane is left when its lease is released."""

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
    lost: list[Message] = field(default_factory=list)

    @property
    def settled(self) -> int:
        return len(self.delivered) + len(self.retry) + len(self.dead)

    @classmethod
    def build(cls, claim: Claim, settlement: Settlement, held: Collection[str]) -> SettlePlan:
        plan = cls()
        plan.delivered = [m.row_id for m in settlement.delivered if m.lane in held]
        plan.retry = [r for r in settlement.retry if r.message.lane in held]
        plan.dead = [d for d in settlement.dead if d.message.lane in held]
        decided = {id(m) for m in settlement.delivered}
        decided.update(id(r.message) for r in settlement.retry)
        decided.update(id(d.message) for d in settlement.dead)
        plan.lost = [m for m in claim.messages if m.lane not in held and id(m) in decided]
        for lane in claim.lanes:
            if lane not in held:
                continue
            parked = settlement.park.get(lane)
            plan.lanes.append(
                LaneUpdate(
                    lane,
                    settlement.hold.get(lane),
                    parked[0] if parked else None,
                    parked[1] if parked else None,
                )
            )
        return plan
