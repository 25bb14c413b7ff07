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


class LaneBudget:
    """How many lanes a claim should lease to fill a batch, learnt from the last claims.

    Every leased lane costs a row lock, an index scan and a release, so a claim
    of 1000 events should lease a few deep lanes rather than 1000 shallow ones.
    The budget starts at a twentieth of the batch; it doubles while claims come
    back less than half full because of it (many shallow lanes), and halves
    while full claims take fewer than 8 events per lane. The gap between the
    two rules keeps it from oscillating.
    """

    def __init__(self, share: int = 20, floor: int = 16) -> None:
        self._share = share
        self._floor = floor
        self._lanes: int | None = None

    def lanes(self, limit: int) -> int:
        if self._lanes is None:
            self._lanes = max(self._floor, limit // self._share)
        return max(1, min(limit, self._lanes))

    def observe(self, limit: int, budget: int, leased: int, claimed: int) -> None:
        per_lane = limit // max(1, leased)
        if claimed * 10 >= limit * 9 and per_lane < 8:
            self._lanes = max(self._floor, budget // 2)
        elif claimed * 2 < limit and leased >= budget:
            self._lanes = min(limit, budget * 2)
