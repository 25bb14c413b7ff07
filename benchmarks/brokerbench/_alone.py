"""What a broker section prints when run alone: the relay publisher's rate on in-memory batches.

Not a section itself (``benchmarks/brokers.py`` skips modules starting with ``_``).
"""

from __future__ import annotations

import time

from relaybox.service.publishers import PublisherOptions, publisher_for
from relaybox.testing import message


async def publisher_rate(url: str, events: int, payload: bytes, batch: int = 1000) -> float:
    """Messages/s of the publisher ``url`` names, sending ``events`` keyed messages in batches."""
    messages = [message(n, key=f"k{n % 1000}", payload=payload) for n in range(events)]
    publisher = publisher_for(url, PublisherOptions(timeout=60.0))
    try:
        started = time.perf_counter()
        for start in range(0, events, batch):
            outcome = await publisher.publish(messages[start : start + batch])
            assert not outcome.failed, outcome.failed[:1]
        return events / (time.perf_counter() - started)
    finally:
        await publisher.close()
