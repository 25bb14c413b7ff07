"""URLs as users write them, settings found without flags, schema checks before any relaying."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from relaybox import ConfigurationError, Relay, SchemaMissingError
from relaybox.adapters.sqlite import SqliteStore
from relaybox.cli import relaybox
from relaybox.outbox.tables import Tables
from relaybox.testing.publisher import MemoryPublisher

pytestmark = pytest.mark.integration


async def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, relaybox, list(args), env=env, catch_exceptions=False
    )


def names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


async def test_sqlite_three_slashes_is_relative_to_the_working_directory(in_tmp: Path) -> None:
    result = await cli("migrate", "--db", "sqlite:///shop.db")

    assert result.exit_code == 0, result.output
    assert "shop.db" in names(in_tmp)
    assert "shop.db" not in names(Path("/"))


async def test_sqlite_four_slashes_is_absolute(tmp_path: Path) -> None:
    result = await cli("migrate", "--db", f"sqlite:///{tmp_path / 'abs.db'}")

    assert result.exit_code == 0, result.output
    assert (tmp_path / "abs.db").is_file()


async def test_an_in_memory_sqlite_database_is_refused_with_the_reason(in_tmp: Path) -> None:
    result = await cli("migrate", "--db", "sqlite:///:memory:")

    assert result.exit_code == 2
    assert "in-memory database, which only its own connection sees" in result.stderr
    assert names(in_tmp) == []


async def test_sqlalchemy_postgresql_urls_are_accepted(pg_dsn: str, tables: Tables) -> None:
    for driver in ("asyncpg", "psycopg"):
        url = pg_dsn.replace("postgresql://", f"postgresql+{driver}://")
        result = await cli("check", "--db", url, "--table", tables.name)
        assert result.exit_code == 2, result.output  # reached the server: no schema there
        assert result.stdout.startswith("not ready: the outbox")


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda d: f"sqlite:///{d}/no/such/folder/x.db", "the folder"),
        (lambda d: f"sqlite:///{d}", "is a directory, not a SQLite database"),
        (lambda d: f"sqlite:///{d}/notes.txt", "is not a SQLite database"),
    ],
    ids=["missing-folder", "directory", "not-sqlite"],
)
async def test_a_sqlite_file_that_cannot_be_opened_is_one_error_line(
    tmp_path: Path, make: object, says: str
) -> None:
    (tmp_path / "notes.txt").write_text("shopping list\n" * 20)
    url = make(tmp_path)  # type: ignore[operator]

    result = await cli("migrate", "--db", url)

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert says in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output


async def test_settings_are_found_in_relaybox_toml_then_pyproject(in_tmp: Path) -> None:
    (in_tmp / "pyproject.toml").write_text('[tool.relaybox]\ndb = "sqlite:///p.db"\nlease = "1m"\n')
    from_project = await cli("config", "--json")
    (in_tmp / "relaybox.toml").write_text('[relaybox]\ndb = "sqlite:///r.db"\n')
    from_local = await cli("config", "--json")

    project = {row["key"]: row for row in map(json.loads, from_project.stdout.splitlines())}
    local = {row["key"]: row for row in map(json.loads, from_local.stdout.splitlines())}
    assert project["db"] == {
        "key": "db",
        "value": "sqlite:///p.db",
        "source": "[tool.relaybox] in pyproject.toml",
    }
    assert project["lease"]["value"] == 60.0
    assert local["db"]["source"] == "config file relaybox.toml"
    assert local["lease"]["source"] == "default"  # one file is read, not merged


async def test_relaybox_config_variable_wins_over_files_found_around(
    in_tmp: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (in_tmp / "relaybox.toml").write_text('[relaybox]\ndb = "sqlite:///r.db"\n')
    named = tmp_path_factory.mktemp("etc") / "relay.toml"
    named.write_text('[relaybox]\ndb = "sqlite:///named.db"\n')

    result = await cli("config", env={"RELAYBOX_CONFIG": str(named), "RELAYBOX_BATCH_SIZE": "7"})

    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert lines["db"][1:] == ["sqlite:///named.db", "config", "file", str(named)]
    assert lines["batch_size"][1:] == ["7", "variable", "RELAYBOX_BATCH_SIZE"]
    assert lines["table"][1:] == ["relaybox_outbox", "default"]


async def test_config_masks_passwords_and_names_flag_sources(in_tmp: Path) -> None:
    result = await cli("config", "--db", "postgresql://app:s3cret@db/shop", "--to", "-")

    assert result.exit_code == 0
    assert "s3cret" not in result.output
    assert "postgresql://app:***@db/shop" in result.stdout
    assert "option --db" in result.stdout


async def test_an_out_of_range_setting_says_what_range_is_allowed(in_tmp: Path) -> None:
    lease = await cli("relay", "--db", "sqlite:///x.db", "--to", "-", "--lease", "-1")
    batch = await cli("relay", "--db", "sqlite:///x.db", "--to", "-", "--batch-size", "0")

    assert lease.exit_code == batch.exit_code == 2
    assert "lease from option --lease: expected a duration above 0 and at most 10 years" in (
        lease.stderr
    )
    assert "expected a whole number within 1..100000, got '0'" in batch.stderr


async def test_a_refused_table_name_is_shown_once_quoted(in_tmp: Path) -> None:
    result = await cli("status", "--db", "sqlite:///x.db", "--table", "bad-name")

    assert result.exit_code == 2
    assert result.stderr.count("bad-name") == 1
    assert "'bad-name'" in result.stderr


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_migrate_sql_prints_a_script_that_check_accepts(
    dialect: str, tables: Tables, tmp_path: Path, pg_dsn: str
) -> None:
    printed = await cli("migrate", "--sql", "--dialect", dialect, "--table", tables.name)
    assert printed.exit_code == 0
    assert f"CREATE TABLE {tables.name} (" in printed.stdout

    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'alembic.db'}"
        with sqlite3.connect(tmp_path / "alembic.db") as conn:
            conn.executescript(printed.stdout)
    else:
        import asyncpg

        url = pg_dsn
        conn = await asyncpg.connect(pg_dsn)
        try:
            async with conn.transaction():
                await conn.execute(printed.stdout)
        finally:
            await conn.close()
    try:
        check = await cli("check", "--db", url, "--table", tables.name)
        again = await cli("migrate", "--db", url, "--table", tables.name)
    finally:
        if dialect == "postgresql":
            from relaybox.adapters.postgres import PostgresStore

            store = await PostgresStore.connect(pg_dsn, tables)
            await store.drop()
            await store.close()
    assert check.stdout.strip() == "ready (schema v3)"
    assert "nothing to do" in again.stdout


async def test_drain_and_relay_batch_check_the_schema_first(sqlite_path: Path) -> None:
    store = SqliteStore.open(sqlite_path)
    try:
        relay = Relay(store, MemoryPublisher())
        with pytest.raises(SchemaMissingError, match="relaybox migrate"):
            await relay.drain()
        with pytest.raises(SchemaMissingError, match="relaybox migrate"):
            await relay.relay_batch()
    finally:
        await store.close()


async def test_a_newer_schema_says_to_upgrade_relaybox_not_to_migrate(sqlite_path: Path) -> None:
    store = SqliteStore.open(sqlite_path)
    await store.migrate()
    with sqlite3.connect(sqlite_path) as conn:
        conn.execute("INSERT INTO relaybox_outbox_migrations (version, name) VALUES (99, 'x')")
    try:
        for start in (Relay(store, MemoryPublisher()).drain, Relay(store, MemoryPublisher()).run):
            with pytest.raises(ConfigurationError, match="upgrade relaybox") as info:
                await start()
            assert "migrate" not in str(info.value)
    finally:
        await store.close()
