"""Memory of which records were already delivered."""

from __future__ import annotations

from collections.abc import Collection, Hashable
from typing import Protocol


class DedupStore(Protocol):
    """Remembers delivered keys for a while.

    Contract: ``seen(keys)`` returns the subset of ``keys`` remembered and not
    expired; ``remember(keys)`` records them as delivered now. Implementations
    bound their memory (expiry and capacity) and must not run background tasks
    that outlive their owner.
    """

    async def seen(self, keys: Collection[Hashable], /) -> set[Hashable]: ...

    async def remember(self, keys: Collection[Hashable], /) -> None: ...
