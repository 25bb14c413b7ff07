"""One business transaction on any driver, driven the way its users drive it (writer tests)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

from relaybox.core.events import Event
from relaybox.outbox.writer import Outbox


@dataclass
class Txn:
    """One business transaction on some driver, driven the way its users drive it."""

    tx: object
    sync: bool
    on_commit: Callable[[], object]
    on_rollback: Callable[[], object]

    async def add(self, outbox: Outbox, *events: Event) -> tuple[str, ...]:
        if self.sync:
            return outbox.add(self.tx, *events)
        return await outbox.add_async(self.tx, *events)

    async def commit(self) -> None:
        await maybe_await(self.on_commit())

    async def rollback(self) -> None:
        await maybe_await(self.on_rollback())


async def maybe_await(result: object) -> None:
    if inspect.isawaitable(result):
        await result
