"""A real store with one behaviour changed, for tests that bend a single step."""

from __future__ import annotations

from relaybox.ports.store import Claim, OutboxStore, Settlement, SettleReport


class Delegating:
    """Passes every call to ``store``; subclasses override the step they bend."""

    def __init__(self, store: OutboxStore) -> None:
        self.store = store

    async def claim(self, owner: str, limit: int, lease: float, /) -> Claim:
        return await self.store.claim(owner, limit, lease)

    async def settle(self, claim: Claim, settlement: Settlement, /) -> SettleReport:
        return await self.store.settle(claim, settlement)

    async def extend(self, claim: Claim, lease: float, /) -> bool:
        return await self.store.extend(claim, lease)

    async def cleanup(self, dead_retention: float, batch_size: int, /) -> int:
        return await self.store.cleanup(dead_retention, batch_size)

    async def close(self) -> None:
        return None
