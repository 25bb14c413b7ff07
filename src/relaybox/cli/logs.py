"""Log output of the command line: ``-v``, ``--log-level`` and ``--log-format text|json``.

Logs always go to stderr, so stdout stays for what a command prints (events
with ``--to -``, ``--json`` documents). Every line passes through
:func:`~relaybox.service.redaction.scrub`: no password leaves in a log line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from relaybox.service.redaction import scrub

OPTIONS = "relaybox.logging"
"""Where the group keeps ``(verbose, log_level, log_format)`` in ``click.Context.meta``."""
LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Attributes every LogRecord has: the rest came from extra= and go into JSON lines.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then its ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(line, ensure_ascii=False))


class ScrubbingFormatter(logging.Formatter):
    """The usual text lines, passwords masked."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def level_of(verbose: int, log_level: str | None, default: int) -> int:
    """``--log-level`` wins; else ``-v`` is INFO and ``-vv`` DEBUG; else ``default``."""
    if log_level is not None:
        return logging.getLevelName(log_level.upper())  # type: ignore[no-any-return]
    if verbose:
        return logging.DEBUG if verbose > 1 else logging.INFO
    return default


class CliHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The command's handler on the root logger; remembers the level it replaced."""

    def __init__(self, previous_level: int) -> None:
        super().__init__(sys.stderr)
        self.previous_level = previous_level


def configure(level: int, log_format: str) -> None:
    """Send relaybox's (and the drivers') logs to stderr at ``level`` in ``log_format``."""
    root = logging.getLogger()
    previous = reset()
    handler = CliHandler(root.level if previous is None else previous)
    handler.setFormatter(JsonFormatter() if log_format == "json" else ScrubbingFormatter(_TEXT))
    root.addHandler(handler)
    root.setLevel(level)


def reset() -> int | None:
    """Undo :func:`configure` (a command ran in a process that goes on, such as a test).

    Returns the root level from before, ``None`` when nothing was configured.
    """
    root = logging.getLogger()
    previous = None
    for handler in [h for h in root.handlers if isinstance(h, CliHandler)]:
        root.removeHandler(handler)
        previous = handler.previous_level
    if previous is not None:
        root.setLevel(previous)
    return previous


def configure_from(meta: dict[str, Any], default: int) -> None:
    """Configure from the group's remembered flags, with a command's own default level."""
    verbose, log_level, log_format = meta.get(OPTIONS, (0, None, "text"))
    configure(level_of(int(verbose), log_level, default), str(log_format))
