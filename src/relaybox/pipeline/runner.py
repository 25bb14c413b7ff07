"""Running a coordinator from a script: blocking, with graceful signal handling."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Protocol

logger = logging.getLogger("relaybox.pipeline")


class Runnable(Protocol):
    """Anything with ``run()`` until stopped and an idempotent ``stop()``."""

    async def run(self) -> None: ...

    async def stop(self) -> None: ...


def run(coordinator: Runnable, *, handle_signals: bool = True) -> None:
    """Run ``coordinator`` until it returns; blocks the calling thread.

    On the first SIGINT or SIGTERM the coordinator is stopped gracefully (the
    batch in flight finishes and is settled); a second signal cancels at once.
    """
    asyncio.run(serve(coordinator, handle_signals=handle_signals))


async def serve(coordinator: Runnable, *, handle_signals: bool = True) -> None:
    """The async body of :func:`run`, for callers that already have a loop."""
    loop = asyncio.get_running_loop()
    main = asyncio.ensure_future(coordinator.run())
    stopping: set[asyncio.Future[None]] = set()

    def on_signal(signum: int) -> None:
        if stopping:
            logger.warning("second %s: cancelling now", signal.Signals(signum).name)
            main.cancel()
            return
        logger.info("%s: stopping gracefully", signal.Signals(signum).name)
        stopping.add(asyncio.ensure_future(coordinator.stop()))

    installed: list[signal.Signals] = []
    if handle_signals:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, on_signal, signum)
                installed.append(signum)
            except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
                pass
    try:
        await main
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        for task in stopping:
            await task
