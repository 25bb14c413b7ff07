"""How a status snapshot looks: counts, the failing events, and per-topic counts."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from relaybox.cli.render import status_table, when
from relaybox.service.snapshots import Snapshot


def snapshot_view(shot: Snapshot) -> RenderableType:
    parts: list[RenderableType] = [status_table(shot.status)]
    if shot.failing:
        table = Table(
            "failing event", "topic", "key", "attempts", "next try", "last error", box=None
        )
        table.columns[0].no_wrap = True
        for event in shot.failing:
            table.add_row(
                event.id,
                event.topic,
                event.key or "-",
                str(event.attempts),
                "now" if event.next_try is None else when(event.next_try),
                Text((event.error or "-").splitlines()[0], overflow="ellipsis", no_wrap=True),
            )
        parts += [Text(""), table]
    if shot.topics:
        topics = Table("topic", "pending", "retrying", "dead", box=None)
        for counts in shot.topics:
            topics.add_row(
                counts.topic, str(counts.pending), str(counts.retrying), str(counts.dead)
            )
        parts += [Text(""), topics]
    return Group(*parts)


def snapshot_json(shot: Snapshot) -> dict[str, object]:
    """The status fields at the top level (as before), with ``failing`` and ``topics``."""
    return {
        **dataclasses.asdict(shot.status),
        "failing": [
            {**dataclasses.asdict(event), "next_try": _iso(event.next_try)}
            for event in shot.failing
        ],
        "topics": [dataclasses.asdict(counts) for counts in shot.topics],
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
