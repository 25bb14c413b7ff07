"""Small boundary protocols; each docstring states the behaviour contract."""

from relaybox.ports.applier import AnyMiddleware, Applier, Middleware, attempt
from relaybox.ports.dead_letters import DeadLetter, DeadLetterQueue
from relaybox.ports.dedup import DedupStore
from relaybox.ports.observer import Observer, PipelineEvent
from relaybox.ports.source import BatchSource, StreamSource

__all__ = [
    "AnyMiddleware",
    "Applier",
    "BatchSource",
    "DeadLetter",
    "DeadLetterQueue",
    "DedupStore",
    "Middleware",
    "Observer",
    "PipelineEvent",
    "StreamSource",
    "attempt",
]
