"""``relaybox relay``: deliver outbox events to their destination."""

from __future__ import annotations

import asyncio
import logging

import click

from relaybox.cli.options import relay_options, run, settings_of, store_options
from relaybox.service import redact, relay_once, relay_until_stopped
from relaybox.service.publishers import safe_url


@click.command("relay")
@store_options
@relay_options
@click.option("--once", is_flag=True, help="Relay what is due now, print the counts and exit.")
@click.pass_context
def relay_command(ctx: click.Context, once: bool) -> None:
    """Deliver outbox events to the destination given by --to.

    Runs until SIGINT or SIGTERM: the first signal stops gracefully (the batch
    in flight is delivered and settled), a second one cancels at once. With
    --once, relays everything that is due, prints the counts and exits.
    The schema must exist (see `relaybox migrate`).
    """
    settings = settings_of(ctx)
    if once:
        drained = run(relay_once(settings))
        stats, status = drained.stats, drained.status
        click.echo(
            f"relayed {drained.handled} events: delivered {stats.delivered}, "
            f"retried {stats.retried}, dead {stats.dead}; now pending {status.pending}, "
            f"dead {status.dead}, parked keys {status.parked_keys}"
        )
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    click.echo(
        f"relaying {redact(settings.require_db())} -> {safe_url(settings.require_to())} "
        "(Ctrl-C stops gracefully)",
        err=True,
    )
    try:
        run(relay_until_stopped(settings))
    except asyncio.CancelledError:  # the second signal: nothing to add but the consequence
        click.echo(
            "relay cancelled: events in flight were handed back and will be delivered again",
            err=True,
        )
        ctx.exit(1)
    click.echo("relay stopped", err=True)
