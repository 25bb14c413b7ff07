"""A batch as one Kafka transaction: all of it visible to ``read_committed`` readers, or none.

Messages that fail before they are sent (too large for the producer) stay out
of the transaction and fail alone; if any sent message fails, or the commit
does, the transaction is aborted and the stored ones are released to be tried
again. (The tansu broker used in this project's tests stores aborted records
and shows them to ``read_committed`` consumers, so there only the outcome
reported here, not what consumers see, shows an abort.)
"""

from __future__ import annotations

import time

from confluent_kafka import KafkaException, Producer

from relaybox.adapters.kafka.delivery import Deliveries
from relaybox.adapters.kafka.errors import from_exception, unavailable
from relaybox.adapters.kafka.sending import Batch


def in_transaction(producer: Producer, ready: bool, batch: Batch) -> None:
    """Send ``batch`` inside a transaction on ``producer``; commit or abort it by its deadline."""
    deliveries, deadline = batch.deliveries, batch.deadline
    if not ready:
        deliveries.expire(unavailable("transactions could not be initialised"))
        return
    try:
        producer.begin_transaction()
    except KafkaException as exc:
        deliveries.fatal = True  # the transactional state is unknown: start a new producer
        deliveries.expire(from_exception(exc))
        return
    batch.send()
    error: BaseException = unavailable("a message of the transaction failed")
    if deliveries.clean():
        try:
            producer.commit_transaction(_left(deadline))
            return
        except KafkaException as exc:
            error = from_exception(exc)
    _abort(producer, deliveries, deadline)
    deliveries.abort(error)


def _abort(producer: Producer, deliveries: Deliveries, deadline: float) -> None:
    try:
        producer.abort_transaction(_left(deadline))
    except KafkaException:
        deliveries.fatal = True  # cannot tell what the broker kept: start a new producer


def _left(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())
