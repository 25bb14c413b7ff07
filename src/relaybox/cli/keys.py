"""``relaybox keys``: keys parked behind a dead event, and unparking them."""

from __future__ import annotations

import json

import click

from relaybox.cli.options import run, settings_of, store_options
from relaybox.cli.render import console, parked_json, parked_table
from relaybox.service import on_ready_store


@click.group("keys")
def keys_group() -> None:
    """List and unpark keys stopped behind a dead event (on_key_failure=park)."""


@keys_group.command("parked")
@store_options
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
@click.pass_context
def parked_command(ctx: click.Context, limit: int, as_json: bool) -> None:
    """List parked keys with the dead event that parked them and how many events wait."""
    keys = run(on_ready_store(settings_of(ctx), lambda store: store.parked(limit)))
    if as_json:
        for parked in keys:
            click.echo(json.dumps(parked_json(parked)))
    elif keys:
        console().print(parked_table(keys))
    else:
        click.echo("no parked keys")


@keys_group.command("unpark")
@store_options
@click.argument("key")
@click.pass_context
def unpark_command(ctx: click.Context, key: str) -> None:
    """Let KEY's waiting events flow again; its dead event stays dead (see `dead replay`).

    Exits 1 when KEY is not parked.
    """
    if run(on_ready_store(settings_of(ctx), lambda store: store.unpark(key))):
        click.echo(f"unparked {key}")
    else:
        click.echo(f"key {key!r} is not parked")
        ctx.exit(1)
