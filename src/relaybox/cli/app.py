"""The ``relaybox`` command group: how errors reach the operator, and the entry point.

Exit statuses: 0 done; 1 the operation failed (unreachable database, key not
parked, demo check failed, unexpected error); 2 the invocation or
configuration must change (bad flag or setting, schema missing). A
:class:`~relaybox.core.errors.RelayboxError` is printed as one ``Error:``
line without a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from relaybox.core.errors import ConfigurationError, RelayboxError


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
    return kind(" ".join(message.split()))


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
def relaybox() -> None:
    """Move data reliably: the transactional outbox's relay and its operator tools.

    The outbox commands take --db URL, --table NAME and --config FILE; each setting
    can also come from a RELAYBOX_* environment variable (RELAYBOX_DB,
    RELAYBOX_TO, RELAYBOX_BATCH_SIZE, ...) or a [relaybox] table in the config
    file. Flags win over variables, variables over the file.
    """


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
