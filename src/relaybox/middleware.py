"""Every middleware, appliers made of middleware, and their settings, in one namespace.

Each lives in its own module under :mod:`relaybox.pipeline.middleware`; this
module only gathers them. Compose them with :func:`relaybox.chain` (first =
outermost) or use :func:`relaybox.resilient` for retry, dead letters and a
circuit breaker in the right order.
"""

from relaybox.pipeline.middleware.batch_split import BatchSplitter, split_batches
from relaybox.pipeline.middleware.circuit_breaker import (
    BreakerSettings,
    CircuitBreaker,
    CircuitBreakerApplier,
    CircuitState,
    circuit_breaker,
)
from relaybox.pipeline.middleware.context import ContextApplier, context
from relaybox.pipeline.middleware.dead_letter import (
    DeadLetteringApplier,
    DeadLetterQueueFullError,
    InMemoryDeadLetterQueue,
    dead_letter,
)
from relaybox.pipeline.middleware.dedup import (
    DeduplicatingApplier,
    InMemoryDedupStore,
    deduplicate,
)
from relaybox.pipeline.middleware.fan_out import FanOut, PermanentFanOutError, fan_out
from relaybox.pipeline.middleware.filtering import FilteringApplier, filtered
from relaybox.pipeline.middleware.health import (
    HealthCheck,
    HealthCheckedApplier,
    HealthDetails,
    HealthStatus,
    health_check,
)
from relaybox.pipeline.middleware.hooks import HookedApplier, HookedSource, Hooks, hooked
from relaybox.pipeline.middleware.log import LoggedApplier, logged
from relaybox.pipeline.middleware.ordering import OrderedApplier, ordered
from relaybox.pipeline.middleware.parallel import ParallelApplier, parallel
from relaybox.pipeline.middleware.rate_limit import RateLimitedApplier, TokenBucket, rate_limit
from relaybox.pipeline.middleware.recovery import RecoveringApplier, recover
from relaybox.pipeline.middleware.retry import (
    RetryBudgetSpentError,
    RetryingApplier,
    retry,
    retry_call,
)
from relaybox.pipeline.middleware.routing import Router, route
from relaybox.pipeline.middleware.timeout import TimeoutApplier, timeout
from relaybox.pipeline.middleware.timing import TimedApplier, timed
from relaybox.pipeline.middleware.transform import TransformingApplier, transformed
from relaybox.pipeline.middleware.validation import (
    ValidatingApplier,
    in_range,
    matches,
    matches_pattern,
    not_empty,
    not_none,
    positive,
    validate,
)

__all__ = [
    "BatchSplitter",
    "BreakerSettings",
    "CircuitBreaker",
    "CircuitBreakerApplier",
    "CircuitState",
    "ContextApplier",
    "DeadLetterQueueFullError",
    "DeadLetteringApplier",
    "DeduplicatingApplier",
    "FanOut",
    "FilteringApplier",
    "HealthCheck",
    "HealthCheckedApplier",
    "HealthDetails",
    "HealthStatus",
    "HookedApplier",
    "HookedSource",
    "Hooks",
    "InMemoryDeadLetterQueue",
    "InMemoryDedupStore",
    "LoggedApplier",
    "OrderedApplier",
    "ParallelApplier",
    "PermanentFanOutError",
    "RateLimitedApplier",
    "RecoveringApplier",
    "RetryBudgetSpentError",
    "RetryingApplier",
    "Router",
    "TimedApplier",
    "TimeoutApplier",
    "TokenBucket",
    "TransformingApplier",
    "ValidatingApplier",
    "circuit_breaker",
    "context",
    "dead_letter",
    "deduplicate",
    "fan_out",
    "filtered",
    "health_check",
    "hooked",
    "in_range",
    "logged",
    "matches",
    "matches_pattern",
    "not_empty",
    "not_none",
    "ordered",
    "parallel",
    "positive",
    "rate_limit",
    "recover",
    "retry",
    "retry_call",
    "route",
    "split_batches",
    "timed",
    "timeout",
    "transformed",
    "validate",
]
