"""Publishing outbox messages to Redis Streams: one round trip per batch, key order kept."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from relaybox.adapters.redis.batch import BLOCKED, SCRIPT, reply_text, script_args
from relaybox.adapters.redis.faults import UNREACHABLE, rejected, unavailable
from relaybox.core.errors import ConfigurationError, KeyBlockedError
from relaybox.core.events import Message
from relaybox.core.outcome import Failure, Outcome
from relaybox.outbox.destinations import DestinationUrl, PublisherOptions
from relaybox.outbox.publishers import screen
from relaybox.outbox.routing import TopicMap

OPTIONS = ("stream", "maxlen", "minid_age")


class RedisStreamPublisher:
    """``XADD`` s each message to its stream, the whole batch in one round trip.

    The stream is ``stream`` when given, else the message topic through
    ``topics``. ``maxlen`` trims each stream to about that many entries;
    ``minid_age`` (seconds) drops entries older than that instead. A script
    appends the batch in order inside Redis (:mod:`~relaybox.adapters.redis.batch`),
    so each key's messages land in order, and a refused entry (a stream name
    that holds another type of value) fails alone while its key's later entries
    are skipped and released. The call is bounded by ``timeout``: a server that
    does not answer by then, or a lost connection, fails the call with
    ``DestinationUnavailableError``.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        topics: TopicMap | None = None,
        timeout: float = 10.0,
        stream: str | None = None,
        maxlen: int | None = None,
        minid_age: float | None = None,
        where: str = "redis",
    ) -> None:
        if maxlen is not None and minid_age is not None:
            raise ConfigurationError("give maxlen or minid_age for trimming, not both")
        self._client = client
        self._topics = topics or TopicMap()
        self._timeout = timeout
        self._stream = stream
        self._maxlen = maxlen
        self._minid_age = minid_age
        self._where = where
        self._append = client.register_script(SCRIPT)

    def stream_of(self, message: Message) -> str:
        return self._stream or self._topics.destination(message.topic)

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        sendable, failed = screen(messages, self._unplaceable)
        if not sendable:
            return Outcome(failed=tuple(failed))
        try:
            async with asyncio.timeout(self._timeout):
                replies = await self._send(sendable)
        except UNREACHABLE as exc:
            raise unavailable(self._where, exc) from exc
        delivered: list[Message] = []
        blocked = KeyBlockedError("an earlier message with the same key was refused")
        for message, reply in zip(sendable, replies, strict=True):
            text = reply_text(reply)
            if not text:
                delivered.append(message)
            elif text == BLOCKED:
                failed.append(Failure(message, blocked, 0))
            else:
                failed.append(Failure(message, rejected(ResponseError(text))))
        return Outcome(tuple(delivered), tuple(failed))

    def _unplaceable(self, message: Message) -> BaseException | None:
        try:
            self.stream_of(message)
        except ConfigurationError as exc:
            return exc
        return None

    async def _send(self, messages: Sequence[Message]) -> list[object]:
        minid = None
        if self._minid_age is not None:
            minid = f"{int((time.time() - self._minid_age) * 1000)}-0"
        streams = [self.stream_of(message) for message in messages]
        args = script_args(messages, maxlen=self._maxlen, minid=minid)
        replies: list[object] = await self._append(keys=streams, args=args)
        return replies

    async def close(self) -> None:
        await self._client.aclose()

    def __repr__(self) -> str:
        return f"RedisStreamPublisher({self._where}, stream={self._stream or self._topics!r})"


def redis_publisher(url: str, options: PublisherOptions) -> RedisStreamPublisher:
    """The publisher of ``redis://[user[:password]@]host[:port][/db][?stream=&maxlen=&minid_age=]``.

    ``rediss://`` uses TLS; ``password_env=VAR`` reads the password from ``VAR``.
    """
    where = DestinationUrl.parse(url, allowed=OPTIONS, environ=options.environ)
    db = where.path.strip("/") or "0"
    if not db.isdigit():
        raise ConfigurationError(f"{where.redacted()}: the path must be a database number")
    client = aioredis.Redis(
        host=where.host or "localhost",
        port=where.port or 6379,
        db=int(db),
        username=where.username,
        password=where.password,
        ssl=where.scheme == "rediss",
        socket_connect_timeout=options.timeout,
        socket_timeout=options.timeout,
    )
    age = where.number("minid_age", 0.0) if "minid_age" in where.params else None
    return RedisStreamPublisher(
        client,
        topics=options.topics,
        timeout=options.timeout,
        stream=where.text("stream"),
        maxlen=where.integer("maxlen"),
        minid_age=age,
        where=where.redacted(),
    )
