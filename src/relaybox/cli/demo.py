"""``relaybox demo``: the embedded demo, no servers needed."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from relaybox.cli import logs
from relaybox.core.errors import ConfigurationError
from relaybox.demo import run_demo
from relaybox.service import locate_store, redact


@click.command("demo")
@click.option(
    "--db",
    metavar="URL",
    help="SQLite file to run in, e.g. sqlite:///demo.db; a demo file there is replaced "
    "[default: a new temporary folder]",
)
@click.option("--orders", type=int, default=2000, show_default=True, help="Orders to place.")
@click.option("--writers", type=int, default=4, show_default=True, help="Writer threads.")
@click.option(
    "--fail-rate", type=float, default=0.1, show_default=True, help="Publishes failing for now."
)
@click.option(
    "--dead-rate", type=float, default=0.01, show_default=True, help="Publishes failing for good."
)
@click.option(
    "--rollback-rate",
    type=float,
    default=0.1,
    show_default=True,
    help="Business transactions rolled back after adding events.",
)
@click.option("--seed", type=int, help="Repeat the failures of an earlier run.")
@click.pass_context
def demo_command(
    ctx: click.Context,
    *,
    db: str | None,
    orders: int,
    writers: int,
    fail_rate: float,
    dead_rate: float,
    rollback_rate: float,
    seed: int | None,
) -> None:
    """Run the embedded demo: a shop on SQLite, a relay, a flaky JSON-lines destination.

    Writer threads commit orders with their outbox events (some roll back)
    while a relay publishes through injected failures. The audit at the end
    proves every committed event came out exactly once, in key order, and no
    rolled-back one did; exits 1 if any check fails.
    """
    # The failures are injected on purpose and the summary reports them: the
    # relay's per-event retry and dead-letter lines would drown the live display
    # (with -v or --log-level they show).
    logs.configure_from(ctx.meta, logging.CRITICAL)
    summary = run_demo(
        None if db is None else _sqlite_file(db),
        orders=orders,
        writers=writers,
        fail_rate=fail_rate,
        dead_rate=dead_rate,
        rollback_rate=rollback_rate,
        seed=seed,
    )
    if not summary.ok:
        ctx.exit(1)


def _sqlite_file(url: str) -> Path:
    location = locate_store(url)
    if location.kind != "sqlite":
        shown = redact(url)
        raise ConfigurationError(
            f"the demo runs on SQLite: give --db sqlite:///PATH, not {shown!r}"
        )
    return Path(location.target)
