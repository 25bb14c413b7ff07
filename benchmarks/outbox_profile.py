"""Where a relay's time goes: per statement, in this process, in its database backends.

With ``--profile`` the benchmarks give every connection of the store's pool
a query logger, so each statement the store sends is timed from send to result
and named after its constant in ``relaybox.adapters.postgres.queries``. The
CPU of this process and of the pool's server backends (read from ``/proc``:
the server must run on this machine) shows which side is the bottleneck.
For the Python side in detail, run the benchmark under py-spy::

    py-spy record -o relay.svg -- .venv/bin/python benchmarks/outbox.py --only throughput
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from asyncpg.connection import LoggedQuery

from relaybox.adapters.postgres import PostgresStore, queries
from relaybox.outbox.tables import Tables

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class Profile:
    """Statement times and CPU seconds gathered over one or more measured runs."""

    calls: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0
    client_cpu: float = 0.0
    server_cpu: float = 0.0

    def lines(self) -> list[str]:
        out = [
            f"profile: {self.wall:.2f} s wall; CPU {self.client_cpu:.2f} s in this process, "
            f"{self.server_cpu:.2f} s in the store's server backends"
        ]
        for name, spent in sorted(self.seconds.items(), key=lambda item: -item[1]):
            calls = self.calls[name]
            out.append(
                f"  {name:<28} {calls:>7} calls {spent * 1000:>9.1f} ms "
                f"{spent / calls * 1000:>7.3f} ms/call {spent / self.wall:>6.1%} of wall"
            )
        return out

    def figures(self) -> dict[str, object]:
        return {
            "wall_s": round(self.wall, 3),
            "client_cpu_s": round(self.client_cpu, 3),
            "server_cpu_s": round(self.server_cpu, 3),
            "statements": {
                name: {"calls": self.calls[name], "ms": round(spent * 1000, 1)}
                for name, spent in self.seconds.items()
            },
        }


class Recorder:
    """Adds the statements and CPU of one store's pool to a :class:`Profile` while measuring."""

    def __init__(self, tables: Tables, profile: Profile) -> None:
        self.profile = profile
        self.names = {
            tables.render(sql).strip(): name
            for name, sql in vars(queries).items()
            if name.isupper() and isinstance(sql, str)
        }
        self.backends: set[int] = set()
        self.active = False

    async def connect(self, dsn: str, tables: Tables) -> PostgresStore:
        """``PostgresStore.connect``, each pool connection logging its statements here.

        ``asyncpg.create_pool`` is wrapped while the store connects, only to add an
        ``init`` hook, so the pool is otherwise exactly the one ``connect`` builds.
        """

        async def init(conn: asyncpg.Connection) -> None:
            self.backends.add(conn.get_server_pid())
            conn.add_query_logger(self._logged)

        original = asyncpg.create_pool

        def create_pool(*args: Any, **kwargs: Any) -> asyncpg.Pool:
            theirs = kwargs.get("init")

            async def both(conn: asyncpg.Connection) -> None:
                await init(conn)
                if theirs is not None:
                    await theirs(conn)

            return original(*args, **{**kwargs, "init": both})

        asyncpg.create_pool = create_pool  # type: ignore[assignment]  # see docstring
        try:
            return await PostgresStore.connect(dsn, tables)
        finally:
            asyncpg.create_pool = original

    def _logged(self, record: LoggedQuery) -> None:
        if not self.active:
            return
        text = record.query.strip()
        name = self.names.get(text) or " ".join(text.split())[:28]
        profile = self.profile
        profile.calls[name] = profile.calls.get(name, 0) + 1
        profile.seconds[name] = profile.seconds.get(name, 0.0) + record.elapsed

    def server_cpu(self) -> float:
        """CPU seconds used so far by the pool's backends (0 for any not on this machine)."""
        total = 0
        for pid in self.backends:
            stat = Path(f"/proc/{pid}/stat")
            if stat.exists():
                fields = stat.read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / TICK

    @contextmanager
    def measuring(self) -> Iterator[None]:
        """Count this block's statements, wall time and CPU into the profile."""
        profile = self.profile
        wall, cpu, server = time.perf_counter(), time.process_time(), self.server_cpu()
        self.active = True
        try:
            yield
        finally:
            self.active = False
            profile.wall += time.perf_counter() - wall
            profile.client_cpu += time.process_time() - cpu
            profile.server_cpu += self.server_cpu() - server
