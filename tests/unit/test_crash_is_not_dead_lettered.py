"""An outage (a crashed or lost call) never turns into dead letters, whatever sits between.

A record fails "fatally" when its whole call failed; the error says nothing
about the record, so the dead-letter stage leaves it to its source (to retry
after the coordinator's backoff) unless the error is permanent.
"""

from collections.abc import Sequence

import pytest

from relaybox.core.errors import PermanentError
from relaybox.core.outcome import Outcome
from relaybox.pipeline.appliers import applier
from relaybox.pipeline.middleware.dead_letter import InMemoryDeadLetterQueue, dead_letter
from relaybox.pipeline.middleware.fan_out import fan_out
from relaybox.pipeline.middleware.ordering import ordered
from relaybox.pipeline.middleware.routing import route
from relaybox.ports.applier import Applier, Middleware

CRASH = ConnectionResetError("broker connection reset")


async def crashing(records: Sequence[str]) -> Outcome[str]:
    raise CRASH


async def delivering(records: Sequence[str]) -> Outcome[str]:
    return Outcome.all_delivered(records)


def through_route(inner: Applier[str]) -> Applier[str]:
    return route(lambda r: "only", {"only": inner})


def through_ordered(inner: Applier[str]) -> Applier[str]:
    wrap: Middleware[str] = ordered(lambda r: r[0])
    return wrap(inner)


def through_fan_out(inner: Applier[str]) -> Applier[str]:
    return fan_out({"crashy": inner, "fine": applier(delivering)})


@pytest.mark.parametrize("between", [through_route, through_ordered, through_fan_out])
async def test_a_crash_behind_any_middleware_stores_no_dead_letter(between: object) -> None:
    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    stack = dead_letter(queue)(between(applier(crashing)))  # type: ignore[operator]
    outcome = await stack.apply(["a1", "a2", "b1"])
    assert await queue.count() == 0
    assert list(outcome.dead) == []
    assert sorted(f.record for f in outcome.failed) == ["a1", "a2", "b1"]


async def test_a_permanent_crash_is_still_dead_lettered() -> None:
    async def rejects(records: Sequence[str]) -> Outcome[str]:
        raise PermanentError("schema rejected the whole batch")

    queue: InMemoryDeadLetterQueue[str] = InMemoryDeadLetterQueue()
    outcome = await dead_letter(queue)(through_route(applier(rejects))).apply(["a"])
    assert [f.record for f in outcome.dead] == ["a"]
    assert await queue.count() == 1
