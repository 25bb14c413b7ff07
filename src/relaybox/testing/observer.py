"""An observer that keeps every event, for assertions."""

from __future__ import annotations

from relaybox.ports.observer import PipelineEvent


class RecordingObserver:
    """Collects events in ``events``; ``names()`` lists their names in order."""

    def __init__(self) -> None:
        self.events: list[PipelineEvent] = []

    def on_event(self, event: PipelineEvent, /) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [e.name for e in self.events]

    def named(self, name: str) -> list[PipelineEvent]:
        return [e for e in self.events if e.name == name]
