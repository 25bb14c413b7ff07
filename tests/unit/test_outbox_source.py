"""The relay's source keeps claims ahead without losing one to an error or a stop."""

from __future__ import annotations

import asyncio

import pytest

from relaybox.core.outcome import Outcome
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.source import CLAIMS_AHEAD, OutboxSource, RelayStats
from relaybox.ports.store import Claim, Settlement, SettleReport
from relaybox.testing import FakeClock
from relaybox.testing.messages import message

Step = Claim | BaseException | tuple[Claim, asyncio.Event]


def claim(token: int) -> Claim:
    return Claim("relay", token, (f"u:{token}",), (message(token, lane=f"u:{token}"),))


class ScriptedStore:
    """Answers claims from ``script`` in order: a claim, an error to raise, or a
    claim that commits at once but whose reply waits at a gate. Then nothing."""

    def __init__(self, *script: Step) -> None:
        self.script = list(script)
        self.leased: list[int] = []
        self.settled: list[tuple[int, Settlement]] = []

    async def claim(self, owner: str, limit: int, lease: float, /) -> Claim:
        step = self.script.pop(0) if self.script else Claim(owner, 0, (), ())
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, tuple):
            step, gate = step
            self.leased.append(step.token)
            await gate.wait()
            return step
        self.leased.append(step.token)
        return step

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        self.settled.append((claim.token, settlement))
        return SettleReport(len(settlement.delivered))

    async def extend(self, claim: Claim, lease: float, /) -> bool:
        return True

    async def cleanup(self, dead_retention: float, batch_size: int, /) -> int:
        return 0

    async def close(self) -> None:
        return None


def source_over(store: ScriptedStore) -> OutboxSource:
    source = OutboxSource(store, RelaySettings(), "relay", RelayStats(), FakeClock())  # type: ignore[arg-type]
    source.pipelined = True
    return source


async def deliver(source: OutboxSource) -> None:
    batch = await source.fetch(10)
    await source.settle(Outcome(delivered=tuple(batch)))


async def test_while_a_batch_is_out_the_next_claims_are_already_made() -> None:
    store = ScriptedStore(*(claim(n) for n in range(1, 10)))
    source = source_over(store)

    await source.fetch(10)
    for _ in range(10):  # let the claims ahead run
        await asyncio.sleep(0)

    assert store.leased == list(range(1, 2 + CLAIMS_AHEAD))
    await source.close()


async def test_a_claim_ahead_that_failed_raises_once_and_the_next_one_is_used() -> None:
    store = ScriptedStore(claim(1), RuntimeError("database restarting"), claim(3))
    source = source_over(store)
    await deliver(source)

    with pytest.raises(RuntimeError, match="restarting"):
        await source.fetch(10)
    batch = await source.fetch(10)

    assert [m.row_id for m in batch] == [3]
    await source.close()


async def test_a_stop_while_waiting_for_a_claim_ahead_hands_that_claim_back() -> None:
    gate = asyncio.Event()
    store = ScriptedStore(claim(1), (claim(2), gate), claim(3))
    source = source_over(store)
    await deliver(source)

    waiting = asyncio.create_task(source.fetch(10))
    await asyncio.sleep(0)  # the fetch now waits for the claim ahead
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.set()  # the reply of the committed claim arrives
    await source.close()

    # Claims 2 and 3 were never published: each is handed back untouched, none
    # is left to expire (which would count an attempt).
    released = {token for token, settlement in store.settled if settlement == Settlement()}
    assert released == {2, 3}
    assert sorted(token for token, _ in store.settled) == store.leased
