"""Waiting for the first of several things, leaving nothing behind."""

from __future__ import annotations

import asyncio
from typing import Any


async def first_of(*futures: asyncio.Future[Any]) -> None:
    """Wait until one of ``futures`` is done, then cancel the others.

    The caller checks which finished (``future.done()``). Nothing keeps running
    afterwards: a losing timer or getter is cancelled even when this wait
    itself is cancelled.
    """
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in futures:
            if not future.done():
                future.cancel()
