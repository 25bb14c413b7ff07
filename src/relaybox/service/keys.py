"""The setting keys: what each accepts and means, shared by the file, the environment and flags.

Every parser takes what a source holds (a TOML value, an environment string or
a flag value), returns the typed value, and raises :class:`ValueError` whose
text says what is allowed. Parsers are idempotent, so :class:`Settings` runs
them again on typed values to validate direct construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from relaybox.core.errors import ConfigurationError
from relaybox.outbox.routing import TopicMap
from relaybox.outbox.tables import Tables
from relaybox.service.durations import parse_duration
from relaybox.service.stores import locate_store


@dataclass(frozen=True, slots=True)
class Key:
    """One setting: how to read it, and the line of help that documents it.

    ``echo`` is false for URLs: their errors already name them, password hidden.
    """

    parse: Callable[[object], object]
    help: str
    echo: bool = True


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value


def _optional(parse: Callable[[object], object]) -> Callable[[object], object]:
    return lambda value: None if value is None else parse(value)


def _store_url(value: object) -> str:
    locate_store(_text(value))
    return str(value)


def _destination_url(value: object) -> str:
    # The scheme is checked by Settings: with a `publisher` factory any scheme goes.
    return _text(value)


def _template(value: object) -> str:
    text = _text(value)
    try:
        TopicMap(template=text)
    except ConfigurationError as exc:
        raise ValueError(str(exc)) from None
    return text


def _routes(value: object) -> tuple[tuple[str, str], ...]:
    """``TOPIC=DEST`` pairs: a comma-separated string, a list of such strings, or a table."""
    if isinstance(value, dict):
        pairs = [(str(topic), str(dest)) for topic, dest in value.items()]
    else:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("expected TOPIC=DEST pairs")
        pairs = [_route(item) for item in items if not isinstance(item, str) or item.strip()]
    for topic, dest in pairs:
        if not topic or not dest:
            raise ValueError(f"route {topic!r}={dest!r} is empty on one side")
    return tuple(pairs)


def _route(item: object) -> tuple[str, str]:
    if isinstance(item, list | tuple) and len(item) == 2:
        return str(item[0]), str(item[1])
    if not isinstance(item, str) or "=" not in item:
        raise ValueError(f"expected TOPIC=DEST, got {item!r}")
    topic, _, dest = item.partition("=")
    return topic.strip(), dest.strip()


def _factory(value: object) -> str:
    module, colon, name = _text(value).partition(":")
    if not colon or not module or not name.isidentifier():
        raise ValueError("expected module:function, such as mypackage.brokers:publisher")
    return str(value)


def _table(value: object) -> str:
    return Tables(_text(value)).name


def _whole(low: int, high: int) -> Callable[[object], object]:
    def parse(value: object) -> int:
        if isinstance(value, str) and value.strip().lstrip("+").isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"expected a whole number within {low}..{high}")
        return value

    return parse


_TEN_YEARS = 10 * 365 * 86400.0  # the relay's own ceiling on any duration


def _seconds(*, positive: bool) -> Callable[[object], object]:
    """A duration parser whose every refusal states the allowed range."""
    allowed = (
        "expected a duration above 0 and at most 10 years"
        if positive
        else "expected a duration from 0 to 10 years"
    ) + ", such as 0.5, '30s', '5m' or '7d'"

    def parse(value: object) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError:
            raise ValueError(allowed) from None
        if (positive and seconds == 0) or seconds > _TEN_YEARS:
            raise ValueError(allowed)
        return seconds

    return parse


def _number(low: float, high: float) -> Callable[[object], object]:
    def parse(value: object) -> float:
        try:
            number = float(value) if isinstance(value, str | int | float) else math.nan
        except ValueError:
            number = math.nan
        if isinstance(value, bool) or not low <= number <= high:
            raise ValueError(f"expected a number within {low:g}..{high:g}")
        return number

    return parse


def _choice(*options: str) -> Callable[[object], object]:
    def parse(value: object) -> str:
        if value not in options:
            raise ValueError("expected one of " + ", ".join(options))
        return str(value)

    return parse


KEYS: dict[str, Key] = {
    "db": Key(
        _optional(_store_url), "outbox database: postgresql://... or sqlite:///path.db", False
    ),
    "to": Key(
        _optional(_destination_url),
        "destination: redis://host/0, nats://host, file:///path.jsonl, jsonl:path, -",
        False,
    ),
    "topic_template": Key(
        _optional(_template), "destination name of each topic, such as 'orders.{topic}'"
    ),
    "route": Key(_routes, "TOPIC=DEST: send TOPIC to DEST (repeatable; comma-separated)"),
    "publisher": Key(
        _optional(_factory), "module:function building the publisher from --to and options"
    ),
    # echo=False: the refusal already quotes the name once.
    "table": Key(_table, "outbox table name (default relaybox_outbox)", False),
    "batch_size": Key(_whole(1, 100_000), "events claimed per batch (default 1000)"),
    "lease": Key(_seconds(positive=True), "how long a claim is held (default 30s)"),
    "max_attempts": Key(
        _whole(1, 1_000_000),
        "deliveries that failed for the event itself before it is dead (default 10)",
    ),
    "max_lease_expiries": Key(
        _whole(1, 1_000_000),
        "leases on an event that may expire unsettled before it is dead (default 10)",
    ),
    "max_age": Key(
        _optional(_seconds(positive=True)),
        "dead-letter an event the destination has been unavailable for this long "
        "since its first failure (default: never)",
    ),
    "outage_max": Key(
        _seconds(positive=True), "longest pause while the destination is down (default 30s)"
    ),
    "backoff": Key(
        _choice("exponential", "linear", "fixed"), "retry schedule (default exponential)"
    ),
    "backoff_initial": Key(_seconds(positive=False), "first retry delay (default 1s)"),
    "backoff_max": Key(_seconds(positive=False), "longest retry delay (default 10m)"),
    "backoff_multiplier": Key(_number(1.0, 1000.0), "exponential growth factor (default 2)"),
    "backoff_jitter": Key(_number(0.0, 1.0), "random spread of each delay (default 0.2)"),
    "on_key_failure": Key(
        _choice("park", "continue"), "park stops a key behind its dead event (default)"
    ),
    "poll_min": Key(_seconds(positive=True), "shortest idle poll interval (default 2ms)"),
    "poll_max": Key(_seconds(positive=True), "longest idle poll interval (default 1s)"),
    "dead_retention": Key(_seconds(positive=True), "how long dead letters are kept (7d)"),
    "cleanup_interval": Key(_seconds(positive=True), "how often retention runs (default 1h)"),
    "cleanup_batch": Key(
        _whole(1, 1_000_000), "rows deleted per retention statement (default 1000)"
    ),
    "owner": Key(_optional(_text), "this relay's name in leases (default host:pid:random)"),
    "grace": Key(_seconds(positive=False), "how long a stop waits for work in flight (30s)"),
}
"""Every setting key, in the order they are documented."""
