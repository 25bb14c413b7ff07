"""Redis Streams: a publisher (pipelined ``XADD``) and a consumer-group source.

Needs the ``redis`` extra (redis-py's asyncio client).
"""

try:
    import redis.asyncio  # noqa: F401 - fail here, at import, when the extra is missing
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "relaybox.adapters.redis needs redis-py: pip install 'relaybox[redis]'"
    ) from exc

from relaybox.adapters.redis.entries import StreamEntry, headers_text
from relaybox.adapters.redis.publisher import RedisStreamPublisher, redis_publisher
from relaybox.adapters.redis.source import RedisStreamSource

__all__ = [
    "RedisStreamPublisher",
    "RedisStreamSource",
    "StreamEntry",
    "headers_text",
    "redis_publisher",
]
