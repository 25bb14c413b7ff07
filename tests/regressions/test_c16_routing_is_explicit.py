from __future__ import annotations

from collections.abc import Sequence

from relaybox.core.errors import UnknownRouteError
from relaybox.core.outcome import Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.routing import route


class Down(Exception):
    pass


class Recorder:
    def __init__(self, log: list[str], name: str) -> None:
        self.log = log
        self.name = name
        self.received: list[str] = []

    async def apply(self, records: Sequence[str], /) -> Outcome[str]:
        self.log.append(self.name)
        self.received.extend(records)
        return Outcome(delivered=tuple(records))


def kind(record: str) -> str:
    return record.split(":", maxsplit=1)[0]


async def test_c16_unknown_route_without_default_is_never_delivered() -> None:
    """A record with no route and no default fails with UnknownRouteError instead of passing."""
    log: list[str] = []
    outcome = await route(kind, {"order": Recorder(log, "order")}).apply(["order:1", "refund:1"])
    assert list(outcome.delivered) == ["order:1"]
    [failure] = outcome.failed
    assert failure.record == "refund:1"
    assert isinstance(failure.error, UnknownRouteError)


async def test_c16_route_errors_are_not_swallowed() -> None:
    """A route's fatal error stays on each of its records' failures, and other routes deliver."""
    error = Down("payments down")

    async def payments(records: Sequence[str]) -> Outcome[str]:
        return Outcome(error=error)

    log: list[str] = []
    router = route(kind, {"order": Recorder(log, "order"), "payment": applier(payments)})
    outcome = await router.apply(["payment:1", "order:1", "payment:2"])
    assert list(outcome.delivered) == ["order:1"]
    assert [(f.record, f.error) for f in outcome.failed] == [
        ("payment:1", error),
        ("payment:2", error),
    ]


async def test_c16_group_order_is_deterministic() -> None:
    """Groups are applied and reported in the order their first record appears, every time."""
    records = ["c:1", "a:1", "b:1", "a:2", "c:2"]
    for _ in range(5):
        log: list[str] = []
        routes = {name: Recorder(log, name) for name in ("a", "b", "c")}
        outcome = await route(kind, routes).apply(records)
        assert log == ["c", "a", "b"]
        assert list(outcome.delivered) == ["c:1", "c:2", "a:1", "a:2", "b:1"]


async def test_c16_default_group_cannot_collide_with_a_real_route() -> None:
    """A route with any name, even one that looks reserved, stays apart from the default group."""
    log: list[str] = []
    named_like_fallback = Recorder(log, "__fallback__")
    default = Recorder(log, "default")
    router = route(kind, {"__fallback__": named_like_fallback}, default=default)
    await router.apply(["__fallback__:1", "other:1"])
    assert named_like_fallback.received == ["__fallback__:1"]
    assert default.received == ["other:1"]
