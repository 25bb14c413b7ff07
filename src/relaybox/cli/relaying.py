"""``relaybox relay``: deliver outbox events to their destination."""

from __future__ import annotations

import asyncio
import json
import logging

import click

from relaybox.cli import logs
from relaybox.cli.options import relay_options, run, settings_of, store_options
from relaybox.service import Drained, redact, relay_once, relay_until_stopped, writes_to_stdout
from relaybox.service.publishers import safe_url

DELIVERED = 0
"""--once: everything due was delivered (or nothing was due)."""
RETRYING = 3
"""--once: some events were not delivered and will be tried again (nothing dead)."""
DEAD = 4
"""--once: some events were dead-lettered (failed for good)."""


@click.command(
    "relay",
    epilog="""\b
Exit status: 0 delivered everything due (or nothing was due); 1 the relay
failed (database unreachable, unexpected error); 2 fix the invocation or
settings (bad flag, schema missing, destination not writable); with --once
also 3 some events failed and will be retried, 4 some were dead-lettered.""",
)
@store_options
@relay_options
@click.option("--once", is_flag=True, help="Relay everything due now, print the counts and exit.")
@click.option("--json", "as_json", is_flag=True, help="With --once: print the counts as JSON.")
@click.pass_context
def relay_command(ctx: click.Context, once: bool, as_json: bool) -> None:
    """Deliver outbox events to the destination given by --to.

    Runs until SIGINT or SIGTERM: the first signal stops gracefully (the batch
    in flight is delivered and settled), a second one cancels at once. With
    --once, relays everything that is due (batch after batch), prints the
    counts and exits with a status scripts can trust. With --to - events go to
    stdout and everything else to stderr. The schema must exist (see
    `relaybox migrate`); the destination is checked before the first batch.
    """
    settings = settings_of(ctx)
    to_stdout = writes_to_stdout(settings.require_to())
    if once:
        logs.configure_from(ctx.meta, logging.WARNING)
        drained = run(relay_once(settings))
        _report(drained, as_json=as_json, err=to_stdout)
        ctx.exit(_status(drained))
    logs.configure_from(ctx.meta, logging.INFO)
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


def _report(drained: Drained, *, as_json: bool, err: bool) -> None:
    if as_json:
        click.echo(json.dumps({**drained.summary(), "exit_status": _status(drained)}), err=err)
        return
    stats, status = drained.stats, drained.status
    click.echo(
        f"relayed {drained.handled} events: delivered {stats.delivered}, "
        f"retried {stats.retried + stats.released + stats.lost}, dead {stats.dead}; "
        f"now pending {status.pending}, dead {status.dead}, parked keys {status.parked_keys}",
        err=err,
    )


def _status(drained: Drained) -> int:
    if drained.stats.dead:
        return DEAD
    return RETRYING if drained.undelivered else DELIVERED
