"""Public test kit: fakes that stand in for real parts in unit tests."""

from relaybox.testing.clock import FakeClock, settle
from relaybox.testing.observer import RecordingObserver

__all__ = ["FakeClock", "RecordingObserver", "settle"]
