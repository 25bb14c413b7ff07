"""The seam through which engines report what they do (metrics, logs, traces)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

ErrorKind = Literal["fetch", "apply", "settle", "ack", "nack", "source"]


@dataclass(frozen=True, slots=True)
class PipelineEvent:
    """One thing that happened in a pipeline.

    ``name`` is stable and documented (see :mod:`relaybox.pipeline.events`);
    counts and ``duration`` (seconds) are filled where they apply.
    """

    name: str
    pipeline: str
    count: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    duration: float | None = None
    error_kind: ErrorKind | None = None
    error: BaseException | None = None


class Observer(Protocol):
    """Receives pipeline events. Must be fast and must not raise."""

    def on_event(self, event: PipelineEvent, /) -> None: ...
