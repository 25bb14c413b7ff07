"""``relaybox status``: the outbox at a glance, once or refreshed with ``--watch``."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime

import click

from relaybox.cli.options import run, settings_of, store_options
from relaybox.cli.overview import snapshot_json, snapshot_view
from relaybox.cli.render import console
from relaybox.service import Settings, ready_store
from relaybox.service.snapshots import Snapshot, snapshot


@click.command("status")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--watch", is_flag=True, help="Refresh until Ctrl-C.")
@click.option(
    "--every",
    type=click.FloatRange(min=0.1),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="With --watch: seconds between refreshes.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    metavar="N",
    help="With --watch: stop after N refreshes.",
)
@click.pass_context
def status_command(
    ctx: click.Context, as_json: bool, watch: bool, every: float, count: int | None
) -> None:
    """Show the outbox at a glance.

    Pending, in-flight, retrying and dead events, parked keys and the age of
    the oldest pending event; then the failing events to be retried next
    (attempts, next try, last error) and the counts per topic. Ages are
    seconds on the database's clock (`oldest_pending_age` is null when nothing
    is pending). --watch refreshes the view (on a terminal it redraws; piped,
    each refresh is printed after a timestamp line, or one JSON object per line
    with --json).
    """
    settings = settings_of(ctx)
    refreshes = (count or 0) if watch else 1
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how --watch ends
        run(_show(settings, as_json=as_json, every=every, refreshes=refreshes))


async def _show(settings: Settings, *, as_json: bool, every: float, refreshes: int) -> None:
    """Print ``refreshes`` snapshots ``every`` seconds apart (0: until interrupted)."""
    shown = 0
    async with ready_store(settings) as store:
        while True:
            _print(await snapshot(store), as_json=as_json, watching=refreshes != 1)
            shown += 1
            if shown == refreshes:
                return
            await asyncio.sleep(every)


def _print(shot: Snapshot, *, as_json: bool, watching: bool) -> None:
    if as_json:
        click.echo(json.dumps(snapshot_json(shot)))
        return
    screen = console()
    if watching:
        if screen.is_terminal:
            screen.clear()
        moment = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        screen.print(f"relaybox status at {moment} UTC (Ctrl-C stops)", markup=False)
    screen.print(snapshot_view(shot))
