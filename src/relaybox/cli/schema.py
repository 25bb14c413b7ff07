"""``relaybox migrate`` and ``relaybox check``: create the schema, and tell if it is ready."""

from __future__ import annotations

import click

from relaybox.cli.options import run, settings_of, store_options
from relaybox.core.errors import SchemaMissingError
from relaybox.service import check, migrate, redact


@click.command("migrate")
@store_options
@click.pass_context
def migrate_command(ctx: click.Context) -> None:
    """Create or upgrade the outbox tables.

    A missing SQLite file is created. Safe to run again and from several
    processes at once: only missing migrations are applied. Never run
    implicitly by the relay or the writer.
    """
    settings = settings_of(ctx)
    applied, state = run(migrate(settings))
    where = f"outbox {settings.table!r} in {redact(settings.require_db())}"
    if applied:
        versions = ", ".join(f"v{version}" for version in applied)
        click.echo(f"applied {versions} to {where}: schema is at v{state.current}")
    else:
        click.echo(f"nothing to do: {where} is already at schema v{state.current}")


@click.command("check")
@store_options
@click.pass_context
def check_command(ctx: click.Context) -> None:
    """Tell whether the outbox schema is ready.

    Prints "ready (schema vN)" and exits 0, or prints what is missing with the
    `relaybox migrate` command to run and exits 2.
    """
    settings = settings_of(ctx)
    try:
        state = run(check(settings))
    except SchemaMissingError as exc:
        click.echo(f"not ready: {exc}")
        ctx.exit(2)
    click.echo(f"ready (schema v{state.current})")
