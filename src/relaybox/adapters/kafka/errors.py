"""librdkafka's errors mapped onto relaybox's: the broker is down, or this message is bad."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from relaybox.core.errors import (
    DestinationUnavailableError,
    PermanentError,
    RelayboxError,
    TemporaryError,
)

# Another attempt can never succeed for the message itself (too large, a topic
# that does not exist with auto-creation off, a record the broker refuses).
_PERMANENT = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.INVALID_RECORD,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError._INVALID_ARG,
    }
)
# The broker cannot be reached or is not serving: says nothing about the message.
_UNAVAILABLE = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._RESOLVE,
        KafkaError._DESTROY,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
    }
)


def mapped(error: KafkaError) -> RelayboxError:
    """relaybox's error for ``error``; raise it ``from`` the driver's exception."""
    code = error.code()
    text = f"Kafka: {error.str()} ({error.name()})"
    if code in _PERMANENT:
        return PermanentError(text)
    if code in _UNAVAILABLE or error.fatal() or error.retriable():
        return DestinationUnavailableError(text)
    return TemporaryError(text)


def unavailable(why: str) -> DestinationUnavailableError:
    return DestinationUnavailableError(f"Kafka: {why}")


def from_exception(exc: KafkaException) -> RelayboxError:
    """relaybox's error for a raised ``KafkaException``, with it as the cause."""
    error = exc.args[0] if exc.args else None
    failure = mapped(error) if isinstance(error, KafkaError) else unavailable(str(exc))
    failure.__cause__ = exc
    return failure


def is_fatal(exc: KafkaException) -> bool:
    """True when the client that raised ``exc`` can no longer be used."""
    error = exc.args[0] if exc.args else None
    return isinstance(error, KafkaError) and error.fatal()
