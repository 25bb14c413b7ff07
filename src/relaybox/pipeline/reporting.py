"""One place where coordinators report events and errors."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

from relaybox.core.clock import Clock
from relaybox.core.outcome import Outcome
from relaybox.pipeline.events import APPLIED, APPLY_COMPLETED, ERROR, LoggingObserver
from relaybox.ports.applier import Applier, attempt
from relaybox.ports.observer import ErrorKind, Observer, PipelineEvent

logger = logging.getLogger("relaybox.pipeline")

ErrorHandler = Callable[[BaseException], object]
T = TypeVar("T")


class Reporter:
    """Sends pipeline events to the observer and errors to the error handler.

    Neither may break the pipeline: an observer or handler that raises is logged.
    """

    def __init__(self, name: str, observer: Observer | None, on_error: ErrorHandler | None) -> None:
        self.name = name
        self._observer = observer or LoggingObserver()
        self._on_error = on_error

    def event(self, name: str, **fields: object) -> None:
        try:
            self._observer.on_event(PipelineEvent(name, self.name, **fields))  # type: ignore[arg-type]
        except Exception:
            logger.exception("%s: observer failed on %s", self.name, name)

    async def apply(self, applier: Applier[T], records: Sequence[T], clock: Clock) -> Outcome[T]:
        """Apply ``records`` and report it; the outcome is reconciled, never raised.

        An exception from the applier becomes the outcome's fatal error, so every
        record is accounted for whatever the applier did.
        """
        started = clock.monotonic()
        outcome = (await attempt(applier, records)).reconcile(records)
        duration = clock.monotonic() - started
        self.event(APPLY_COMPLETED, count=len(records), duration=duration)
        self.event(
            APPLIED,
            count=outcome.count,
            delivered=len(outcome.delivered),
            failed=len(outcome.failed),
            dead=len(outcome.dead),
            duration=duration,
        )
        if outcome.error is not None:
            await self.error("apply", outcome.error)
        return outcome

    async def error(self, kind: ErrorKind, error: BaseException) -> None:
        self.event(ERROR, error_kind=kind, error=error)
        if self._on_error is None:
            return
        try:
            result = self._on_error(error)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("%s: error handler failed", self.name)
