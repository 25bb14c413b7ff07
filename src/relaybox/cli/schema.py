"""``relaybox migrate`` and ``relaybox check``: create the schema, and tell if it is ready."""

from __future__ import annotations

import click

from relaybox.cli.options import run, settings_of, store_options
from relaybox.core.errors import SchemaMissingError
from relaybox.service import check, migrate, migration_sql, redact


@click.command("migrate")
@store_options
@click.option(
    "--sql",
    "print_sql",
    is_flag=True,
    help="Print the SQL for --table instead of running it (for Alembic, Django, psql).",
)
@click.option(
    "--dialect",
    type=click.Choice(["postgresql", "sqlite"]),
    help="With --sql and no --db: the database kind to print for.",
)
@click.pass_context
def migrate_command(ctx: click.Context, print_sql: bool, dialect: str | None) -> None:
    """Create or upgrade the outbox tables.

    A missing SQLite file is created. Safe to run again and from several
    processes at once: only missing migrations are applied. Never run
    implicitly by the relay or the writer. With --sql, connects to nothing and
    prints the whole schema as one script that also records its version, so
    `relaybox check` accepts it.
    """
    settings = settings_of(ctx)
    if print_sql:
        click.echo(migration_sql(settings, dialect), nl=False)
        return
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
