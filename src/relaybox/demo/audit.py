"""Compare what came out of the outbox with what the writers committed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from relaybox.demo.ledger import Ledger
from relaybox.demo.shop import expected_types
from relaybox.demo.summary import DeadLetterNote, DemoSummary
from relaybox.demo.workspace import Workspace
from relaybox.ports.store import DeadEvent


@dataclass(frozen=True, slots=True)
class Sighting:
    """An event seen at the far end: a line of the published file, or a dead letter."""

    id: str
    key: str | None
    seq: int | None
    type: str


def read_published(path: Path) -> list[Sighting]:
    """The published file's events, in the order they were written."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    return [Sighting(r["id"], r["key"], r["seq"], r["type"]) for r in records]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything the audit looks at, gathered after the outbox drained."""

    workspace: Workspace
    ledger: Ledger
    published: Sequence[Sighting]
    dead: Sequence[DeadEvent]
    statuses: Mapping[str, str]
    pending: int
    retries: int
    timeouts: int
    rejections: int
    seconds: float


def audit(evidence: Evidence) -> DemoSummary:
    """Count duplicates, losses, leaks and order breaks; the summary judges them."""
    ledger = evidence.ledger
    dead = [Sighting(d.id, d.key, d.seq, d.type) for d in evidence.dead]
    seen = Counter(s.id for s in (*evidence.published, *dead))
    committed = ledger.committed_ids()
    return DemoSummary(
        database=evidence.workspace.database,
        published_file=evidence.workspace.published,
        url=evidence.workspace.url,
        orders=len(evidence.statuses),
        committed=len(committed),
        rolled_back=len(ledger.rolled_back),
        delivered=len(evidence.published),
        dead=len(dead),
        pending=evidence.pending,
        retries=evidence.retries,
        timeouts=evidence.timeouts,
        rejections=evidence.rejections,
        duplicates=sum(count - 1 for count in seen.values()),
        missing=len(committed - seen.keys()),
        unexpected=len(seen.keys() - committed - ledger.rolled_back),
        leaked=len(ledger.rolled_back & seen.keys()),
        out_of_order=out_of_order(ledger, evidence.published),
        mismatched_orders=mismatched_orders(evidence.statuses, [*evidence.published, *dead]),
        seconds=evidence.seconds,
        dead_letters=tuple(
            DeadLetterNote(d.id, d.key, d.type, d.attempts, d.error) for d in evidence.dead
        ),
    )


def out_of_order(ledger: Ledger, published: Iterable[Sighting]) -> int:
    """Keys whose published events are not in rising sequence and commit order."""
    position = {
        event_id: index for ids in ledger.committed.values() for index, event_id in enumerate(ids)
    }
    last: dict[str | None, tuple[int, int]] = {}
    broken: set[str | None] = set()
    for sighting in published:
        if sighting.key is None:
            continue
        here = (sighting.seq or 0, position.get(sighting.id, -1))
        before = last.get(sighting.key)
        if before is not None and not (here[0] > before[0] and here[1] > before[1]):
            broken.add(sighting.key)
        last[sighting.key] = here
    return len(broken)


def mismatched_orders(statuses: Mapping[str, str], seen: Iterable[Sighting]) -> int:
    """Orders whose row's status is not backed by exactly one event per stage.

    This needs no ledger: a leaked event of a refused step, a lost or a doubled
    event each show up as an order whose row and events disagree.
    """
    types: dict[str | None, Counter[str]] = {}
    for sighting in seen:
        types.setdefault(sighting.key, Counter())[sighting.type] += 1
    keys = set(statuses) | set(types)
    return sum(
        1
        for key in keys
        if key is None
        or key not in statuses
        or types.get(key, Counter()) != Counter(expected_types(statuses[key]))
    )
