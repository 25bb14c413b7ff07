"""One module per broker for ``benchmarks/brokers.py``.

Each module exposes ``NAME: str``; ``async def available() -> bool`` (the
broker answers and its client library imports); ``async def raw_rate(events:
int, payload: bytes) -> float`` (messages/s of the client library alone,
pipelined, no relay logic); ``def publisher_url() -> str`` (a destination URL
for ``publisher_for``, a fresh destination, topic ``orders`` mapped by the
default template) and ``async def reset() -> None`` (drop what the last run
left). A module whose import fails, or whose broker does not answer, is skipped.
"""
