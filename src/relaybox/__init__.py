"""relaybox: move data reliably between systems.

A source feeds a coordinator, which applies records through middleware and
settles each one back at the source: delivered, failed (to retry) or
dead-lettered with its error. See ``docs/architecture.md``.
"""

from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.core.clock import SYSTEM_CLOCK, Clock
from relaybox.core.errors import (
    ApplyTimeoutError,
    CircuitOpenError,
    ConfigurationError,
    CoordinatorRunningError,
    DeadLetterError,
    DeadLetterNotFoundError,
    DuplicateInFlightError,
    FanOutError,
    FetchError,
    KeyBlockedError,
    MissingOutcomeError,
    PermanentError,
    RelayboxError,
    ReleasedError,
    SettleError,
    ShutdownReleasedError,
    TemporaryError,
    UnknownRouteError,
    ValidationError,
)
from relaybox.core.outcome import Failure, Outcome, merge
from relaybox.pipeline.appliers import applier, process, process_batch
from relaybox.pipeline.chain import chain
from relaybox.pipeline.convenience import (
    FAST_POLLING,
    SLOW_POLLING,
    run_once,
    sync,
    sync_batch,
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

__version__ = "0.1.0"

__all__ = [
    "FAST_POLLING",
    "SLOW_POLLING",
    "SYSTEM_CLOCK",
    "AnyMiddleware",
    "Applier",
    "ApplyTimeoutError",
    "Backoff",
    "BatchSource",
    "CallbackObserver",
    "CircuitOpenError",
    "Clock",
    "CountingObserver",
    "ConfigurationError",
    "CoordinatorRunningError",
    "DeadLetter",
    "DeadLetterError",
    "DeadLetterNotFoundError",
    "DeadLetterQueue",
    "DedupStore",
    "DuplicateInFlightError",
    "Failure",
    "FanOutError",
    "FetchError",
    "FunctionSource",
    "InMemoryDeadLetterQueue",
    "IterableSource",
    "KeyBlockedError",
    "LoggingObserver",
    "Middleware",
    "MissingOutcomeError",
    "NullObserver",
    "Observer",
    "Observers",
    "Outcome",
    "PermanentError",
    "PipelineEvent",
    "PollResult",
    "PollingCoordinator",
    "QueueSource",
    "RelayboxError",
    "ReleasedError",
    "Resilient",
    "RetryPolicy",
    "SettleError",
    "ShutdownReleasedError",
    "StreamSource",
    "StreamingCoordinator",
    "TemporaryError",
    "UnknownRouteError",
    "ValidationError",
    "__version__",
    "applier",
    "chain",
    "merge",
    "process",
    "process_batch",
    "resilient",
    "run",
    "run_once",
    "serve",
    "sync",
    "sync_batch",
    "sync_with_retry",
    "with_circuit_breaker",
    "with_dead_letters",
    "with_retry",
]
