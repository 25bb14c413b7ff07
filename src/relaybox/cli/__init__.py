"""The ``relaybox`` command line: thin - parse, call :mod:`relaybox.service`, print."""

from relaybox.cli.app import main, relaybox
from relaybox.cli.config import config_command
from relaybox.cli.dead import dead_group
from relaybox.cli.demo import demo_command
from relaybox.cli.keys import keys_group
from relaybox.cli.relaying import relay_command
from relaybox.cli.schema import check_command, migrate_command
from relaybox.cli.status import status_command

for _command in (
    migrate_command,
    check_command,
    relay_command,
    status_command,
    config_command,
    dead_group,
    keys_group,
    demo_command,
):
    relaybox.add_command(_command)

__all__ = ["main", "relaybox"]
