"""Durations as operators write them: ``30``, ``2.5``, ``"500ms"``, ``"30s"``, ``"7d"``."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d|w)?\s*", re.IGNORECASE)


def parse_duration(value: object) -> float:
    """``value`` in seconds: a number of seconds, or a string with an optional unit.

    Units: ``ms``, ``s`` (the default), ``m``, ``h``, ``d``, ``w``. Negative,
    infinite and NaN durations are refused with :class:`ValueError`, as are
    booleans (``true`` in a TOML file is a typo, not one second).
    """
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30, 2.5, '500ms', '30s', '5m' or '7d'")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value)):
        number, unit = match.groups()
        seconds = float(number) * _UNITS[(unit or "s").lower()]
    else:
        raise ValueError("expected a duration such as 30, 2.5, '500ms', '30s', '5m' or '7d'")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("a duration must be a finite number of seconds, at least 0")
    return seconds


def format_duration(seconds: float) -> str:
    """A short human form of ``seconds`` for tables: ``0.4s``, ``12s``, ``5m 3s``, ``2d 4h``."""
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    whole = int(seconds)
    for size, unit, rest_size, rest_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "m")):
        if whole >= size:
            rest = (whole % size) // rest_size
            return f"{whole // size}{unit} {rest}{rest_unit}" if rest else f"{whole // size}{unit}"
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m {rest}s" if rest else f"{minutes}m"
