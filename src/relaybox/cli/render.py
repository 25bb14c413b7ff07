"""How outbox facts look on a terminal (rich) and in ``--json`` output."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.json import JSON
from rich.table import Table
from rich.text import Text

from relaybox.ports.store import DeadEvent, ParkedKey, Status
from relaybox.service import format_duration

_LABEL = 16
_PIPED_WIDTH = 160


def when(moment: datetime | None) -> str:
    """A timestamp in UTC to the second, ``-`` when there is none."""
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def status_table(status: Status) -> Table:
    table = Table(show_header=False, box=None)
    age = status.oldest_pending_age
    for label, value in (
        ("pending", status.pending),
        ("in flight", status.in_flight),
        ("retrying", status.retrying),
        ("dead", status.dead),
        ("parked keys", status.parked_keys),
        ("oldest pending", "-" if age is None else format_duration(age)),
    ):
        table.add_row(Text(label, style="bold"), str(value))
    return table


def dead_table(letters: Sequence[DeadEvent]) -> Table:
    table = Table("id", "topic", "key", "attempts", "dead at", "error")
    _keep_whole(table, 0, [letter.id for letter in letters])
    table.columns[4].no_wrap = True
    for letter in letters:
        table.add_row(
            letter.id,
            letter.topic,
            letter.key or "-",
            str(letter.attempts),
            when(letter.dead_at),
            _first_line(letter.error),
        )
    return table


def dead_detail(letter: DeadEvent) -> RenderableType:
    """Label and value per line, long values unwrapped so errors copy whole; then the payload."""
    facts = Text()
    for label, value in dead_facts(letter).items():
        facts.append(f"{label:<{_LABEL}}", style="bold")
        facts.append(value.replace("\n", "\n" + " " * _LABEL) + "\n")
    facts.rstrip()
    return Group(facts, Text("payload", style="bold"), payload_view(letter))


def dead_facts(letter: DeadEvent) -> Mapping[str, str]:
    return {
        "id": letter.id,
        "topic": letter.topic,
        "key": letter.key or "-",
        "sequence": "-" if letter.seq is None else str(letter.seq),
        "type": letter.type or "-",
        "aggregate type": letter.aggregate_type or "-",
        "content type": letter.content_type,
        "created": when(letter.created_at),
        "attempts": str(letter.attempts),
        "first failure": when(letter.first_failed_at),
        "last failure": when(letter.last_failed_at),
        "dead at": when(letter.dead_at),
        "error type": letter.error_type,
        "error": letter.error,
        "headers": json.dumps(dict(letter.headers)) if letter.headers else "-",
    }


def payload_view(letter: DeadEvent) -> RenderableType:
    """The payload pretty-printed when it is JSON, as text when it is text, else base64."""
    decoded = payload_value(letter)
    if "payload" in decoded:
        return JSON.from_data(decoded["payload"], indent=2)
    if "payload_text" in decoded:
        return Text(str(decoded["payload_text"]))
    return Text(f"({len(letter.payload)} bytes, base64) {decoded['payload_base64']}")


def payload_value(letter: DeadEvent) -> dict[str, object]:
    """``payload`` (decoded JSON), ``payload_text`` or ``payload_base64``, whichever fits."""
    try:
        text = letter.payload.decode("utf-8")
    except UnicodeDecodeError:
        return {"payload_base64": base64.b64encode(letter.payload).decode("ascii")}
    if "json" in letter.content_type:
        try:
            return {"payload": json.loads(text)}
        except ValueError:
            pass
    return {"payload_text": text}


def dead_json(letter: DeadEvent) -> dict[str, object]:
    return {
        "id": letter.id,
        "topic": letter.topic,
        "key": letter.key,
        "seq": letter.seq,
        "type": letter.type,
        "aggregate_type": letter.aggregate_type,
        "content_type": letter.content_type,
        "headers": dict(letter.headers),
        "created_at": letter.created_at.isoformat(),
        "attempts": letter.attempts,
        "first_failed_at": _iso(letter.first_failed_at),
        "last_failed_at": _iso(letter.last_failed_at),
        "dead_at": letter.dead_at.isoformat(),
        "error": letter.error,
        "error_type": letter.error_type,
        **payload_value(letter),
    }


def parked_table(keys: Sequence[ParkedKey]) -> Table:
    table = Table("key", "parked at", "pending", "dead event", "reason")
    table.columns[1].no_wrap = True
    _keep_whole(table, 3, [parked.event_id or "-" for parked in keys])
    for parked in keys:
        table.add_row(
            parked.key,
            when(parked.parked_at),
            str(parked.pending),
            parked.event_id or "-",
            _first_line(parked.reason or "-"),
        )
    return table


def parked_json(parked: ParkedKey) -> dict[str, object]:
    return {
        "key": parked.key,
        "parked_at": parked.parked_at.isoformat(),
        "pending": parked.pending,
        "event_id": parked.event_id,
        "reason": parked.reason,
    }


def _keep_whole(table: Table, column: int, values: Sequence[str]) -> None:
    """Ids are copied into other commands: never wrap or shorten them."""
    table.columns[column].no_wrap = True
    table.columns[column].min_width = max(map(len, values), default=0)


def _first_line(text: str) -> Text:
    lines = text.splitlines()
    return Text(lines[0] if lines else "", overflow="ellipsis", no_wrap=True)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def console(*, stderr: bool = False) -> Console:
    """A console on the current stdout/stderr (tests swap them).

    Piped output is not squeezed to 80 columns: it is read by grep and scripts.
    """
    screen = Console(stderr=stderr, highlight=False)
    if not screen.is_terminal:
        screen.width = max(screen.width, _PIPED_WIDTH)
    return screen
