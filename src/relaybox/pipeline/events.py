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
from collections import Counter
from collections.abc import Callable, Iterable

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


class CallbackObserver:
    """Calls a plain function per kind of event; each callback is optional.

    ``fetched(count)``, ``applied(delivered, failed, dead)``, ``settled(count)``,
    ``poll_duration(seconds)``, ``apply_duration(seconds)``, ``error(kind, error)``.
    The quickest way to feed an existing metrics client.
    """

    def __init__(
        self,
        *,
        fetched: Callable[[int], object] | None = None,
        applied: Callable[[int, int, int], object] | None = None,
        settled: Callable[[int], object] | None = None,
        poll_duration: Callable[[float], object] | None = None,
        apply_duration: Callable[[float], object] | None = None,
        error: Callable[[str, BaseException | None], object] | None = None,
    ) -> None:
        self._fetched, self._applied, self._settled = fetched, applied, settled
        self._poll_duration, self._apply_duration, self._error = (
            poll_duration,
            apply_duration,
            error,
        )

    def on_event(self, event: PipelineEvent, /) -> None:
        name = event.name
        if name == FETCHED and self._fetched:
            self._fetched(event.count)
        elif name == APPLIED and self._applied:
            self._applied(event.delivered, event.failed, event.dead)
        elif name == SETTLED and self._settled:
            self._settled(event.count)
        elif name == POLL_COMPLETED and self._poll_duration and event.duration is not None:
            self._poll_duration(event.duration)
        elif name == APPLY_COMPLETED and self._apply_duration and event.duration is not None:
            self._apply_duration(event.duration)
        elif name == ERROR and self._error:
            self._error(event.error_kind or "unknown", event.error)


class CountingObserver:
    """Keeps running totals, e.g. for a status page or a health endpoint.

    ``totals`` maps ``fetched``/``delivered``/``failed``/``dead``/``settled`` to
    counts; ``errors`` maps an error kind (``fetch``, ``apply``, ``settle``,
    ``ack``, ``nack``, ``source``) to its count; ``last_error`` is the newest.
    """

    def __init__(self) -> None:
        self.totals: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.last_error: BaseException | None = None

    def on_event(self, event: PipelineEvent, /) -> None:
        if event.name == FETCHED:
            self.totals["fetched"] += event.count
        elif event.name == APPLIED:
            self.totals["delivered"] += event.delivered
            self.totals["failed"] += event.failed
            self.totals["dead"] += event.dead
        elif event.name == SETTLED:
            self.totals["settled"] += event.count
        elif event.name == ERROR:
            self.errors[event.error_kind or "unknown"] += 1
            self.last_error = event.error

    def __repr__(self) -> str:
        return f"CountingObserver(totals={dict(self.totals)}, errors={dict(self.errors)})"
