"""The command line against real SQLite files and PostgreSQL: schema, status, settings, errors."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from relaybox.cli import main, relaybox
from relaybox.core.errors import PermanentError
from relaybox.core.events import Event, Message
from relaybox.outbox.relay import Relay
from relaybox.outbox.tables import Tables
from relaybox.testing.publisher import MemoryPublisher

pytestmark = pytest.mark.integration


async def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Result:
    """Run ``relaybox ARGS`` in a worker thread: each command runs its own event loop."""
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, relaybox, list(args), input=stdin, env=env, catch_exceptions=False
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_db(
    request: pytest.FixtureRequest, tables: Tables, sqlite_path: Path, pg_dsn: str
) -> AsyncIterator[tuple[str, Tables]]:
    """A database URL without the outbox tables; PostgreSQL's are dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{sqlite_path}", tables
        return
    yield pg_dsn, tables
    from relaybox.adapters.postgres import PostgresStore

    store = await PostgresStore.connect(pg_dsn, tables)
    try:
        await store.drop()
    finally:
        await store.close()


async def test_migrate_then_check_reports_the_schema_ready(empty_db: tuple[str, Tables]) -> None:
    url, tables = empty_db

    first = await cli("migrate", "--db", url, "--table", tables.name)
    again = await cli("migrate", "--db", url, "--table", tables.name)
    check = await cli("check", "--db", url, "--table", tables.name)

    assert first.exit_code == 0, first.output
    assert f"applied v1, v2, v3 to outbox {tables.name!r}" in first.stdout
    assert again.exit_code == 0
    assert "nothing to do" in again.stdout
    assert check.exit_code == 0
    assert check.stdout.strip() == "ready (schema v3)"


async def test_check_on_an_empty_database_says_to_run_migrate(
    empty_db: tuple[str, Tables],
) -> None:
    url, tables = empty_db

    result = await cli("check", "--db", url, "--table", tables.name)

    assert result.exit_code == 2
    assert result.stdout.startswith("not ready: ")
    assert f"`relaybox migrate --db {url} --table {tables.name}`" in result.stdout


async def test_commands_on_an_empty_database_fail_with_one_line_naming_migrate(
    empty_db: tuple[str, Tables],
) -> None:
    url, tables = empty_db

    result = await cli("status", "--db", url, "--table", tables.name)

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: ")
    assert "relaybox migrate --db" in result.stderr
    assert "Traceback" not in result.output


def permanent_for(topic: str) -> MemoryPublisher:
    def fail(message: Message) -> BaseException | None:
        return PermanentError("rejected by the broker") if message.topic == topic else None

    return MemoryPublisher(fail)


async def test_status_counts_pending_dead_and_parked(outbox_db) -> None:
    await outbox_db.write(Event("bad", {"n": 0}, key="k1"), Event("good", {"n": 1}, key="k1"))
    await outbox_db.write(*[Event("good", {"n": n}) for n in range(3)])
    await Relay(outbox_db.store, permanent_for("bad")).drain()
    await outbox_db.write(Event("good", {"n": 9}))

    result = await cli("status", "--db", outbox_db.url, "--table", outbox_db.tables.name, "--json")
    table = await cli("status", "--db", outbox_db.url, "--table", outbox_db.tables.name)

    status = json.loads(result.stdout)
    assert status["pending"] == 2  # k1's second event waits behind its parked key, plus n=9
    assert status["dead"] == 1
    assert status["parked_keys"] == 1
    assert status["in_flight"] == 0
    assert status["oldest_pending_age"] >= 0
    assert "parked keys" in table.stdout
    assert "oldest pending" in table.stdout


async def test_settings_come_from_the_config_file_and_the_environment(
    outbox_db,
    tmp_path: Path,
) -> None:
    path = tmp_path / "relaybox.toml"
    path.write_text(f'[relaybox]\ndb = "{outbox_db.url}"\ntable = "{outbox_db.tables.name}"\n')

    by_file = await cli("check", "--config", str(path))
    by_variable = await cli("check", env={"RELAYBOX_CONFIG": str(path)})
    overridden = await cli("check", env={"RELAYBOX_CONFIG": str(path), "RELAYBOX_TABLE": "nope"})

    assert by_file.stdout.strip() == "ready (schema v3)"
    assert by_variable.stdout.strip() == "ready (schema v3)"
    assert overridden.exit_code == 2
    assert "'nope'" in overridden.stdout


async def test_a_bad_setting_is_one_line_naming_the_key_and_its_source(tmp_path: Path) -> None:
    path = tmp_path / "relaybox.toml"
    path.write_text('[relaybox]\ndb = "sqlite:///x.db"\nleese = "30s"\n')

    unknown = await cli("status", "--config", str(path))
    bad_flag = await cli("relay", "--db", "sqlite:///x.db", "--to", "-", "--batch-size", "lots")

    assert unknown.exit_code == 2
    assert "unknown setting 'leese' in config file" in unknown.stderr
    assert "did you mean 'lease'?" in unknown.stderr
    assert bad_flag.exit_code == 2
    assert "batch_size from option --batch-size: expected a whole number" in bad_flag.stderr


async def test_an_unknown_database_scheme_lists_the_supported_ones() -> None:
    result = await cli("status", "--db", "mysql://app@db/app")

    assert result.exit_code == 2
    assert "unsupported database URL 'mysql://app@db/app'" in result.stderr
    assert "postgresql://" in result.stderr
    assert "sqlite:" in result.stderr


async def test_an_unreachable_database_is_named_without_its_password() -> None:
    port = 1  # nothing listens on port 1 of the loopback interface
    url = f"postgresql://postgres:hunter2@127.0.0.1:{port}/test"

    result = await cli("status", "--db", url)

    assert result.exit_code == 1
    assert f"cannot open the database at postgresql://postgres:***@127.0.0.1:{port}/test" in (
        result.stderr
    )
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output


async def test_a_missing_database_setting_says_how_to_give_one() -> None:
    result = await cli("status", env={"RELAYBOX_DB": ""})

    assert result.exit_code == 2
    assert "no database given: pass --db URL, set RELAYBOX_DB" in result.stderr


def commands(group: click.Group, prefix: Sequence[str] = ()) -> list[list[str]]:
    found = []
    for name, command in group.commands.items():
        found.append([*prefix, name])
        if isinstance(command, click.Group):
            found.extend(commands(command, [*prefix, name]))
    return found


@pytest.mark.parametrize("command", [[], *commands(relaybox)], ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(relaybox, [*command, "--help"])

    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: relaybox {' '.join(command)}".rstrip())


def test_main_returns_the_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / f"{uuid.uuid4().hex}.db"

    assert main(["check", "--db", f"sqlite:///{missing}"]) == 2
    assert main(["--help"]) == 0
    assert "not ready" in capsys.readouterr().out
    assert main(["no-such-command"]) == 2
    assert "No such command 'no-such-command'" in capsys.readouterr().err


async def test_the_demo_command_runs_the_demo_and_exits_zero_when_every_check_passes(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"

    result = await cli("demo", "--db", url, "--orders", "40", "--writers", "2", "--seed", "5")
    refused = await cli("demo", "--db", "postgresql://app:hunter2@db/x")
    bad = await cli("demo", "--orders", "0")

    assert result.exit_code == 0, result.output
    assert "ALL CHECKS PASSED" in result.stdout
    assert (tmp_path / "shop.db").exists()
    assert refused.exit_code == 2
    assert "the demo runs on SQLite" in refused.stderr
    assert "hunter2" not in refused.stderr
    assert bad.exit_code == 2
    assert "orders must be an int within 1..1000000, got 0" in bad.stderr


async def test_a_missing_driver_says_which_extra_to_install() -> None:
    script = (
        "import sys; sys.modules['asyncpg'] = None  # as if the extra were not installed\n"
        "from relaybox.cli import main\n"
        "sys.exit(main(['status', '--db', 'postgresql://postgres@127.0.0.1:5432/test']))\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 2
    assert 'needs the asyncpg driver: pip install "relaybox[postgres]"' in err.decode()
