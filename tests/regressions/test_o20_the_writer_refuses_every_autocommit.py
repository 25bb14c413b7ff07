"""O-20: the writer refuses every connection that would commit an event on its own.

Before: psycopg in pipeline mode with autocommit passed (its status is ACTIVE
while statements are queued, which was taken for "in a transaction"), and
aiosqlite opened with ``autocommit=True`` on Python 3.12+ passed (the check
fell back to ``isolation_level``). In both, an event outlived its rolled-back
transaction.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from relaybox.core.errors import ConfigurationError
from relaybox.core.events import Event
from relaybox.outbox.writer import Outbox

SRC = Path(__file__).parents[2] / "src"


async def test_o20_psycopg_in_pipeline_mode_with_autocommit_is_refused(
    pg_store, pg_dsn: str, tables
) -> None:  # type: ignore[no-untyped-def]
    outbox = Outbox(tables, trace=False)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        with conn.pipeline():
            conn.execute("SELECT 1")
            with pytest.raises(ConfigurationError, match="autocommit"):
                outbox.add(conn, Event("orders"))
        with conn.pipeline(), conn.transaction():  # an explicit transaction is fine
            outbox.add(conn, Event("orders"))
    assert (await pg_store.status()).pending == 1


async def test_o20_async_psycopg_in_pipeline_mode_with_autocommit_is_refused(
    pg_store, pg_dsn: str, tables
) -> None:  # type: ignore[no-untyped-def]
    outbox = Outbox(tables, trace=False)
    connecting = psycopg.AsyncConnection.connect(pg_dsn, autocommit=True)
    async with await connecting as conn, conn.pipeline():
        await conn.execute("SELECT 1")
        with pytest.raises(ConfigurationError, match="autocommit"):
            await outbox.add_async(conn, Event("orders"))
    assert (await pg_store.status()).pending == 0


PROGRAM = """
import asyncio, sys
sys.path[:0] = [{src!r}, {site!r}]
import aiosqlite
from relaybox.core.errors import ConfigurationError
from relaybox.core.events import Event
from relaybox.outbox.writer import Outbox

async def main():
    async with aiosqlite.connect(":memory:", autocommit=True) as conn:
        try:
            await Outbox(trace=False).add_async(conn, Event("orders"))
        except ConfigurationError as exc:
            print("refused:", exc)
            return
        print("accepted")

asyncio.run(main())
"""


def python_3_12() -> str | None:
    """A Python 3.12 or newer that runs here (pyenv's shims may name one that does not)."""
    candidates = [shutil.which(f"python3.{minor}") for minor in (12, 13, 14)]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.1[2-9]*/bin/python3"))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info >= (3, 12))"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        if probe.stdout.strip() == "True":
            return candidate
    return None


PYTHON_3_12 = python_3_12()


@pytest.mark.skipif(PYTHON_3_12 is None, reason="needs a Python 3.12 or newer to run")
def test_o20_aiosqlite_with_autocommit_is_refused_on_python_3_12() -> None:
    import aiosqlite

    assert PYTHON_3_12 is not None
    site = str(Path(aiosqlite.__file__).parents[1])
    program = PROGRAM.format(src=str(SRC), site=site)
    result = subprocess.run(
        [PYTHON_3_12, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.startswith("refused:"), result.stdout + result.stderr
    assert result.returncode == 0
