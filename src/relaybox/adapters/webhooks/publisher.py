"""Delivering outbox events as signed HTTP POSTs (Standard Webhooks), one request per event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiohttp
from multidict import CIMultiDict

from relaybox.adapters.webhooks.address import WebhookAddress
from relaybox.adapters.webhooks.responses import mapped, verdict
from relaybox.core.errors import DestinationUnavailableError
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.core.signatures import sign
from relaybox.outbox.destinations import PublisherOptions
from relaybox.outbox.publishers import publish_in_key_order
from relaybox.outbox.routing import TopicMap


class WebhookPublisher:
    """POSTs each event's payload bytes to its URL; the answer decides its fate.

    * Headers: ``content-type``; ``webhook-id``, ``webhook-timestamp`` and
      ``webhook-signature`` (Standard Webhooks, one signature per secret);
      ``idempotency-key`` (the event id); ``relaybox-topic``, ``relaybox-key``,
      ``relaybox-type``; and the event's own headers (``traceparent``...).
    * Status codes and errors: :mod:`relaybox.adapters.webhooks.responses`.
    * One key's events go one after another (the next only once the previous
      was answered, so a receiver sees them in order and a failure holds the
      rest of its key); different keys go concurrently, at most
      ``concurrency`` requests per host. The whole call ends within
      ``timeout``: events it could not finish fail with
      :class:`DestinationUnavailableError`.
    * ``session``: a caller's session to send through (its TLS, auth, pools)
      instead of one of the publisher's own. The caller owns it: :meth:`close`
      leaves it open, and its connector's limits apply as well as
      ``concurrency``. Once the caller closes it, calls fail with
      :class:`DestinationUnavailableError`.
    """

    def __init__(
        self,
        address: WebhookAddress,
        topics: TopicMap,
        *,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ):
        self._address = address
        self._topics = topics
        self._timeout = timeout
        self._session = session
        self._owned = session is None
        self._hosts: dict[str, asyncio.Semaphore] = {}

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        if not messages:
            return Outcome()
        session = self._open()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout

        targets = {t: self._target(t) for t in {m.topic for m in messages}}

        async def send(message: Message) -> None:
            url, host, slots = targets[message.topic]
            async with slots:
                left = deadline - loop.time()
                if left <= 0:
                    raise DestinationUnavailableError(f"{host}: out of time for this call")
                await self._post(session, url, host, message, left)

        keys = self._address.concurrency * len({host for _, host, _ in targets.values()})
        return await publish_in_key_order(messages, send, max_concurrent_keys=keys)

    def _target(self, topic: str) -> tuple[str, str, asyncio.Semaphore]:
        """A topic's URL, its host, and the host's limit on requests in flight."""
        url = self._address.url(self._topics.destination(topic))
        host = urlsplit(url).netloc
        slots = self._hosts.setdefault(host, asyncio.Semaphore(self._address.concurrency))
        return url, host, slots

    async def _post(
        self, session: aiohttp.ClientSession, url: str, host: str, message: Message, left: float
    ) -> None:
        # ``total`` bounds the read as well; a separate read timer costs a reschedule per chunk.
        timeout = aiohttp.ClientTimeout(
            total=left, sock_connect=min(left, self._address.connect_timeout)
        )
        try:
            async with session.post(
                url,
                data=message.payload,
                headers=self._headers(message),
                timeout=timeout,
                allow_redirects=False,
            ) as response:
                await response.read()
                error = verdict(response.status, response.headers.get("Retry-After"), host)
        except Exception as exc:
            raise mapped(exc, host) from exc
        if error is not None:
            raise error

    def _headers(self, message: Message) -> CIMultiDict[str]:
        # Case-insensitive, so an event header can never add a second webhook-id or content-type.
        headers: CIMultiDict[str] = CIMultiDict(message.headers)
        stamp = int(time.time())
        headers["content-type"] = message.content_type
        headers["webhook-id"] = headers["idempotency-key"] = message.id
        headers["webhook-timestamp"] = str(stamp)
        if self._address.keys:
            headers["webhook-signature"] = sign(
                self._address.keys, message.id, stamp, message.payload
            )
        headers["relaybox-topic"] = message.topic
        if message.key is not None:
            headers["relaybox-key"] = message.key
        if message.type:
            headers["relaybox-type"] = message.type
        return headers

    def _open(self) -> aiohttp.ClientSession:
        if not self._owned:
            assert self._session is not None
            if self._session.closed:
                raise DestinationUnavailableError("the session given to this publisher is closed")
            return self._session
        if self._session is None or self._session.closed:
            per_host = self._address.concurrency
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=per_host)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def close(self) -> None:
        if not self._owned:
            return  # the caller's session: the caller closes it
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def __repr__(self) -> str:
        state = "open" if self._session is not None else "idle"
        return f"WebhookPublisher({urlsplit(self._address.template).netloc}, {state})"


def from_url(url: str, options: PublisherOptions) -> WebhookPublisher:
    """The :data:`~relaybox.service.publishers.PublisherFactory` of ``http://`` and ``https://``."""
    # Options that name their environment (for tests, say) are read there, else os.environ.
    address = WebhookAddress.parse(url, options.environ)
    return WebhookPublisher(address, options.topics, timeout=options.timeout)
