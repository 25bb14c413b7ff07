"""Reading settings from their sources: defaults < TOML file < environment < flags.

The file is the first found of: ``--config FILE``, ``$RELAYBOX_CONFIG``,
``./relaybox.toml`` (a ``[relaybox]`` table), ``./pyproject.toml`` with a
``[tool.relaybox]`` table. A file named explicitly wins over one found by
looking around, as with ruff and pytest.

This is the only module of relaybox that reads environment variables or
configuration files. Each value is checked where it is read, so an error
names the key and the source that gave it::

    batch_size from environment variable RELAYBOX_BATCH_SIZE: expected a whole
    number of at least 1, got '0'
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relaybox.core.errors import ConfigurationError
from relaybox.service.keys import KEYS
from relaybox.service.settings import SettingError, Settings

CONFIG_VARIABLE = "RELAYBOX_CONFIG"
TABLE = "relaybox"
LOCAL_FILE = "relaybox.toml"
PROJECT_FILE = "pyproject.toml"
DEFAULT = "default"


def variable(key: str) -> str:
    """The environment variable of setting ``key``: ``batch_size`` -> ``RELAYBOX_BATCH_SIZE``."""
    return "RELAYBOX_" + key.upper()


def flag(key: str) -> str:
    """The command-line flag of setting ``key``: ``batch_size`` -> ``--batch-size``."""
    return "--" + key.replace("_", "-")


def load_settings(
    flags: Mapping[str, object] | None = None,
    *,
    config: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from every source; a flag or variable left ``None``/empty counts as unset.

    ``config`` (the ``--config`` flag) wins over ``RELAYBOX_CONFIG``. ``environ``
    defaults to ``os.environ``. Raises :class:`ConfigurationError` naming the key
    and its source for an unknown key or a bad value.
    """
    return effective_settings(flags, config=config, environ=environ)[0]


def effective_settings(
    flags: Mapping[str, object] | None = None,
    *,
    config: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    folder: Path | None = None,
) -> tuple[Settings, dict[str, str]]:
    """:func:`load_settings`, with where each key's value came from (``"default"`` if unset).

    ``folder`` is where ``relaybox.toml`` and ``pyproject.toml`` are looked for
    (default: the working directory).
    """
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    origins: dict[str, str] = {}
    found = _config_file(config, environ, folder or Path.cwd())
    if found is not None:
        path, table, source = found
        for key, value in _read_file(path, source, table).items():
            _take(values, origins, key, value, source)
    for key in KEYS:
        if environ.get(variable(key)):
            _take(values, origins, key, environ[variable(key)], f"variable {variable(key)}")
    for key, value in (flags or {}).items():
        if key not in KEYS:
            raise ConfigurationError(f"unknown setting {key!r} passed as a flag")
        if value is not None:
            _take(values, origins, key, value, f"option {flag(key)}")
    return _settings(values, origins), {key: origins.get(key, DEFAULT) for key in KEYS}


def _config_file(
    config: str | Path | None, environ: Mapping[str, str], folder: Path
) -> tuple[Path, tuple[str, ...], str] | None:
    """The file to read, the table path in it, and how to name it in messages."""
    named = config or environ.get(CONFIG_VARIABLE) or None
    if named is not None:
        path = Path(named)
        tables = ("tool", TABLE) if path.name == PROJECT_FILE else (TABLE,)
        return path, tables, f"config file {named}"
    local = folder / LOCAL_FILE
    if local.is_file():
        return local, (TABLE,), f"config file {LOCAL_FILE}"
    project = folder / PROJECT_FILE
    if project.is_file() and _has_tool_table(project):
        return project, ("tool", TABLE), f"[tool.{TABLE}] in {PROJECT_FILE}"
    return None


def _has_tool_table(path: Path) -> bool:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # not ours to judge: a broken pyproject.toml is the build's problem
    tool = document.get("tool")
    return isinstance(tool, dict) and TABLE in tool


def _take(
    values: dict[str, object], origins: dict[str, str], key: str, raw: object, src: str
) -> None:
    try:
        values[key] = KEYS[key].parse(raw)
    except ValueError as exc:
        shown = f", got {raw!r}" if KEYS[key].echo else ""
        raise ConfigurationError(f"{key} from {src}: {exc}{shown}") from None
    origins[key] = src


def _settings(values: dict[str, Any], origins: Mapping[str, str]) -> Settings:
    try:
        return Settings(**values)
    except SettingError as exc:  # a relation between keys, such as poll_max < poll_min
        blame = f"{exc.key} from {origins.get(exc.key, 'the defaults')}: {exc.problem}"
        if exc.other is not None:
            blame += f" ({exc.other} from {origins.get(exc.other, 'the defaults')})"
        raise ConfigurationError(blame) from None


def _read_file(path: Path, source: str, tables: tuple[str, ...]) -> Mapping[str, object]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read {source}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{source} is not valid TOML: {exc}") from None
    table: object = document
    for name in tables:
        table = table.get(name) if isinstance(table, dict) else None
    if not isinstance(table, dict):
        name = ".".join(tables)
        raise ConfigurationError(f"{source} has no [{name}] table; put the settings under it")
    for key in table:
        if key not in KEYS:
            raise ConfigurationError(f"unknown setting {key!r} in {source}{_suggestion(key)}")
    return table


def _suggestion(key: str) -> str:
    close = difflib.get_close_matches(key.replace("-", "_"), KEYS, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(KEYS)}"
