"""The relay's Kafka publisher: a whole batch in flight, acks awaited off the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence

from confluent_kafka import KafkaException, Producer

from relaybox.adapters.kafka.delivery import Deliveries
from relaybox.adapters.kafka.errors import from_exception
from relaybox.adapters.kafka.sending import Batch
from relaybox.adapters.kafka.settings import KafkaSettings
from relaybox.adapters.kafka.transaction import in_transaction
from relaybox.core.errors import ConfigurationError
from relaybox.core.events import Message
from relaybox.core.outcome import Outcome
from relaybox.outbox.routing import TopicMap

log = logging.getLogger("relaybox.kafka")


class KafkaPublisher:
    """Publishes a batch to Kafka with every message in flight at once.

    * Producer settings: ``acks=all`` and ``enable.idempotence=true`` (unless the
      URL asks for other acks), so retries inside librdkafka neither reorder nor
      duplicate a partition's messages. The event key is the message key
      (unkeyed events have none), so a key stays on one partition, in order.
    * Headers carry the event's own headers (``traceparent`` too), then
      ``event-id``, ``event-type``, ``event-topic``, ``aggregate-type`` and
      ``content-type``; the payload bytes go through untouched.
    * The Kafka topic is ``topics.destination(message.topic)``.
    * A call lasts at most ``timeout`` seconds: what is unacknowledged by then
      fails with :class:`~relaybox.core.errors.DestinationUnavailableError`, as
      do transport errors; when nothing got through that way the call raises it.
      A message the broker refuses (too large, no such topic) fails alone with a
      :class:`~relaybox.core.errors.PermanentError`. Once a key's message failed,
      that key's later messages are released
      (:class:`~relaybox.core.errors.KeyBlockedError`), even if stored: see
      :mod:`.delivery` on the duplicates this may make.
    * With ``transactional_id`` each batch is one Kafka transaction (see
      :mod:`.transaction`).
    * :meth:`from_producer` publishes through a caller's producer instead.
    """

    def __init__(
        self, settings: KafkaSettings, *, topics: TopicMap | None = None, timeout: float = 10.0
    ) -> None:
        if not timeout > 0:
            raise ConfigurationError(f"timeout must be positive seconds, got {timeout!r}")
        self.settings = settings
        self.topics = topics or TopicMap()
        self.timeout = timeout
        self._producer: Producer | None = None
        self._ready = False  # transactions initialised
        self._lock = threading.Lock()  # one batch at a time, held by the worker thread
        self.batches = 0
        self._owned = True

    @classmethod
    def from_producer(
        cls, producer: Producer, *, topics: TopicMap | None = None, timeout: float = 10.0
    ) -> KafkaPublisher:
        """Publish through ``producer``, which the caller configured and owns.

        A producer, not a config: librdkafka producers are thread-safe and meant
        to be shared, and the caller's may already carry TLS or SASL settings.
        Give it ``enable.idempotence=true`` (with ``acks=all``) so its retries
        neither reorder nor duplicate a key's messages; transactions are for
        URL-built publishers only. Routing, timeout and errors are as for
        :func:`from_url`; delivery reports are served on the publisher's worker
        thread while a call runs, the caller's too. :meth:`close` neither
        flushes nor drops the producer, and a producer that failed fatally is
        reported on each call but never replaced.
        """
        publisher = cls(
            KafkaSettings({}, redacted="kafka (a given producer)"), topics=topics, timeout=timeout
        )
        publisher._producer, publisher._owned = producer, False
        return publisher

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]:
        if not messages:
            return Outcome()
        deliveries = await asyncio.to_thread(self._publish, messages)
        if (down := deliveries.all_unavailable()) is not None:
            raise down
        return deliveries.outcome()

    async def close(self) -> None:
        """Wait up to ``timeout`` for messages still queued, then let the producer go."""
        await asyncio.to_thread(self._close)

    def _publish(self, messages: Sequence[Message]) -> Deliveries:
        deadline = time.monotonic() + self.timeout
        with self._lock:
            self.batches += 1
            producer = self._client()
            deliveries = Deliveries(messages)
            try:
                batch = Batch(producer, deliveries, self.topics.destination, deadline)
                if self.settings.transactional_id is None:
                    batch.send()
                else:
                    in_transaction(producer, self._prepared(producer, deadline), batch)
            except KafkaException as exc:
                # poll() raises the producer's fatal errors, such as a broker that lost its
                # idempotence state on restart (UNKNOWN_PRODUCER_ID): a new producer is needed.
                deliveries.fatal = True
                deliveries.expire(from_exception(exc))
            self._forget_if_fatal(deliveries)
            return deliveries

    def _client(self) -> Producer:
        if self._producer is None:
            self._producer = Producer({**self.settings.producer(self.timeout), "logger": log})
            self._ready = False
        return self._producer

    def _prepared(self, producer: Producer, deadline: float) -> bool:
        """Initialise transactions once per producer; False if the broker did not answer."""
        if not self._ready:
            try:
                producer.init_transactions(max(0.0, deadline - time.monotonic()))
                self._ready = True
            except KafkaException as exc:
                log.warning("Kafka: could not initialise transactions: %s", exc)
        return self._ready

    def _forget_if_fatal(self, deliveries: Deliveries) -> None:
        if deliveries.fatal and self._owned:  # unusable (fenced, idempotence broken)
            self._producer = None

    def _close(self) -> None:
        if not self._owned:
            return  # the caller's producer: the caller flushes it
        with self._lock:
            producer, self._producer = self._producer, None
            if producer is not None:
                left = producer.flush(self.timeout)
                if left:
                    log.warning("Kafka: %d messages still unacknowledged at close", left)

    def __repr__(self) -> str:
        state = "connected" if self._producer is not None else "idle"
        return (
            f"KafkaPublisher({self.settings.redacted!r}, timeout={self.timeout:g}, "
            f"transactional={self.settings.transactional_id is not None}, "
            f"batches={self.batches}, {state})"
        )
