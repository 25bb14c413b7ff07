"""O-11: the plain ``add`` captures the active trace context; it reaches the publisher.

The hazard: the trace-aware variant of "save" computed the context and then
inserted the event without it, so tracing worked only through a separate
method. Here there is one ``add``; with a span active, ``traceparent`` is in
the stored headers and in the message the publisher receives.
"""

from __future__ import annotations

import pytest

from relaybox.core.events import Event
from relaybox.outbox.relay import Relay
from relaybox.testing.publisher import MemoryPublisher


async def test_o11_the_span_active_at_add_travels_with_the_message(outbox_db) -> None:
    trace_sdk = pytest.importorskip("opentelemetry.sdk.trace")
    tracer = trace_sdk.TracerProvider().get_tracer("relaybox-regressions")
    with tracer.start_as_current_span("place-order") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        await outbox_db.write(Event("orders", {"n": 1}, key="a", headers={"tenant": "acme"}))
    publisher = MemoryPublisher()

    await Relay(outbox_db.store, publisher).drain()

    [message] = publisher.published
    assert message.headers["tenant"] == "acme"
    assert message.headers["traceparent"].split("-")[1] == trace_id
