"""Property tests: random middleware stacks keep the delivery promise end to end.

Hypothesis draws per-record failure scripts and a stack of middleware (outermost
first) around a scripted downstream, then drives the stack through a
``PollingCoordinator`` over a ``MemoryBatchSource`` (poll until nothing is
pending or a bound is hit) or through a ``StreamingCoordinator`` over
``MemoryStreamSource`` rounds (nacked records are pushed again). After every
poll or round the test checks the promise of ``docs/delivery.md``:

* the reconciled outcome accounts for every fetched record exactly once;
* delivered and dead records are settled once and never fetched again, and no
  record is both settled and pending;
* the records settled dead are exactly the records stored in the dead-letter
  queues in use (by identity), each letter with a real error, never a release,
  and a true attempt count >= 1;
* no failure is a ``MissingOutcomeError`` (a layer lost a record), and no
  failure or letter claims more attempts than the record really got;
* a record that always fails never ends delivered unless a layer may skip it
  by policy (filter, ``on_invalid="skip"``, ``unknown="skip"``);
* with only transient failures every record ends settled (delivered, or dead
  when a dead-letter stage gave up on it) within the bound.

Further properties stop the coordinators at a random moment, and set the stop
signal while retry waits on the fake clock: only released records come back,
nothing is dead-lettered for the stop, and the promise above still holds.

Nothing waits on real time: every wait is on a ``FakeClock`` that the driver
advances while the work under test sleeps on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hypothesis import HealthCheck as HypothesisHealthCheck
from hypothesis import event, given, settings
from hypothesis import strategies as st

from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.core.errors import (
    ApplyTimeoutError,
    DeadLetterError,
    FanOutError,
    MissingOutcomeError,
    PermanentError,
    ShutdownReleasedError,
    TemporaryError,
    UnknownRouteError,
    ValidationError,
    is_released,
)
from relaybox.core.outcome import Failure, Outcome
from relaybox.core.stopping import stop_signal
from relaybox.middleware import (
    HealthCheck,
    Hooks,
    InMemoryDedupStore,
    circuit_breaker,
    dead_letter,
    deduplicate,
    fan_out,
    filtered,
    health_check,
    hooked,
    logged,
    ordered,
    recover,
    retry,
    route,
    split_batches,
    timed,
    timeout,
    transformed,
    validate,
)
from relaybox.pipeline.middleware.circuit_breaker import BreakerSettings
from relaybox.pipeline.middleware.dead_letter import InMemoryDeadLetterQueue, Overflow
from relaybox.pipeline.polling import PollingCoordinator, PollResult
from relaybox.pipeline.resilient import resilient
from relaybox.pipeline.streaming import StreamingCoordinator
from relaybox.ports.applier import Applier
from relaybox.ports.dead_letters import DeadLetter
from relaybox.testing import FakeClock, MemoryBatchSource, MemoryStreamSource, RecordingObserver

R = TypeVar("R")

PROPERTY = settings(
    deadline=None,
    # Keeps the file around 10 s; raise it to hunt (e.g. RELAYBOX_COMPOSITION_EXAMPLES=4000).
    max_examples=int(os.environ.get("RELAYBOX_COMPOSITION_EXAMPLES", "250")),
    suppress_health_check=[HypothesisHealthCheck.too_slow],
)
MAX_POLLS = 80
MAX_ROUNDS = 40
BREAKER_REST = 5.0
BETWEEN_POLLS = 2 * BREAKER_REST  # long enough for an open breaker to admit a probe
NEVER = 1e9  # a timeout that cannot fire
SLOW = 2.0  # how long a slow call takes; the drawn timeouts are 1 s and 3 s
STEP = 0.25  # how far the driver moves the fake clock at a time


# -- records and their scripts -------------------------------------------------------------


@dataclass(eq=False)
class Rec:
    """A record, tracked by identity; its script says how the downstream treats it.

    ``kind`` is ``ok``, ``transient`` (fails ``n`` times with a TemporaryError),
    ``always`` (a foreign exception every time), ``permanent`` (PermanentError
    every time), ``crash`` (the first ``n`` downstream calls holding it raise
    for the whole batch; ``CRASHES_ALWAYS`` means every call) or ``slow`` (the
    first ``n`` calls holding it take ``SLOW`` seconds on the fake clock, long
    enough for a short timeout).
    ``key``, ``route``, ``skip`` and ``invalid`` feed the ordering key, the
    route selector, the filter and the validator; every such user callable (and
    the transform) raises for a ``poison`` record, which must then fail alone.
    """

    id: int
    kind: str
    n: int = 0
    key: str | None = None
    route: str = "x"
    skip: bool = False
    invalid: bool = False
    poison: bool = False

    def __repr__(self) -> str:
        flags = "".join(
            f for f, on in (("S", self.skip), ("I", self.invalid), ("P", self.poison)) if on
        )
        return f"Rec({self.id}:{self.kind}{self.n or ''}:{self.key}:{self.route}{flags})"


@dataclass(eq=False)
class Wrapped:
    """What ``transformed`` hands the inner applier: a new object per call."""

    inner: object


def origin(value: object) -> Rec:
    while isinstance(value, Wrapped):
        value = value.inner
    assert isinstance(value, Rec), value
    return value


CRASHES_ALWAYS = 10**9  # a ``crash`` script this long never lets its batches through


def always_fails(rec: Rec) -> bool:
    return rec.kind in ("always", "permanent") or (rec.kind == "crash" and rec.n >= CRASHES_ALWAYS)


scripts = st.one_of(
    st.tuples(st.just("ok"), st.just(0)),
    st.tuples(st.just("transient"), st.integers(1, 3)),
    st.tuples(st.just("always"), st.just(0)),
    st.tuples(st.just("permanent"), st.just(0)),
    st.tuples(st.just("crash"), st.sampled_from([1, 2, CRASHES_ALWAYS])),
    st.tuples(st.just("slow"), st.integers(1, 2)),
)
transient_scripts = st.one_of(
    st.tuples(st.just("ok"), st.just(0)),
    st.tuples(st.just("transient"), st.integers(1, 3)),
    st.tuples(st.just("crash"), st.integers(1, 2)),
    st.tuples(st.just("slow"), st.integers(1, 2)),
)
KEYS = st.sampled_from([None, "a", "b", "c"])


@st.composite
def record_specs(draw: st.DrawFn, *, transient_only: bool = False) -> list[Rec]:
    count = draw(st.integers(1, 8))
    records = []
    for i in range(count):
        kind, n = draw(transient_scripts if transient_only else scripts)
        records.append(
            Rec(
                id=i,
                kind=kind,
                n=n,
                key=draw(KEYS),
                route=draw(st.sampled_from(["x", "y"] if transient_only else ["x", "y", "z"])),
                skip=False if transient_only else draw(st.booleans()),
                invalid=False if transient_only else draw(st.booleans()),
                poison=False if transient_only else draw(st.sampled_from([False] * 5 + [True])),
            )
        )
    return records


# -- the world: downstreams, dead-letter queues, errors ------------------------------------


class RecordingQueue(InMemoryDeadLetterQueue[Any]):
    """An in-memory dead-letter queue that also keeps every letter it ever stored,
    so letters evicted by ``drop_oldest`` still count as stored."""

    def __init__(self, capacity: int | None, *, overflow: Overflow) -> None:
        super().__init__(capacity, overflow=overflow)
        self.history: list[DeadLetter[Any]] = []

    async def put(self, letter: DeadLetter[Any], /) -> None:
        await super().put(letter)
        self.history.append(letter)


@dataclass
class World:
    """Everything a scenario built, for the checks."""

    clock: FakeClock
    capacity: int | None = None
    overflow: Overflow = "reject"
    queues: list[RecordingQueue] = field(default_factory=list)
    produced: list[BaseException] = field(default_factory=list)
    produced_ids: set[int] = field(default_factory=set)
    seen: Counter[int] = field(default_factory=Counter)  # downstream calls per record
    judged: Counter[int] = field(default_factory=Counter)  # user-callable verdicts per record
    applied: Counter[int] = field(default_factory=Counter)
    filters: bool = False
    fan_outs: bool = False
    validate_skips: bool = False
    route_skips: bool = False
    hook_calls: int = 0
    durations: list[float] = field(default_factory=list)

    def error(self, error: BaseException) -> BaseException:
        """Register ``error`` as raised or reported by the scenario itself."""
        self.produced.append(error)  # kept alive, so its id stays unique
        self.produced_ids.add(id(error))
        return error

    def queue(self) -> RecordingQueue:
        queue = RecordingQueue(self.capacity, overflow=self.overflow)
        self.queues.append(queue)
        return queue

    def may_skip(self, rec: Rec) -> bool:
        """True when some layer may report ``rec`` delivered without applying it."""
        return (
            (self.filters and rec.skip)
            or (self.validate_skips and rec.invalid)
            or (self.route_skips and rec.route == "z")
        )

    def real(self, error: BaseException) -> bool:
        """True for an error of a real attempt or a middleware verdict on the record."""
        if id(error) in self.produced_ids:
            return True
        if isinstance(error, DeadLetterError):
            # An inner queue could not store it; the real error rides along.
            return self.real(error.original)
        if isinstance(error, FanOutError):
            # Real at one destination at least; the others may have released it.
            inner = error.errors.values()
            return any(self.real(e) for e in inner) and all(
                self.real(e) or is_released(e) for e in inner
            )
        return isinstance(error, ValidationError | UnknownRouteError | ApplyTimeoutError)


class Downstream:
    """The scripted end of a stack; each instance keeps its own failure counters."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._left: dict[int, int] = {}

    async def apply(self, records: Sequence[Any], /) -> Outcome[Any]:
        world = self._world
        await asyncio.sleep(0)  # let concurrent calls interleave
        recs = [origin(r) for r in records]
        for rec in recs:
            world.seen[rec.id] += 1
        crashing = [rec for rec in recs if rec.kind == "crash" and self._take(rec)]
        if crashing:
            names = ", ".join(repr(r) for r in crashing)
            raise world.error(RuntimeError(f"downstream crashed on {names}"))
        if [rec for rec in recs if rec.kind == "slow" and self._take(rec)]:
            await world.clock.sleep(SLOW)
        delivered: list[Any] = []
        failed: list[Failure[Any]] = []
        for value, rec in zip(records, recs, strict=True):
            error: BaseException | None = None
            if rec.kind == "transient" and self._take(rec):
                error = TemporaryError(f"{rec!r} is not ready")
            elif rec.kind == "always":
                error = RuntimeError(f"{rec!r} always fails")
            elif rec.kind == "permanent":
                error = PermanentError(f"{rec!r} can never succeed")
            if error is None:
                delivered.append(value)
                world.applied[rec.id] += 1
            else:
                failed.append(Failure(value, world.error(error)))
        return Outcome(delivered, failed)

    def _take(self, rec: Rec) -> bool:
        left = self._left.get(rec.id, rec.n)
        if left <= 0:
            return False
        self._left[rec.id] = left - 1
        return True


# -- stacks --------------------------------------------------------------------------------

Layer = tuple[Any, ...]

layers = st.one_of(
    st.tuples(st.just("resilient"), st.integers(1, 4), st.integers(1, 3)),
    st.tuples(st.just("retry"), st.one_of(st.none(), st.integers(1, 4))),
    st.tuples(st.just("dead_letter")),
    st.tuples(st.just("breaker"), st.integers(1, 3), st.sampled_from([0.0, 0.5, 1.0])),
    st.tuples(st.just("split"), st.integers(1, 3)),
    # The last boolean of a layer with a user callable picks ``def`` or ``async def``.
    st.tuples(st.just("ordered"), st.booleans()),
    st.tuples(st.just("fan_out"), st.booleans(), st.booleans(), st.booleans()),
    st.tuples(st.just("route"), st.sampled_from(["fail", "skip", "dead_letter"]), st.booleans()),
    st.tuples(st.just("dedup"), st.booleans()),
    st.tuples(st.just("validate"), st.sampled_from(["fail", "skip", "dead_letter"]), st.booleans()),
    st.tuples(st.just("filtered"), st.booleans()),
    st.tuples(st.just("transformed"), st.booleans()),
    st.tuples(st.just("recover")),
    st.tuples(
        st.just("timeout"), st.sampled_from([1.0, 3.0]), st.sampled_from(["batch", "record"])
    ),
    st.tuples(st.just("hooked")),
    st.tuples(st.just("logged"), st.sampled_from([logging.DEBUG, logging.INFO])),
    st.tuples(st.just("timed")),
    st.tuples(st.just("health")),
)
stacks = st.lists(layers, max_size=6)

LOG = logging.getLogger("relaybox.tests.composition")


@dataclass(frozen=True)
class Timing:
    """Retry backoff: zero (no clock waits) or real waits on the fake clock."""

    backoff: Backoff
    seed: int

    @property
    def waits(self) -> bool:
        return self.backoff.max_delay > 0


timings = st.one_of(
    st.just(Timing(Backoff(initial=0, max_delay=0), 0)),
    st.builds(
        Timing,
        st.builds(
            Backoff,
            initial=st.just(0.5),
            max_delay=st.just(2.0),
            jitter=st.sampled_from([0.0, 0.1]),
        ),
        st.integers(0, 2**16),
    ),
)


def policy(attempts: int | None, timing: Timing) -> RetryPolicy:
    if attempts is None and not timing.waits:
        attempts = 6  # unlimited retries need a moving clock to end
    return RetryPolicy(attempts=attempts, backoff=timing.backoff, max_elapsed=5.0)


@dataclass(frozen=True)
class Setup:
    """Everything else a scenario draws besides the stack and the records."""

    timing: Timing
    capacity: int | None  # of each dead-letter queue
    overflow: Overflow
    batch_size: int
    workers: int  # streaming only
    keyed: bool  # streaming only: lanes by record key

    def world(self) -> World:
        return World(FakeClock(), capacity=self.capacity, overflow=self.overflow)


setups = st.builds(
    Setup,
    timing=timings,
    capacity=st.sampled_from([None, None, 1, 3]),
    overflow=st.sampled_from(["reject", "drop_oldest"]),
    batch_size=st.integers(1, 8),
    workers=st.integers(1, 3),
    keyed=st.booleans(),
)


def build(stack: Sequence[Layer], world: World, timing: Timing) -> Applier[Any]:
    """The stack around a fresh downstream; ``stack[0]`` is the outermost layer."""
    applier: Applier[Any] = Downstream(world)
    storing_below = False
    rng = random.Random(timing.seed)
    for depth in reversed(range(len(stack))):
        layer = stack[depth]
        if layer[0] in DELIVERY:
            transform_above = any(outer[0] == "transformed" for outer in stack[:depth])
            applier = wrap_delivery(
                layer, applier, world, timing, rng, transform_above=transform_above
            )
        else:
            applier = wrap_around(layer, applier, world, storing_below)
        storing_below |= stores(layer)
    return applier


DELIVERY = {
    "resilient",
    "retry",
    "dead_letter",
    "breaker",
    "split",
    "ordered",
    "fan_out",
    "route",
    "dedup",
    "validate",
}


def stores(layer: Layer) -> bool:
    """True for a layer that may put records in a dead-letter queue."""
    name = layer[0]
    return name in ("resilient", "dead_letter") or (
        name in ("route", "validate") and layer[1] == "dead_letter"
    )


def has_storing(stack: Sequence[Layer]) -> bool:
    return any(stores(layer) for layer in stack)


def wrap_delivery(
    layer: Layer,
    inner: Applier[Any],
    world: World,
    timing: Timing,
    rng: random.Random,
    *,
    transform_above: bool,
) -> Applier[Any]:
    """The layers that decide where records go and what their failures become."""
    name, clock = layer[0], world.clock
    if name == "resilient":
        return resilient(
            inner,
            world.queue(),
            retry=policy(layer[1], timing),
            breaker=BreakerSettings(failure_threshold=layer[2], reset_timeout=BREAKER_REST),
            clock=clock,
        )
    if name == "retry":
        return retry(policy(layer[1], timing), clock=clock, rng=rng)(inner)
    if name == "dead_letter":
        return dead_letter(world.queue(), clock=clock)(inner)
    if name == "breaker":
        return circuit_breaker(
            clock=clock,
            failure_threshold=layer[1],
            failure_ratio=layer[2],
            reset_timeout=BREAKER_REST,
        )(inner)
    if name == "split":
        return split_batches(layer[1])(inner)
    if name == "ordered":
        return ordered(user(world, lambda rec: rec.key, layer[1]))(inner)
    if name == "fan_out":
        world.fan_outs = True
        # A transform above hands fan-out a new object per call; fan-out then
        # needs ``key`` to recognise the record across calls (as documented).
        return fan_out(
            {"a": inner, "b": Downstream(world)},
            key=user(world, lambda rec: rec.id, layer[3]) if layer[2] or transform_above else None,
            concurrent=layer[1],
        )
    if name == "route":
        world.route_skips |= layer[1] == "skip"
        return route(
            user(world, lambda rec: rec.route, layer[2], verdict=lambda route: route == "z"),
            {"x": inner, "y": Downstream(world)},
            unknown=layer[1],
            dead_letters=world.queue() if layer[1] == "dead_letter" else None,
            clock=clock,
        )
    if name == "dedup":
        store = InMemoryDedupStore(clock=clock, ttl=None)
        return deduplicate(user(world, lambda rec: rec.id, layer[1]), store)(inner)
    assert name == "validate", name
    world.validate_skips |= layer[1] == "skip"
    return validate(
        user(
            world,
            lambda rec: "flagged invalid" if rec.invalid else None,
            layer[2],
            verdict=lambda reason: reason is not None,
        ),
        on_invalid=layer[1],
        dead_letters=world.queue() if layer[1] == "dead_letter" else None,
        clock=clock,
    )(inner)


def wrap_around(
    layer: Layer, inner: Applier[Any], world: World, storing_below: bool
) -> Applier[Any]:
    """The layers that filter, reshape, bound or observe calls."""
    name, clock = layer[0], world.clock
    if name == "filtered":
        world.filters = True
        return filtered(user(world, lambda rec: not rec.skip, layer[1]))(inner)
    if name == "transformed":
        return transformed(user(world, Wrapped, layer[1], whole=True))(inner)
    if name == "recover":
        return recover()(inner)
    if name == "timeout":
        # A timeout that fires after an inner dead-letter stage stored a record
        # fails that record for another try although it is stored: the
        # at-least-once duplicate the timeout documents. Keep it from firing there.
        seconds = NEVER if storing_below else layer[1]
        return timeout(seconds, per=layer[2], clock=clock)(inner)
    if name == "hooked":
        return hooked(Hooks[Any](on_record=lambda r, e: _count_hook(world)))(inner)
    if name == "logged":
        LOG.setLevel(logging.INFO)
        return logged(LOG, level=layer[1], name="composition", clock=clock)(inner)
    if name == "timed":
        return timed(world.durations.append, clock=clock)(inner)
    assert name == "health", name
    return health_check(HealthCheck(clock=clock))(inner)


class Poisoned(Exception):
    """A user callable (predicate, key, selector, validator, transform) refused a record."""


def user(
    world: World,
    fn: Callable[[Any], Any],
    is_async: bool,
    *,
    whole: bool = False,
    verdict: Callable[[Any], bool] | None = None,
) -> Callable[[Any], Any]:
    """A per-record user callable: ``fn`` of the record (``whole``: of the value as
    given), raising :class:`Poisoned` for a poison record; ``async def`` if asked.
    A raise, or a result ``verdict`` calls a failure, counts in ``world.judged``."""

    def call(value: Any) -> Any:
        rec = origin(value)
        if rec.poison:
            world.judged[rec.id] += 1
            raise world.error(Poisoned(f"{rec!r} is poison"))
        result = fn(value if whole else rec)
        if verdict is not None and verdict(result):
            world.judged[rec.id] += 1
        return result

    if not is_async:
        return call

    async def call_async(value: Any) -> Any:
        await asyncio.sleep(0)
        return call(value)

    return call_async


def _count_hook(world: World) -> None:
    world.hook_calls += 1


# -- driving the fake clock ----------------------------------------------------------------


async def drive(clock: FakeClock, work: Awaitable[R], *, step: float = STEP) -> R:
    """Run ``work``, moving the clock forward whenever everything waits on it."""
    task = asyncio.ensure_future(work)
    for _ in range(20_000):
        for _ in range(50):
            if task.done():
                return task.result()
            await asyncio.sleep(0)
        if clock.sleepers:
            await clock.advance(step)
    task.cancel()
    raise AssertionError("the work neither finished nor slept on the fake clock")


# -- the checks ----------------------------------------------------------------------------


def ids(records: Sequence[object]) -> list[int]:
    return [id(r) for r in records]


def assert_exactly_once(outcome: Outcome[Any], fetched: Sequence[object]) -> None:
    listed = [
        *outcome.delivered,
        *(f.record for f in outcome.failed),
        *(f.record for f in outcome.dead),
    ]
    assert sorted(ids(listed)) == sorted(ids(fetched)), (outcome, fetched)


def assert_failures_are_real(world: World, failures: Sequence[Failure[Any]]) -> None:
    """Failures left for the source carry a real exception and an honest attempt count."""
    for failure in failures:
        error = failure.error
        assert not isinstance(error, MissingOutcomeError), f"a layer lost {failure.record!r}"
        assert isinstance(error, Exception), failure
        assert honest_attempts(world, failure.record, error, failure.attempts), failure


def honest_attempts(world: World, record: object, error: BaseException, attempts: int) -> bool:
    """True when ``attempts`` is at most the tries the record really got: downstream
    calls plus verdicts of user callables on it. A timeout cannot know whether the
    call reached the downstream (it may have), so a timed-out count is taken as is."""
    if any(isinstance(e, ApplyTimeoutError) for e in causes(error)):
        return True
    rec = origin(record)
    return attempts <= world.seen[rec.id] + world.judged[rec.id]


def causes(error: BaseException | None) -> list[BaseException]:
    """``error`` and what it wraps: causes, dead-letter originals, fan-out parts."""
    found: list[BaseException] = []
    todo = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is e for e in found):
            continue
        found.append(current)
        todo.append(current.__cause__)
        if isinstance(current, DeadLetterError):
            todo.append(current.original)
        if isinstance(current, FanOutError):
            todo.extend(current.errors.values())
    return found


def letters(world: World) -> list[DeadLetter[Any]]:
    """Every letter stored so far, evicted ones included."""
    return [letter for queue in world.queues for letter in queue.history]


def assert_dead_letters_match(
    world: World, dead: Sequence[Failure[Any]], delivered: Sequence[object], *, done: bool
) -> None:
    """The records settled dead are exactly the records stored, each once, honestly.

    A fan-out destination that dead-letters a record has finished with it, but
    the record stays pending until the other destinations have it too (see
    ``fan_out``), and a destination's letter may be followed by an outer one
    for another destination's permanent failure. So with a fan-out in the stack
    a stored record may still be pending or stored twice; it is never delivered,
    and once nothing is pending the stored records are the dead ones.
    """
    stored = letters(world)
    stored_ids = sorted(id(origin(letter.record)) for letter in stored)
    dead_ids = sorted(id(f.record) for f in dead)
    if world.fan_outs:
        assert set(dead_ids) <= set(stored_ids), "a record settled dead was never stored"
        assert not set(stored_ids) & set(ids(delivered)), "a stored record was delivered"
        if done:
            assert set(stored_ids) == set(dead_ids)
    else:
        assert stored_ids == dead_ids, (
            [origin(letter.record) for letter in stored],
            [f.record for f in dead],
        )
    for letter in stored:
        assert not is_released(letter.error), letter
        assert world.real(letter.error), letter
        assert letter.attempts >= 1, letter
        assert honest_attempts(world, letter.record, letter.error, letter.attempts), letter
        assert letter.first_failed_at <= letter.last_failed_at, letter
    for failure in dead:
        assert not is_released(failure.error), failure
        assert world.real(failure.error), failure


def assert_always_failing_never_delivered(world: World, delivered: Sequence[Any]) -> None:
    for record in delivered:
        rec = origin(record)
        if always_fails(rec):
            assert world.may_skip(rec), f"{rec!r} always fails but was delivered"
        else:
            # Delivered means some downstream took it, unless a layer skipped it.
            assert world.applied[rec.id] >= 1 or world.may_skip(rec), rec


def assert_source_consistent(world: World, source: MemoryBatchSource[Rec], all_: list[Rec]) -> None:
    delivered, dead = ids(source.delivered), [id(f.record) for f in source.dead]
    pending = ids(source.pending)
    assert len(set(delivered)) == len(delivered), "a record was delivered twice"
    assert len(set(dead)) == len(dead), "a record was settled dead twice"
    assert not set(delivered) & set(dead), "a record is both delivered and dead"
    assert not set(pending) & (set(delivered) | set(dead)), "a settled record is still pending"
    assert sorted(delivered + dead + pending) == sorted(ids(all_)), "a record went missing"
    assert_dead_letters_match(world, source.dead, source.delivered, done=not source.pending)
    assert_always_failing_never_delivered(world, source.delivered)
    assert_failures_are_real(world, source.failures)


# -- polling -------------------------------------------------------------------------------


def polling(
    stack: Sequence[Layer], records: list[Rec], setup: Setup
) -> tuple[World, MemoryBatchSource[Rec], PollingCoordinator[Rec]]:
    world = setup.world()
    source: MemoryBatchSource[Rec] = MemoryBatchSource(records)
    coordinator = PollingCoordinator(
        source,
        build(stack, world, setup.timing),
        batch_size=setup.batch_size,
        interval=1.0,
        clock=world.clock,
        observer=RecordingObserver(),
    )
    return world, source, coordinator


async def poll_until_done(
    stack: Sequence[Layer], records: list[Rec], setup: Setup
) -> tuple[World, MemoryBatchSource[Rec]]:
    world, source, coordinator = polling(stack, records, setup)
    for _ in range(MAX_POLLS):
        fetched = list(source.pending[: setup.batch_size])
        result: PollResult[Rec] = await drive(world.clock, coordinator.run_once())
        assert result.fetched == len(fetched)
        assert_exactly_once(result.outcome, fetched)
        assert_source_consistent(world, source, records)
        if not source.pending:
            break
        await world.clock.advance(BETWEEN_POLLS)
    note_coverage(world, source.failures, source.dead, polls=coordinator.polls)
    return world, source


def note_coverage(
    world: World, failures: Sequence[Failure[Any]], dead: Sequence[Failure[Any]], *, polls: int
) -> None:
    """Tell hypothesis what a scenario exercised (``--hypothesis-show-statistics``)."""
    for kind in sorted({type(f.error).__name__ for f in failures}):
        event(f"failed with {kind}")
    for kind in sorted({type(f.error).__name__ for f in dead}):
        event(f"dead with {kind}")
    stored = len(letters(world))
    event(f"letters stored: {stored if stored < 3 else '3+'}")
    event(f"calls: {'1' if polls <= 1 else '2-5' if polls <= 5 else '6+'}")


@PROPERTY
@given(stack=stacks, records=record_specs(), setup=setups)
def test_polling_every_record_ends_in_exactly_one_state(
    stack: list[Layer], records: list[Rec], setup: Setup
) -> None:
    asyncio.run(poll_until_done(stack, records, setup))


@PROPERTY
@given(stack=stacks, records=record_specs(transient_only=True), setup=setups)
def test_polling_transient_failures_all_end_settled(
    stack: list[Layer], records: list[Rec], setup: Setup
) -> None:
    world, source = asyncio.run(poll_until_done(stack, records, setup))
    assert not source.pending, f"still pending after {MAX_POLLS} polls: {source.pending}"
    if not has_storing(stack):
        assert sorted(ids(source.delivered)) == sorted(ids(records))
    for failure in source.dead:
        assert world.real(failure.error), failure


# -- streaming -----------------------------------------------------------------------------


class Spy:
    """The outermost applier: keeps the reconciled outcome of every call, as the coordinator
    sees it (an exception becomes the fatal error of the call)."""

    def __init__(self, inner: Applier[Any]) -> None:
        self._inner = inner
        self.outcomes: list[Outcome[Any]] = []

    async def apply(self, records: Sequence[Any], /) -> Outcome[Any]:
        try:
            outcome = await self._inner.apply(records)
        except Exception as exc:
            outcome = Outcome(error=exc)
        outcome = outcome.reconcile(records)
        assert_exactly_once(outcome, records)
        self.outcomes.append(outcome)
        return outcome


def streaming(
    source: MemoryStreamSource[Rec], spy: Spy, world: World, setup: Setup
) -> StreamingCoordinator[Rec]:
    return StreamingCoordinator(
        source,
        spy,
        batch_size=setup.batch_size,
        max_wait=1.0,
        workers=setup.workers,
        key=(lambda r: r.key) if setup.keyed else None,
        clock=world.clock,
        observer=RecordingObserver(),
    )


@dataclass
class Stream:
    """What the stream rounds settled so far."""

    acked: list[Rec] = field(default_factory=list)
    delivered: list[Rec] = field(default_factory=list)
    dead: list[Failure[Any]] = field(default_factory=list)
    failures: list[Failure[Any]] = field(default_factory=list)

    def check_round(
        self, world: World, source: MemoryStreamSource[Rec], outcomes: Sequence[Outcome[Any]]
    ) -> list[Rec]:
        """Check one run's acks and nacks against its outcomes; return the nacked records."""
        applied = [r for o in outcomes for r in o.delivered]
        applied += [f.record for o in outcomes for f in o.failed]
        applied += [f.record for o in outcomes for f in o.dead]
        nacked = [record for record, _ in source.nacked]
        # Every applied record is settled once: acked (delivered or dead) or nacked.
        assert sorted(ids(source.acked) + ids(nacked)) == sorted(ids(applied))
        done = [r for o in outcomes for r in o.delivered]
        done += [f.record for o in outcomes for f in o.dead]
        assert sorted(ids(source.acked)) == sorted(ids(done))
        failed = {id(f.record): f.error for o in outcomes for f in o.failed}
        assert all(failed[id(record)] is error for record, error in source.nacked)
        self.acked.extend(source.acked)
        self.delivered.extend(r for o in outcomes for r in o.delivered)
        self.dead.extend(f for o in outcomes for f in o.dead)
        self.failures.extend(f for o in outcomes for f in o.failed)
        assert len(set(ids(self.acked))) == len(self.acked), "a record was acked twice"
        assert_dead_letters_match(world, self.dead, self.delivered, done=not nacked)
        assert_always_failing_never_delivered(world, self.delivered)
        assert_failures_are_real(world, self.failures)
        return nacked


async def stream_until_done(
    stack: Sequence[Layer], records: list[Rec], setup: Setup
) -> tuple[World, Stream]:
    world = setup.world()
    spy = Spy(build(stack, world, setup.timing))
    stream = Stream()
    offered = list(records)
    for _ in range(MAX_ROUNDS):
        source: MemoryStreamSource[Rec] = MemoryStreamSource(offered)
        source.end()
        before = len(spy.outcomes)
        await drive(world.clock, streaming(source, spy, world, setup).run())
        assert source.closed
        nacked = stream.check_round(world, source, spy.outcomes[before:])
        assert sorted(ids(source.acked) + ids(nacked)) == sorted(ids(offered))
        if not nacked:
            break
        offered = nacked  # the broker offers the nacked records again
        await world.clock.advance(BETWEEN_POLLS)
    note_coverage(world, stream.failures, stream.dead, polls=len(spy.outcomes))
    return world, stream


@PROPERTY
@given(stack=stacks, records=record_specs(), setup=setups)
def test_streaming_every_record_ends_in_exactly_one_state(
    stack: list[Layer], records: list[Rec], setup: Setup
) -> None:
    asyncio.run(stream_until_done(stack, records, setup))


@PROPERTY
@given(stack=stacks, records=record_specs(transient_only=True), setup=setups)
def test_streaming_transient_failures_all_end_acked(
    stack: list[Layer], records: list[Rec], setup: Setup
) -> None:
    _, stream = asyncio.run(stream_until_done(stack, records, setup))
    assert sorted(ids(stream.acked)) == sorted(ids(records)), "a transient record was never acked"


# -- stopping ------------------------------------------------------------------------------


async def run_and_stop(
    clock: FakeClock, run: Awaitable[None], stop: Callable[[], Awaitable[None]], stop_at: int
) -> None:
    """Run a coordinator on the moving fake clock and stop it after ``stop_at`` steps.

    The stop must end the run within its grace period (no hard cancellation)."""
    task = asyncio.ensure_future(run)
    stopper: asyncio.Future[None] | None = None
    for step in range(20_000):
        for _ in range(50):
            if task.done():
                break
            await asyncio.sleep(0)
        if task.done():
            break
        if step == stop_at:
            stopper = asyncio.ensure_future(stop())
        await clock.advance(STEP)
    assert task.done(), "the coordinator did not stop"
    assert not task.cancelled(), "the stop had to cancel the run after its grace period"
    task.result()
    assert stopper is not None
    await stopper


@PROPERTY
@given(stack=stacks, records=record_specs(), setup=setups, stop_at=st.integers(0, 60))
def test_polling_stopped_at_any_moment_keeps_the_promise(
    stack: list[Layer], records: list[Rec], setup: Setup, stop_at: int
) -> None:
    async def scenario() -> None:
        world, source, coordinator = polling(stack, records, setup)
        await run_and_stop(world.clock, coordinator.run(), coordinator.stop, stop_at)
        assert_source_consistent(world, source, records)
        note_coverage(world, source.failures, source.dead, polls=coordinator.polls)

    asyncio.run(scenario())


@PROPERTY
@given(stack=stacks, records=record_specs(), setup=setups, stop_at=st.integers(0, 30))
def test_streaming_stopped_at_any_moment_keeps_the_promise(
    stack: list[Layer], records: list[Rec], setup: Setup, stop_at: int
) -> None:
    async def scenario() -> None:
        world = setup.world()
        spy = Spy(build(stack, world, setup.timing))
        source: MemoryStreamSource[Rec] = MemoryStreamSource(records)  # never ends by itself
        coordinator = streaming(source, spy, world, setup)
        await run_and_stop(world.clock, coordinator.run(), coordinator.stop, stop_at)
        assert source.closed
        Stream().check_round(world, source, spy.outcomes)

    asyncio.run(scenario())


waiting_stacks = st.sampled_from(
    [
        ("resilient",),
        ("dead_letter", "retry"),
        ("dead_letter", "retry", "ordered"),
        ("dead_letter", "retry", "split"),
        ("dead_letter", "split", "retry"),
        ("dead_letter", "ordered", "retry"),
        ("dead_letter", "retry", "fan_out"),
        ("dead_letter", "retry", "route"),
    ]
)


def build_waiting(names: Sequence[str], world: World) -> Applier[Any]:
    """A stack whose retries wait 1 s each (no jitter) on a clock that is not moved.

    Retry covers every path to the downstreams (fan-out's second destination and
    the second route included), so without the stop nothing would be stored yet.
    """
    timing = Timing(Backoff(initial=1.0, max_delay=1.0, jitter=0.0), 0)
    layers_: list[Layer] = []
    for name in names:
        if name == "resilient":
            layers_.append(("resilient", 4, 5))
        elif name == "retry":
            layers_.append(("retry", 4))
        elif name == "split":
            layers_.append(("split", 2))
        elif name == "fan_out":
            layers_.append(("fan_out", True, False, False))
        elif name == "route":
            layers_.append(("route", "fail", False))
        elif name == "ordered":
            layers_.append(("ordered", False))
        else:
            layers_.append((name,))
    return build(layers_, world, timing)


waiting_records = st.lists(
    st.builds(
        lambda kind, key, route: (kind, key, route),
        st.sampled_from(["ok", "transient", "always"]),
        KEYS,
        st.sampled_from(["x", "y"]),
    ),
    min_size=1,
    max_size=6,
)


def waiting(specs: list[tuple[str, str | None, str]]) -> list[Rec]:
    return [
        Rec(i, kind, 3 if kind == "transient" else 0, key=key, route=route)
        for i, (kind, key, route) in enumerate(specs)
    ]


async def until_asleep(clock: FakeClock, task: asyncio.Future[Any]) -> None:
    for _ in range(1000):
        if task.done() or clock.sleepers:
            return
        await asyncio.sleep(0)


def assert_only_released_for_the_stop(world: World, outcome: Outcome[Any]) -> None:
    assert not outcome.dead, "a stop dead-lettered records"
    assert not letters(world), "a stop stored dead letters"
    for failure in outcome.failed:
        assert isinstance(failure.error, ShutdownReleasedError), failure
    assert_failures_are_real(world, outcome.failed)
    for record in outcome.delivered:
        assert origin(record).kind == "ok", record


@PROPERTY
@given(names=waiting_stacks, specs=waiting_records)
def test_stop_signal_during_retry_wait_only_releases(
    names: tuple[str, ...], specs: list[tuple[str, str | None, str]]
) -> None:
    records = waiting(specs)

    async def scenario() -> None:
        world = World(FakeClock())
        stack = build_waiting(names, world)
        stop = asyncio.Event()
        with stop_signal(stop):
            task = asyncio.ensure_future(stack.apply(records))
        await until_asleep(world.clock, task)
        stop.set()  # retry waits on the fake clock, which never moves here
        outcome = (await task).reconcile(records)
        assert world.clock.sleepers == 0, "a wait outlived the stop"
        assert_exactly_once(outcome, records)
        assert_only_released_for_the_stop(world, outcome)
        source: MemoryBatchSource[Rec] = MemoryBatchSource(records)
        await source.settle(outcome)
        assert not source.dead
        assert sorted(ids(source.pending)) == sorted(ids([f.record for f in outcome.failed]))

    asyncio.run(scenario())


@PROPERTY
@given(names=waiting_stacks, specs=waiting_records)
def test_stopping_a_polling_coordinator_during_retry_wait_only_releases(
    names: tuple[str, ...], specs: list[tuple[str, str | None, str]]
) -> None:
    records = waiting(specs)

    async def scenario() -> None:
        world = World(FakeClock())
        source: MemoryBatchSource[Rec] = MemoryBatchSource(records)
        coordinator = PollingCoordinator(
            source, build_waiting(names, world), clock=world.clock, observer=RecordingObserver()
        )
        task = asyncio.ensure_future(coordinator.run_once())
        await until_asleep(world.clock, task)
        await coordinator.stop()
        result = await task
        assert_exactly_once(result.outcome, records)
        assert_only_released_for_the_stop(world, result.outcome)
        assert_source_consistent(world, source, records)

    asyncio.run(scenario())
