"""``relaybox config``: the settings in effect, and where each one came from."""

from __future__ import annotations

import json

import click
from rich.table import Table
from rich.text import Text

from relaybox.cli.options import flags_of, relay_options, store_options
from relaybox.cli.render import console
from relaybox.service import KEYS, effective_settings, redact


@click.command("config")
@store_options
@relay_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per setting.")
@click.pass_context
def config_command(ctx: click.Context, as_json: bool) -> None:
    """Show the effective settings and the source of each, passwords masked.

    Sources, strongest first: a flag, a RELAYBOX_* variable, the config file
    (--config FILE, else $RELAYBOX_CONFIG, else ./relaybox.toml, else
    [tool.relaybox] in ./pyproject.toml), the default.
    """
    flags, config = flags_of(ctx)
    settings, origins = effective_settings(flags, config=config)
    rows = [(key, _shown(getattr(settings, key)), origins[key]) for key in KEYS]
    if as_json:
        for key, value, origin in rows:
            click.echo(json.dumps({"key": key, "value": value, "source": origin}))
        return
    table = Table("setting", "value", "source", box=None)
    for key, value, origin in rows:
        table.add_row(key, Text("-" if value is None else str(value)), Text(origin))
    console().print(table)


def _shown(value: object) -> object:
    """URLs with their passwords masked; other values as they are."""
    return redact(value) if isinstance(value, str) else value
