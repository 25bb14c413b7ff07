"""The ``relaybox`` command group: how errors reach the operator, and the entry point.

Exit statuses: 0 done; 1 the operation failed (unreachable database, key not
parked, demo check failed, unexpected error); 2 the invocation or
configuration must change (bad flag or setting, schema missing). A
:class:`~relaybox.core.errors.RelayboxError` is printed as one ``Error:``
line without a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import click

from relaybox.cli import logs
from relaybox.core.errors import ConfigurationError, RelayboxError
from relaybox.service.redaction import scrub


class Failed(click.ClickException):
    """A relaybox error on its way to the operator: one line on stderr, no traceback."""

    exit_code = 1


class Misconfigured(Failed):
    """A configuration error: the invocation or the settings must change."""

    exit_code = 2


def failure(error: RelayboxError) -> Failed:
    """``error`` as one line (newlines folded), with the exit status its kind calls for."""
    kind = Misconfigured if isinstance(error, ConfigurationError) else Failed
    # args[0], not str(): str() of a KeyError (DeadLetterNotFoundError) adds quotes.
    message = error.args[0] if error.args and isinstance(error.args[0], str) else str(error)
    return kind(scrub(" ".join(message.split())))


class RelayboxGroup(click.Group):
    """A group whose commands' relaybox errors end as :class:`Failed`."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RelayboxError as exc:
            raise failure(exc) from exc


@click.group(
    "relaybox", cls=RelayboxGroup, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(package_name="relaybox")
@click.option("-v", "--verbose", count=True, help="Log more: -v info, -vv debug.")
@click.option(
    "--log-level",
    type=click.Choice(logs.LEVELS),
    help="Log level, over -v [default: warning; info for a running relay]",
)
@click.option(
    "--log-format",
    type=click.Choice(logs.FORMATS),
    default="text",
    show_default=True,
    help="json: one JSON object per line, extra fields included, for log shippers.",
)
@click.pass_context
def relaybox(ctx: click.Context, verbose: int, log_level: str | None, log_format: str) -> None:
    """Move data reliably: the transactional outbox's relay and its operator tools.

    The outbox commands take --db URL, --table NAME and --config FILE; each setting
    can also come from a RELAYBOX_* environment variable (RELAYBOX_DB,
    RELAYBOX_TO, RELAYBOX_BATCH_SIZE, ...) or a config file: --config FILE, else
    $RELAYBOX_CONFIG, else ./relaybox.toml, else [tool.relaybox] in
    ./pyproject.toml. Flags win over variables, variables over the file;
    `relaybox config` shows what is in effect and where each value came from.
    Logs go to stderr.
    """
    ctx.meta[logs.OPTIONS] = (verbose, log_level, log_format)
    logs.configure_from(ctx.meta, logging.WARNING)
    ctx.call_on_close(logs.reset)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``relaybox`` with ``argv`` (default: the process's) and return the exit status."""
    try:
        result = relaybox.main(args=argv, prog_name="relaybox", standalone_mode=False)
    except click.ClickException as exc:  # usage errors too: usage and message, then 2
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 1
    return result if isinstance(result, int) else 0
