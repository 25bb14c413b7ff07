"""``relaybox relay``: once to a JSON-lines file, and as a process stopped by a signal."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from relaybox.cli import relaybox
from relaybox.core.events import Event
from relaybox.testing import wait_until

pytestmark = pytest.mark.integration


async def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, relaybox, list(args), env=env, catch_exceptions=False
    )


def lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def orders(key: str | None, count: int) -> list[Event]:
    return [Event("orders", {"n": n}, key=key) for n in range(count)]


async def test_relay_once_delivers_every_event_to_a_json_lines_file_in_key_order(
    outbox_db, tmp_path: Path
) -> None:
    await outbox_db.write(*orders("a", 5), *orders("b", 3), *orders(None, 4))
    await outbox_db.write(*orders("a", 2))
    target = tmp_path / "events.jsonl"
    where = ["--db", outbox_db.url, "--table", outbox_db.tables.name]

    result = await cli("relay", *where, "--to", f"file://{target}", "--once", "--batch-size", "4")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("relayed 14 events: delivered 14, retried 0, dead 0;")
    delivered = lines(target)
    assert len({line["id"] for line in delivered}) == 14
    a = [line for line in delivered if line["key"] == "a"]
    assert [line["seq"] for line in a] == [1, 2, 3, 4, 5, 6, 7]
    assert [line["payload"] for line in a] == [{"n": n} for n in (0, 1, 2, 3, 4, 0, 1)]
    assert (await outbox_db.store.status()).pending == 0


async def test_relay_once_takes_its_destination_and_tuning_from_file_and_environment(
    outbox_db, tmp_path: Path
) -> None:
    await outbox_db.write(*orders("a", 3))
    target = tmp_path / "out.jsonl"
    path = tmp_path / "relaybox.toml"
    path.write_text(f'[relaybox]\ndb = "{outbox_db.url}"\nbatch_size = 2\nlease = "1m"\n')
    env = {
        "RELAYBOX_CONFIG": str(path),
        "RELAYBOX_TABLE": outbox_db.tables.name,
        "RELAYBOX_TO": f"jsonl:{target}",
    }

    result = await cli("relay", "--once", env=env)

    assert result.exit_code == 0, result.output
    assert [line["payload"] for line in lines(target)] == [{"n": 0}, {"n": 1}, {"n": 2}]


async def test_relay_without_a_destination_says_how_to_give_one(outbox_db) -> None:
    result = await cli("relay", "--once", "--db", outbox_db.url, env={"RELAYBOX_TO": ""})

    assert result.exit_code == 2
    assert "no destination given: pass --to URL" in result.stderr


async def test_relay_to_an_unknown_scheme_lists_the_supported_ones(outbox_db) -> None:
    result = await cli("relay", "--once", "--db", outbox_db.url, "--to", "gopher://broker/t")

    assert result.exit_code == 2
    assert "unsupported destination 'gopher://broker/t'" in result.stderr
    assert "file:///" in result.stderr


async def test_relay_on_a_missing_schema_names_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"

    result = await cli("relay", "--once", "--db", url, "--to", "-")

    assert result.exit_code == 2
    assert f"relaybox migrate --db {url}" in result.stderr
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
async def test_relay_runs_until_a_signal_stops_it_gracefully(
    outbox_db, tmp_path: Path, signum: signal.Signals
) -> None:
    target = tmp_path / "live.jsonl"
    command = ["-m", "relaybox", "relay", "--db", outbox_db.url, "--table", outbox_db.tables.name]
    command += ["--to", f"file:{target}", "--poll-max", "0.05"]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command, stderr=asyncio.subprocess.PIPE
    )
    try:
        await outbox_db.write(*orders("a", 3))
        await wait_until(lambda: len(lines(target)) == 3, within=30, what="3 delivered")
        await outbox_db.write(*orders("b", 2))
        await wait_until(lambda: len(lines(target)) == 5, within=30, what="5 delivered")
        process.send_signal(signum)
        _, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = err.decode()
    assert process.returncode == 0, stderr
    assert "relaying" in stderr
    assert stderr.rstrip().endswith("relay stopped")
    assert (await outbox_db.store.status()).pending == 0
