"""The demo's live counters: a refreshing table on a terminal, plain lines anywhere else."""

from __future__ import annotations

import time
from dataclasses import astuple, dataclass, fields
from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table

from relaybox.demo.ledger import Ledger
from relaybox.outbox.source import RelayStats


@dataclass(frozen=True, slots=True)
class Tally:
    """The counters at one moment (events unless the name says otherwise)."""

    orders: int
    committed: int
    rolled_back: int
    delivered: int
    retries: int
    dead: int
    pending: int

    @classmethod
    def of(cls, ledger: Ledger, stats: RelayStats, pending: int) -> Tally:
        return cls(
            ledger.orders,
            ledger.events,
            len(ledger.rolled_back),
            stats.delivered,
            stats.retried,
            stats.dead,
            pending,
        )

    def labels(self) -> list[str]:
        return [field.name.replace("_", " ") for field in fields(self)]

    def line(self) -> str:
        return "  ".join(f"{n} {v}" for n, v in zip(self.labels(), astuple(self), strict=True))

    def table(self) -> Table:
        table = Table(title="relaybox demo", title_justify="left")
        for label in self.labels():
            table.add_column(label, justify="right")
        table.add_row(*(str(value) for value in astuple(self)))
        return table


class ProgressView:
    """Shows each :class:`Tally` it is given.

    On an interactive terminal one table is redrawn in place (rich ``Live``);
    otherwise (a pipe, a log, a test) it prints a plain line at most every
    ``every`` seconds, and always the last one, so logs stay short.
    """

    def __init__(self, console: Console, *, every: float = 0.5) -> None:
        self._console = console
        self._every = every
        self._printed_at: float | None = None
        self._live = Live(console=console, auto_refresh=False) if console.is_interactive else None

    def __enter__(self) -> ProgressView:
        if self._live is not None:
            self._live.start()
        return self

    def show(self, tally: Tally, *, last: bool = False) -> None:
        if self._live is not None:
            self._live.update(tally.table(), refresh=True)
            return
        now = time.monotonic()
        if last or self._printed_at is None or now - self._printed_at >= self._every:
            self._console.print(tally.line(), markup=False, highlight=False, soft_wrap=True)
            self._printed_at = now

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
