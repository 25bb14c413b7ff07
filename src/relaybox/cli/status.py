"""``relaybox status``: the outbox at a glance."""

from __future__ import annotations

import dataclasses
import json

import click

from relaybox.cli.options import run, settings_of, store_options
from relaybox.cli.render import console, status_table
from relaybox.ports.store import Status
from relaybox.service import on_ready_store


@click.command("status")
@store_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.pass_context
def status_command(ctx: click.Context, as_json: bool) -> None:
    """Show the outbox at a glance.

    Pending, in-flight, retrying and dead events, parked keys and the age of
    the oldest pending event. Ages are seconds on the database's clock (`oldest_pending_age` is null
    when nothing is pending).
    """
    status: Status = run(on_ready_store(settings_of(ctx), lambda store: store.status()))
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(status)))
    else:
        console().print(status_table(status))
