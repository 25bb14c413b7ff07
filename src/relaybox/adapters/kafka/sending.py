"""One batch in flight: produce every message, then serve delivery reports until done or late."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka import Message as Report

from relaybox.adapters.kafka.delivery import Deliveries
from relaybox.adapters.kafka.errors import from_exception, is_fatal, mapped, unavailable
from relaybox.adapters.kafka.record import headers_of
from relaybox.core.errors import KeyBlockedError

_POLL = 0.05  # seconds per wait: how soon a finished batch is noticed


@dataclass(slots=True)
class Batch:
    """Sends ``deliveries``' messages on ``producer`` by ``deadline`` (a monotonic time)."""

    producer: Producer
    deliveries: Deliveries
    destination: Callable[[str], str]
    deadline: float

    def send(self) -> None:
        """Produce every sendable message, then wait for all reports or the deadline.

        Runs in a worker thread: reports are served by ``flush`` on this thread.
        """
        deliveries = self.deliveries
        for index, message in enumerate(deliveries.messages):
            if deliveries.sendable(index):
                self._produce(index)
            else:
                blocked = KeyBlockedError(f"an earlier message with key {message.key!r} failed")
                deliveries.released(index, blocked)
        while deliveries.waiting and (left := self.deadline - time.monotonic()) > 0:
            # flush() sends at once, without waiting out linger.ms, and serves the reports.
            self.producer.flush(min(_POLL, left))
        deliveries.expire(unavailable("not acknowledged within the publish timeout"))

    def _produce(self, index: int) -> None:
        message = self.deliveries.messages[index]
        while True:
            try:
                self.producer.produce(
                    self.destination(message.topic),
                    value=message.payload,
                    key=message.key.encode() if message.key is not None else None,
                    headers=headers_of(message),
                    on_delivery=_reporter(self.deliveries, index),
                )
                return
            except BufferError:  # the local queue is full: let librdkafka drain some
                if time.monotonic() >= self.deadline:
                    self.deliveries.refused(index, unavailable("the producer queue stayed full"))
                    return
                self.producer.poll(_POLL)
            except KafkaException as exc:
                self.deliveries.fatal = self.deliveries.fatal or is_fatal(exc)
                self.deliveries.refused(index, from_exception(exc))
                return


def _reporter(deliveries: Deliveries, index: int) -> Callable[[KafkaError | None, Report], None]:
    def report(error: KafkaError | None, _: Report) -> None:
        if error is None:
            deliveries.delivered(index)
        else:
            deliveries.fatal = deliveries.fatal or error.fatal()
            deliveries.failed(index, mapped(error))

    return report
