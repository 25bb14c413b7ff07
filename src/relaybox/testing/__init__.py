"""Public test kit: in-memory fakes that stand in for real parts in unit tests.

Everything here is deterministic: the :class:`FakeClock` moves only when
told, the sources and appliers keep what happened for assertions.
``relaybox.testing.contracts`` holds the suites every source must pass, and
``relaybox.testing.publisher_contract`` the one every publisher must pass;
subclass them to check your own.
"""

from relaybox.testing.appliers import ScriptedApplier
from relaybox.testing.clock import FakeClock, settle
from relaybox.testing.conditions import wait_until
from relaybox.testing.messages import message
from relaybox.testing.observer import RecordingObserver
from relaybox.testing.publisher import MemoryPublisher
from relaybox.testing.sources import MemoryBatchSource, MemoryStreamSource

__all__ = [
    "FakeClock",
    "MemoryBatchSource",
    "MemoryPublisher",
    "MemoryStreamSource",
    "RecordingObserver",
    "ScriptedApplier",
    "message",
    "settle",
    "wait_until",
]
