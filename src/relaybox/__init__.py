"""relaybox: move data reliably between systems.

A source feeds a coordinator, which applies records through middleware and
settles each one back at the source: delivered, failed (to retry) or
dead-lettered with its error. The transactional outbox is such a pipeline:
:class:`Outbox` writes events in the business transaction and :class:`Relay`
publishes them. See ``docs/architecture.md``.
"""

from relaybox.core.backoff import Backoff, BackoffStrategy, FixedBackoff, LinearBackoff, RetryPolicy
from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import (
    ApplyTimeoutError,
    AttemptsExhaustedError,
    CircuitOpenError,
    ConfigurationError,
    CoordinatorRunningError,
    DeadLetterError,
    DeadLetterNotFoundError,
    DestinationUnavailableError,
    DuplicateInFlightError,
    EventValidationError,
    FanOutError,
    FetchError,
    KeyBlockedError,
    LeaseExpiredError,
    MissingOutcomeError,
    PermanentError,
    RelayboxError,
    ReleasedError,
    SchemaMissingError,
    SettleError,
    ShutdownReleasedError,
    TemporaryError,
    UnknownRouteError,
    ValidationError,
)
from relaybox.core.events import Event, Message, new_event_id
from relaybox.core.outcome import Failure, Outcome, merge
from relaybox.outbox.encoding import Limits
from relaybox.outbox.payloads import JsonEncoder, MsgspecEncoder, OrjsonEncoder, PayloadEncoder
from relaybox.outbox.publishers import CallbackPublisher, JsonLinesPublisher, publish_in_key_order
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.tables import Tables
from relaybox.outbox.writer import Outbox
from relaybox.pipeline.appliers import applier, process, process_batch
from relaybox.pipeline.chain import chain
from relaybox.pipeline.convenience import (
    FAST_POLLING,
    SLOW_POLLING,
    run_once,
    sync,
    sync_batch,
    sync_once,
    sync_with_retry,
)
from relaybox.pipeline.events import (
    CallbackObserver,
    CountingObserver,
    LoggingObserver,
    NullObserver,
    Observers,
)
from relaybox.pipeline.middleware.dead_letter import InMemoryDeadLetterQueue
from relaybox.pipeline.polling import PollingCoordinator, PollResult
from relaybox.pipeline.resilient import (
    Resilient,
    resilient,
    with_circuit_breaker,
    with_dead_letters,
    with_retry,
)
from relaybox.pipeline.runner import run, serve
from relaybox.pipeline.sources import FunctionSource, IterableSource, QueueSource
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.ports import (
    AnyMiddleware,
    Applier,
    BatchSource,
    DeadLetter,
    DeadLetterQueue,
    DedupStore,
    Middleware,
    Observer,
    PipelineEvent,
    StreamSource,
)
from relaybox.ports.publisher import Publisher
from relaybox.ports.store import OutboxAdmin, OutboxStore

__version__ = "0.1.0"

__all__ = [
    "FAST_POLLING",
    "SLOW_POLLING",
    "SYSTEM_CLOCK",
    "AnyMiddleware",
    "Applier",
    "ApplyTimeoutError",
    "AttemptsExhaustedError",
    "Backoff",
    "BackoffStrategy",
    "BatchSource",
    "CallbackObserver",
    "CallbackPublisher",
    "CircuitOpenError",
    "Clock",
    "ConfigurationError",
    "CoordinatorRunningError",
    "CountingObserver",
    "DeadLetter",
    "DeadLetterError",
    "DeadLetterNotFoundError",
    "DestinationUnavailableError",
    "DeadLetterQueue",
    "DedupStore",
    "DuplicateInFlightError",
    "Event",
    "EventValidationError",
    "Failure",
    "FanOutError",
    "FetchError",
    "FixedBackoff",
    "FunctionSource",
    "InMemoryDeadLetterQueue",
    "IterableSource",
    "JsonEncoder",
    "JsonLinesPublisher",
    "KeyBlockedError",
    "LeaseExpiredError",
    "Limits",
    "LinearBackoff",
    "LoggingObserver",
    "Message",
    "Middleware",
    "MissingOutcomeError",
    "MsgspecEncoder",
    "NullObserver",
    "Observer",
    "Observers",
    "Outbox",
    "OutboxAdmin",
    "OutboxStore",
    "Outcome",
    "OrjsonEncoder",
    "PayloadEncoder",
    "PermanentError",
    "PipelineEvent",
    "PollResult",
    "PollingCoordinator",
    "Publisher",
    "QueueSource",
    "Relay",
    "RelaySettings",
    "RelayboxError",
    "ReleasedError",
    "Resilient",
    "RetryPolicy",
    "SchemaMissingError",
    "SettleError",
    "ShutdownReleasedError",
    "StreamSource",
    "StreamingCoordinator",
    "Tables",
    "TemporaryError",
    "UnknownRouteError",
    "ValidationError",
    "__version__",
    "applier",
    "chain",
    "merge",
    "new_event_id",
    "process",
    "process_batch",
    "publish_in_key_order",
    "resilient",
    "run",
    "run_once",
    "serve",
    "sync",
    "sync_batch",
    "sync_once",
    "sync_with_retry",
    "with_circuit_breaker",
    "with_dead_letters",
    "with_retry",
]
