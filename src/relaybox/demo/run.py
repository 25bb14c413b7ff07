"""The demo run: a shop writes orders and events, a relay publishes them through failures.

Everything happens at once, as in production: writer threads commit business
transactions (some roll back) while the relay claims, publishes to a flaky
JSON-lines destination, retries and dead-letters. When the writers are done
and the outbox is drained, the audit proves what the outbox promises.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console

from relaybox.core.backoff import FixedBackoff
from relaybox.demo.audit import Evidence, audit, read_published
from relaybox.demo.failures import FlakyPublisher
from relaybox.demo.ledger import Ledger
from relaybox.demo.options import DemoOptions
from relaybox.demo.progress import ProgressView, Tally
from relaybox.demo.report import print_summary
from relaybox.demo.shop import Clerk, create_shop, order_statuses
from relaybox.demo.summary import DemoSummary
from relaybox.demo.workspace import Workspace
from relaybox.outbox.publishers import JsonLinesPublisher
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.outbox.tables import Tables
from relaybox.ports.store import DeadFilter
from relaybox.service.stores import Store, open_store

TABLES = Tables()
"""The default outbox name, so ``relaybox status --db ...`` needs no ``--table``."""

SETTINGS = RelaySettings(
    batch_size=200,
    max_attempts=4,
    backoff=FixedBackoff(0.03),  # short, so the retries finish within the run
    on_key_failure="continue",  # a dead letter must not park its order: the run has to end
    poll_max=0.05,
    grace=5.0,
    owner="demo",
)
TICK = 0.05
"""How often the progress display and the drain check look at the outbox."""


def run_demo(
    db_path: Path | None = None,
    *,
    orders: int = 2000,
    writers: int = 4,
    fail_rate: float = 0.1,
    dead_rate: float = 0.01,
    rollback_rate: float = 0.1,
    seed: int | None = None,
    console: Console | None = None,
) -> DemoSummary:
    """Run the demo in a SQLite file at ``db_path`` (a temporary folder when ``None``).

    Prints live progress and the closing report on ``console`` and returns the
    summary; ``summary.ok`` says whether every check passed. Options are those
    of :class:`DemoOptions`; bad ones raise ``ConfigurationError`` before any
    file is touched. Runs its own event loop: from async code, await :func:`play`.
    """
    options = DemoOptions(orders, writers, fail_rate, dead_rate, rollback_rate, seed)
    return asyncio.run(play(options, db_path, console or Console()))


async def play(options: DemoOptions, db_path: Path | None, console: Console) -> DemoSummary:
    """The demo as a coroutine: see :func:`run_demo`."""
    seed = options.seed if options.seed is not None else random.randrange(2**32)
    workspace = Workspace.prepare(db_path)
    _introduce(options, seed, workspace, console)
    store = await open_store(workspace.url, TABLES)
    try:
        await store.migrate()
        create_shop(workspace.database)
        summary = await _run(store, workspace, options, random.Random(seed), console)
    finally:
        await store.close()
    print_summary(summary, console)
    return summary


async def _run(
    store: Store, workspace: Workspace, options: DemoOptions, rng: random.Random, console: Console
) -> DemoSummary:
    ledger = Ledger()
    publisher = FlakyPublisher(
        JsonLinesPublisher(workspace.published),
        fail_rate=options.fail_rate,
        dead_rate=options.dead_rate,
        rng=random.Random(rng.getrandbits(64)),
    )
    relay = Relay(store, publisher, settings=SETTINGS)
    halt = threading.Event()
    clerks = _clerks(workspace.database, ledger, options, rng, hint=_waker(relay), halt=halt)
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        group.create_task(relay.run())
        try:
            await _write_and_drain(
                store,
                clerks,
                halt,
                ProgressView(console),
                lambda pending: Tally.of(ledger, relay.stats, pending),
            )
        finally:
            await relay.stop()
    seconds = time.perf_counter() - started
    await publisher.close()
    evidence = Evidence(
        workspace=workspace,
        ledger=ledger,
        published=read_published(workspace.published),
        dead=await store.dead_letters(DeadFilter(), ledger.events + 1),
        statuses=order_statuses(workspace.database),
        pending=(await store.status()).pending,
        retries=relay.stats.retried,
        timeouts=publisher.timeouts,
        rejections=publisher.rejections,
        seconds=seconds,
    )
    return audit(evidence)


def _clerks(
    path: Path,
    ledger: Ledger,
    options: DemoOptions,
    rng: random.Random,
    *,
    hint: Callable[[], object],
    halt: threading.Event,
) -> list[Clerk]:
    """One clerk per writer, each with every ``writers``-th order and its own random stream."""
    ids = range(1, options.orders + 1)
    return [
        Clerk(
            path,
            ids[index :: options.writers],
            ledger,
            rollback_rate=options.rollback_rate,
            rng=random.Random(rng.getrandbits(64)),
            hint=hint,
            halt=halt,
        )
        for index in range(options.writers)
    ]


def _waker(relay: Relay) -> Callable[[], object]:
    """A post-commit hint for writer threads: wake the relay on its own loop."""
    loop = asyncio.get_running_loop()
    return lambda: loop.call_soon_threadsafe(relay.wake)


async def _write_and_drain(
    store: Store,
    clerks: Sequence[Clerk],
    halt: threading.Event,
    view: ProgressView,
    tally: Callable[[int], Tally],
) -> None:
    """Run the writers, showing progress, until they are done and nothing is pending."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(len(clerks), thread_name_prefix="relaybox-demo-writer") as pool, view:
        writing = asyncio.gather(*(loop.run_in_executor(pool, clerk.work) for clerk in clerks))
        try:
            while True:
                done = writing.done()
                if done:
                    writing.result()  # a writer that crashed ends the run with its error
                pending = (await store.status()).pending
                view.show(tally(pending), last=done and pending == 0)
                if done and pending == 0:
                    return
                await asyncio.sleep(TICK)
        finally:
            halt.set()  # an interrupted run stops its writers before the pool waits for them


def _introduce(options: DemoOptions, seed: int, workspace: Workspace, console: Console) -> None:
    console.print(
        f"relaybox demo: {options.writers} writer threads place {options.orders} orders "
        f"in {workspace.database}\n"
        f"  {options.rollback_rate:.0%} of transactions roll back; publishing to "
        f"{workspace.published} fails {options.fail_rate:.0%} temporarily and "
        f"{options.dead_rate:.0%} for good (seed {seed})",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
