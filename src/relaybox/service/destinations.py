"""A destination is checked before the relay starts, so a wrong one fails once, at once.

Without this, a JSON-lines file in a missing folder would fail every batch,
each with a traceback in the log, until someone noticed.
"""

from __future__ import annotations

import os
from pathlib import Path

from relaybox.core.errors import ConfigurationError
from relaybox.service.publishers import SCHEMES, STDOUT, check_destination, publisher_target
from relaybox.service.redaction import redact


def require_destination(url: str) -> None:
    """Raise :class:`ConfigurationError` saying what to fix when ``url`` cannot take events.

    A file must be creatable or appendable: its folder exists and is writable,
    and it is not a folder itself. Broker URLs are checked for their form here;
    their connections are made (and failures mapped) by their publishers.
    """
    check_destination(url)
    scheme = url.strip().partition(":")[0].lower()
    if scheme in SCHEMES:
        return
    target = publisher_target(url)
    if target != STDOUT:
        _require_writable(Path(target), redact(url))


def _require_writable(path: Path, shown: str) -> None:
    where = path.absolute()
    if path.is_dir():
        raise ConfigurationError(
            f"cannot write events to {shown}: {where} is a folder; name a file in it"
        )
    folder = where.parent
    if not folder.is_dir():
        raise ConfigurationError(
            f"cannot write events to {shown}: the folder {folder} does not exist; create it first"
        )
    writable = os.access(path, os.W_OK) if path.exists() else os.access(folder, os.W_OK)
    if not writable:
        raise ConfigurationError(f"cannot write events to {shown}: permission denied on {where}")


def writes_to_stdout(url: str) -> bool:
    """True when ``url`` sends events to standard output (so other output must not)."""
    if url.strip().partition(":")[0].lower() in SCHEMES:
        return False
    try:
        return publisher_target(url) == STDOUT
    except ConfigurationError:  # another publisher's URL (an entry point, a named factory)
        return False
