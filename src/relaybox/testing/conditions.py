"""Waiting for a condition in tests that involve real I/O or threads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(
    condition: Callable[[], object], *, within: float = 10.0, what: str = "the condition"
) -> None:
    """Poll ``condition`` until it is truthy; fail after ``within`` real seconds.

    For work that happens in threads, subprocesses or real services, where a
    fake clock cannot help. The deadline only bounds a failing test; a passing
    one returns as soon as the condition holds.
    """
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.001)
