"""Capture the W3C trace context of the code that adds an event.

When OpenTelemetry is installed and a span is active, its propagator writes
``traceparent`` (and ``tracestate``, baggage...) into a copy of the event's
headers; the caller's mapping is never changed and headers the caller set win.
Without OpenTelemetry this is a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Protocol


class _Inject(Protocol):
    def __call__(self, carrier: dict[str, str], /) -> None: ...


@cache
def _injector() -> _Inject | None:
    try:
        from opentelemetry.propagate import inject  # noqa: PLC0415 - optional
    except ImportError:
        return None

    def into(carrier: dict[str, str], /) -> None:
        inject(carrier)

    return into


def with_trace_context(headers: Mapping[str, str]) -> Mapping[str, str]:
    """``headers`` plus the active trace context, as a new mapping when anything was added."""
    inject = _injector()
    if inject is None:
        return headers
    carrier: dict[str, str] = {}
    inject(carrier)
    if not carrier:
        return headers
    return {**carrier, **headers}
