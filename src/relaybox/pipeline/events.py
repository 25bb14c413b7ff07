"""Stable event names, and the observers that ship with the core.

Event names (also used as the ``event`` field of log records):

=====================  ===================================================
``records.fetched``    a poll fetched ``count`` records (also 0)
``records.applied``    a batch was applied: ``delivered``/``failed``/``dead``
``records.settled``    ``count`` records were marked/acked/nacked at the source
``poll.completed``     a poll finished; ``duration`` covers fetch to settle
``apply.completed``    one apply call finished; ``duration`` of the call
``error``              something failed; ``error_kind`` says where
=====================  ===================================================
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from relaybox.ports.observer import Observer, PipelineEvent

FETCHED = "records.fetched"
APPLIED = "records.applied"
SETTLED = "records.settled"
POLL_COMPLETED = "poll.completed"
APPLY_COMPLETED = "apply.completed"
ERROR = "error"

logger = logging.getLogger("relaybox.pipeline")


class NullObserver:
    """Ignores every event."""

    def on_event(self, event: PipelineEvent, /) -> None:
        return None


class LoggingObserver:
    """Logs events through stdlib :mod:`logging` with their stable names.

    Errors log at WARNING with the exception, counts at DEBUG (INFO with
    ``verbose=True``). Each record carries ``extra={"event": name, ...}``.
    """

    def __init__(self, log: logging.Logger | None = None, *, verbose: bool = False) -> None:
        self._log = log or logger
        self._level = logging.INFO if verbose else logging.DEBUG

    def on_event(self, event: PipelineEvent, /) -> None:
        extra = {"event": event.name, "pipeline": event.pipeline}
        if event.name == ERROR:
            self._log.warning(
                "%s: %s error: %r",
                event.pipeline,
                event.error_kind,
                event.error,
                exc_info=event.error,
                extra=extra,
            )
        elif self._log.isEnabledFor(self._level):
            self._log.log(
                self._level,
                "%s: %s count=%d delivered=%d failed=%d dead=%d duration=%s",
                event.pipeline,
                event.name,
                event.count,
                event.delivered,
                event.failed,
                event.dead,
                event.duration,
                extra=extra,
            )


class Observers:
    """Sends each event to several observers; one that raises does not stop the others."""

    def __init__(self, observers: Iterable[Observer]) -> None:
        self._observers = tuple(observers)

    def on_event(self, event: PipelineEvent, /) -> None:
        for observer in self._observers:
            try:
                observer.on_event(event)
            except Exception:
                logger.exception("observer %r failed on %s", observer, event.name)
