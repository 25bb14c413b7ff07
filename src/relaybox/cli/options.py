"""Options every command shares, and turning them into :class:`~relaybox.service.Settings`.

Options are remembered on the click context instead of passed as arguments,
so a command declares ``@store_options`` once and reads them all with
:func:`settings_of`. Environment variables are read by the service layer, not
by click, which keeps one precedence rule: flag > variable > file > default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import TypeVar

import click

from relaybox.service import KEYS, Settings, flag, load_settings, variable

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., object])
_FLAGS = "relaybox.flags"


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> object:
    if param.name is not None:
        # A repeatable flag given no times is unset, not an empty list that hides the variable.
        ctx.meta.setdefault(_FLAGS, {})[param.name] = None if value == () else value
    return value


def _setting(
    key: str, metavar: str, *, choice: Sequence[str] = (), multiple: bool = False
) -> Callable[[F], F]:
    """The flag of setting ``key``, documented by the key's own help line."""
    text = f"{KEYS[key].help[:1].upper()}{KEYS[key].help[1:]} [env {variable(key)}]"
    return click.option(
        flag(key),
        metavar=None if choice else metavar,
        type=click.Choice(choice) if choice else None,
        help=text,
        multiple=multiple,
        expose_value=False,
        callback=_remember,
    )


STORE_OPTIONS = (
    _setting("db", "URL"),
    _setting("table", "NAME"),
    click.option(
        "--config",
        metavar="FILE",
        help="TOML file with the settings in a [relaybox] table [env RELAYBOX_CONFIG; "
        "default ./relaybox.toml, else [tool.relaybox] in ./pyproject.toml]",
        expose_value=False,
        callback=_remember,
    ),
)
RELAY_OPTIONS = (
    _setting("to", "URL"),
    _setting("topic_template", "TEMPLATE"),
    _setting("route", "TOPIC=DEST", multiple=True),
    _setting("publisher", "MODULE:FUNCTION"),
    _setting("batch_size", "N"),
    _setting("lease", "SECONDS"),
    _setting("max_attempts", "N"),
    _setting("max_lease_expiries", "N"),
    _setting("max_age", "SECONDS"),
    _setting("outage_max", "SECONDS"),
    _setting("backoff", "KIND", choice=("exponential", "linear", "fixed")),
    _setting("backoff_initial", "SECONDS"),
    _setting("backoff_max", "SECONDS"),
    _setting("on_key_failure", "POLICY", choice=("park", "continue")),
    _setting("poll_max", "SECONDS"),
    _setting("owner", "NAME"),
)


def store_options(command: F) -> F:
    """``--db``, ``--table`` and ``--config``, read back with :func:`settings_of`."""
    for option in reversed(STORE_OPTIONS):
        command = option(command)
    return command


def relay_options(command: F) -> F:
    """``--to`` and the relay's tuning flags, read back with :func:`settings_of`."""
    for option in reversed(RELAY_OPTIONS):
        command = option(command)
    return command


def settings_of(ctx: click.Context) -> Settings:
    """Settings from the remembered flags, the environment and the config file."""
    flags, config = flags_of(ctx)
    return load_settings(flags, config=config)


def flags_of(ctx: click.Context) -> tuple[dict[str, object], str | None]:
    """The remembered setting flags, and ``--config`` apart."""
    flags = dict(ctx.meta.get(_FLAGS, {}))
    config = flags.pop("config", None)
    return flags, config if isinstance(config, str) else None


def run(work: Coroutine[object, object, R]) -> R:
    """Run one coroutine to completion: every command is one short asyncio program."""
    return asyncio.run(work)
