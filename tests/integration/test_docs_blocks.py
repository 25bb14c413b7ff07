"""Every code block of the README and the docs runs: Python against the real databases,
shell commands for real (or through ``--help`` where they would run until Ctrl-C),
configuration files through the settings loader, sample output against real output.

A block without a check here fails ``test_every_block_is_checked``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import types
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from docs_brokers import kafka_consume, kafka_relay, redis_and_nats
from docs_destinations import mqtt, rabbitmq, webhooks
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from docblocks import ROOT, Block, block, blocks, command_lines, run_python, swapped
from relaybox import Event, Outbox, PermanentError
from relaybox.cli import relaybox
from relaybox.service import load_settings
from relaybox.testing import wait_until

pytestmark = pytest.mark.integration

RELAYBOX = str(Path(sys.executable).with_name("relaybox"))


@dataclass
class Schema:
    """A PostgreSQL schema of its own, so the docs' fixed table names never collide."""

    name: str
    base: str

    @property
    def dsn(self) -> str:  # asyncpg passes unknown parameters as session settings
        return f"{self.base}?search_path={self.name}"

    @property
    def conninfo(self) -> str:
        return f"{self.base}?options=-csearch_path%3D{self.name}"


@pytest.fixture
async def schema(pg_dsn: str) -> AsyncIterator[Schema]:
    import asyncpg

    from relaybox.adapters.postgres import PostgresStore

    made = Schema(f"docs_{uuid.uuid4().hex[:10]}", pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    await conn.execute(f"CREATE SCHEMA {made.name}")
    store = await PostgresStore.connect(made.dsn)
    await store.migrate()
    await store.close()
    await conn.execute(
        f"CREATE TABLE {made.name}.orders (id int PRIMARY KEY, total int, status text)"
    )
    await conn.execute(f"INSERT INTO {made.name}.orders VALUES (42, 1999, 'new')")
    try:
        yield made
    finally:
        await conn.execute(f"DROP SCHEMA {made.name} CASCADE")
        await conn.close()


async def pending(dsn: str) -> list[tuple[str, bytes]]:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT topic, payload FROM relaybox_outbox ORDER BY id")
    finally:
        await conn.close()
    return [(r["topic"], bytes(r["payload"])) for r in rows]


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(relaybox, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def shell(command: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``command`` with this environment's relaybox first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        ["bash", "-ec", command],
        cwd=cwd,
        env={**os.environ, "PATH": path, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def help_covers(words: list[str]) -> None:
    """``relaybox SUB... --help`` works and documents every ``--flag`` the line shows."""
    assert words[0] == "relaybox"
    path = [w for w in words[1:3] if re.fullmatch(r"[a-z]+", w)]
    code, text = cli(*path, "--help")
    assert code == 0, text
    for flag in (w.split("=")[0] for w in words if w.startswith("--")):
        assert flag.strip("[]") in text, f"{flag} is not an option of relaybox {' '.join(path)}"


class FakeBroker:
    """What the docs call ``broker``: keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[object, ...]] = []

    async def send(self, topic: str, payload: bytes, **options: object) -> None:
        self.sent.append((topic, payload, options))

    async def publish(self, topic: str, payload: bytes) -> None:
        self.sent.append((topic, payload))


class Base(DeclarativeBase):
    pass


class Order(Base):
    """What the docs call "your mapped class"."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    total: Mapped[int]
    status: Mapped[str]


def mapped_order() -> type:
    return Order


# -- README ----------------------------------------------------------------------------------


async def readme_setup(found: Block, tmp_path: Path, **_: object) -> None:
    for words in command_lines(found):
        script = ROOT / words[0]
        assert os.access(script, os.X_OK), f"{words[0]} is not an executable script"
    shell("./scripts/demo --help", ROOT)  # ./scripts/demo itself runs in test_demo.py
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()


async def readme_install(found: Block, tmp_path: Path, **_: object) -> None:
    install, run = command_lines(found)
    assert install[:5] == ["python", "-m", "pip", "install", "-e"]
    # The editable install of this very checkout is what the tests run on; its command exists:
    assert "relaybox" in shell(f"{' '.join(run)} | head -1", tmp_path)
    assert (ROOT / "pyproject.toml").read_text().count("postgres = [") == 1


async def readme_bench(found: Block, tmp_path: Path, **_: object) -> None:
    lines = command_lines(found)
    assert [words[:2] for words in lines][:2] == [
        ["./scripts/bench"],
        ["./scripts/bench", "--quick"],
    ]
    assert "--quick)" in (ROOT / "scripts" / "bench").read_text()
    shell(" ".join(lines[2]), ROOT)  # ./scripts/bench outbox --help


async def readme_migrate(found: Block, tmp_path: Path, schema: Schema, **_: object) -> None:
    code = swapped(found.code, {"postgresql://app@localhost:5432/shop ": f"'{schema.dsn}' "})
    assert "nothing to do" in shell(code, tmp_path)  # the fixture migrated it already


async def readme_asyncpg(found: Block, schema: Schema, **_: object) -> None:
    import asyncpg

    namespace: dict[str, object] = {}
    await run_python(found, namespace)
    async with asyncpg.create_pool(schema.dsn) as pool:
        await namespace["place_order"](pool, 7, 700)  # type: ignore[operator]
    assert await pending(schema.dsn) == [("orders", b'{"order_id":7,"total":700}')]


async def readme_alchemy(found: Block, schema: Schema, **_: object) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(
        schema.base.replace("postgresql://", "postgresql+asyncpg://"),
        connect_args={"server_settings": {"search_path": schema.name}},
    )
    namespace = {"Order": mapped_order(), "outbox": Outbox(), "Event": Event}
    await run_python(found, namespace)
    try:
        await namespace["pay_order"](engine, 42)  # type: ignore[operator]
    finally:
        await engine.dispose()
    assert await pending(schema.dsn) == [("orders", b'{"order_id":42}')]


async def commands_have_help(found: Block, **_: object) -> None:
    for words in command_lines(found):
        help_covers(words)


async def serve_until_delivered(found: Block, schema: Schema, url: str) -> None:
    broker = FakeBroker()
    namespace: dict[str, object] = {"broker": broker}
    await run_python(found, namespace, swapped(found.code, {url: schema.dsn}))
    import asyncpg

    conn = await asyncpg.connect(schema.dsn)
    try:
        async with conn.transaction():
            await Outbox().add_async(conn, Event("orders", {"n": 1}, key="order-1"))
    finally:
        await conn.close()
    main = asyncio.create_task(namespace["main"]())  # type: ignore[operator]
    try:
        await wait_until(lambda: len(broker.sent) == 1, within=10)
    finally:
        main.cancel()
        await asyncio.gather(main, return_exceptions=True)
    assert broker.sent[0][:2] == ("orders", b'{"n":1}')


async def readme_serve(found: Block, schema: Schema, **_: object) -> None:
    await serve_until_delivered(found, schema, "postgresql://app@localhost:5432/shop")


async def readme_pipeline(found: Block, tmp_path: Path, **_: object) -> None:
    """Runs as written, in a process of its own, until SIGINT stops it gracefully."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", found.code, cwd=tmp_path, stdout=asyncio.subprocess.PIPE
    )
    try:

        def all_sent() -> bool:
            if not (tmp_path / "app.db").exists():
                return False
            with sqlite3.connect(tmp_path / "app.db") as db:
                try:
                    rows = db.execute("SELECT count(*), sum(sent) FROM mail").fetchone()
                except sqlite3.OperationalError:
                    return False
            return bool(rows[0]) and rows[0] == rows[1]

        await wait_until(all_sent, within=30)
        process.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert out.decode().splitlines() == ["sending hello", "sending world"]


async def readme_resilience(found: Block, **_: object) -> None:
    sent: list[object] = []
    marked: list[object] = []

    async def send(record: object) -> None:
        sent.append(record)

    records = [types.SimpleNamespace(topic="orders", n=n) for n in range(3)]
    namespace = {"send": send, "fetch": lambda limit: records, "mark": marked.extend}
    await run_python(found, namespace)
    result = await namespace["coordinator"].run_once()  # type: ignore[attr-defined]
    assert (result.delivered, sent, marked) == (3, records, records)
    assert namespace["letters"] == []


async def readme_streams(found: Block, **_: object) -> None:
    import relaybox

    queue: asyncio.Queue[object] = asyncio.Queue()
    applied: list[object] = []

    async def apply(record: object) -> None:
        applied.append(record)

    namespace = {"relaybox": relaybox, "queue": queue, "applier": relaybox.process(apply)}
    await run_python(found, namespace)
    coordinator = namespace["coordinator"]
    running = asyncio.create_task(coordinator.run())  # type: ignore[attr-defined]
    for n in range(3):
        await queue.put(types.SimpleNamespace(user_id=n % 2, n=n))
    await wait_until(lambda: len(applied) == 3, within=10)
    await coordinator.stop()  # type: ignore[attr-defined]
    await running


# -- docs/outbox.md --------------------------------------------------------------------------


async def outbox_migrate(found: Block, tmp_path: Path, schema: Schema, **_: object) -> None:
    code = swapped(
        found.code,
        {
            "postgresql://app@db.internal:5432/shop": f"'{schema.dsn}'",
            "sqlite:////var/lib/shop/shop.db": f"sqlite:///{tmp_path}/abs.db",
        },
    )
    shell(code, tmp_path)
    assert (tmp_path / "abs.db").is_file()
    assert (tmp_path / "shop.db").is_file()  # sqlite:///shop.db: in the working directory


async def migrate_sql(found: Block, tmp_path: Path, **_: object) -> None:
    shell(found.code, tmp_path)
    assert "CREATE TABLE relaybox_outbox (" in (tmp_path / "relaybox_outbox.sql").read_text()


async def applied_by_a_migration_tool(
    found: Block, tmp_path: Path, schema: Schema, module: str, **_: object
) -> None:
    """Alembic's ``op.execute`` and Django's ``RunSQL`` stand in: the SQL they get is run."""
    import asyncpg

    shell(block("docs/outbox.md: " + MIGRATE_SQL[:40]).code, tmp_path)
    executed: list[str] = []
    stubs = {
        "alembic": types.SimpleNamespace(op=types.SimpleNamespace(execute=executed.append)),
        "django.db": types.SimpleNamespace(
            migrations=types.SimpleNamespace(
                Migration=object, RunSQL=lambda sql: executed.append(sql) or sql
            )
        ),
    }
    # The migration module sits next to the script, as the docs say to keep it.
    namespace: dict[str, object] = {"__file__": str(tmp_path / "0042_relaybox_outbox.py")}
    saved = {name: sys.modules.get(name) for name in ("alembic", "django", "django.db")}
    sys.modules["alembic"] = stubs["alembic"]  # type: ignore[assignment]
    sys.modules["django"] = types.SimpleNamespace(db=stubs["django.db"])  # type: ignore[assignment]
    sys.modules["django.db"] = stubs["django.db"]  # type: ignore[assignment]
    try:
        await run_python(found, namespace)
    finally:
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value
    if module == "alembic":
        namespace["upgrade"]()  # type: ignore[operator]
    (sql,) = executed
    conn = await asyncpg.connect(schema.base)
    try:
        await conn.execute(f"CREATE SCHEMA {schema.name}_tool")
        async with conn.transaction():
            await conn.execute(f"SET LOCAL search_path = {schema.name}_tool")
            await conn.execute(sql)
        url = f"{schema.base}?search_path={schema.name}_tool"
        code, text = await asyncio.to_thread(cli, "check", "--db", url)
    finally:
        await conn.execute(f"DROP SCHEMA {schema.name}_tool CASCADE")
        await conn.close()
    assert (code, text.strip()) == (0, "ready (schema v3)")


async def the_event(found: Block, **_: object) -> None:
    namespace: dict[str, object] = {}
    await run_python(found, namespace)


async def encoder_example(found: Block, **_: object) -> None:
    from relaybox.outbox.encoding import encode

    namespace: dict[str, object] = {}
    await run_python(found, namespace)
    outbox = namespace["outbox"]
    row = encode(namespace["placed"], encoder=outbox.encoder)  # type: ignore[arg-type, attr-defined]
    payload = json.loads(row.payload)
    assert (payload["order_id"], payload["total"]) == (42, "19.99")
    assert row.content_type == "application/json"


async def outbox_asyncpg(found: Block, schema: Schema, **_: object) -> None:
    import asyncpg

    namespace: dict[str, object] = {}
    await run_python(found, namespace)
    async with asyncpg.create_pool(schema.dsn) as pool:
        await namespace["place_order"](pool, 8, 800)  # type: ignore[operator]
    assert await pending(schema.dsn) == [("orders", b'{"order_id":8}')]


async def outbox_psycopg(found: Block, schema: Schema, **_: object) -> None:
    namespace: dict[str, object] = {"DSN": schema.conninfo, "outbox": Outbox(), "Event": Event}
    await run_python(found, namespace)
    assert [topic for topic, _ in await pending(schema.dsn)] == ["orders", "orders"]


async def outbox_alchemy(found: Block, schema: Schema, **_: object) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(f"{schema.conninfo.replace('postgresql://', 'postgresql+psycopg://')}")
    namespace: dict[str, object] = {"engine": engine, "outbox": Outbox(), "Event": Event}
    try:
        await run_python(found, namespace)
    finally:
        engine.dispose()
    assert len(await pending(schema.dsn)) == 2


async def outbox_async_alchemy(found: Block, schema: Schema, **_: object) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(
        schema.base.replace("postgresql://", "postgresql+asyncpg://"),
        connect_args={"server_settings": {"search_path": schema.name}},
    )
    namespace = {
        "async_engine": engine,
        "Order": mapped_order(),
        "outbox": Outbox(),
        "Event": Event,
    }
    try:
        await run_python(found, namespace)
    finally:
        await engine.dispose()
    assert len(await pending(schema.dsn)) == 1


async def outbox_sqlite(found: Block, tmp_path: Path, **_: object) -> None:
    from relaybox.adapters.sqlite import SqliteStore

    path = tmp_path / "shop.db"
    store = SqliteStore.open(path)
    await store.migrate()
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT)")
        db.execute("INSERT INTO orders VALUES (42, 'paid')")
    namespace: dict[str, object] = {"outbox": Outbox(), "Event": Event}
    await run_python(found, namespace, swapped(found.code, {"/var/lib/shop/shop.db": str(path)}))
    assert (await store.status()).pending == 1
    await store.close()


async def outbox_wake(found: Block, schema: Schema, **_: object) -> None:
    import asyncpg

    from relaybox import Relay
    from relaybox.adapters.postgres import PostgresStore
    from relaybox.testing import MemoryPublisher

    store = await PostgresStore.connect(schema.dsn)
    publisher = MemoryPublisher()
    relay = Relay(store, publisher)
    running = asyncio.create_task(relay.run())
    try:
        async with asyncpg.create_pool(schema.dsn) as pool:
            namespace = {
                "pool": pool,
                "outbox": Outbox(),
                "event": Event("orders", {}),
                "relay": relay,
            }
            await run_python(found, namespace)
        await wait_until(lambda: len(publisher.published) == 1, within=10)
    finally:
        await relay.stop()
        await running
        await store.close()


async def outbox_notify(found: Block, schema: Schema, **_: object) -> None:
    import asyncpg

    async with asyncpg.create_pool(schema.dsn) as pool:
        await run_python(found, {"pool": pool, "outbox": Outbox(), "event": Event("orders", {})})
    assert len(await pending(schema.dsn)) == 1


async def once_output(found: Block, tmp_path: Path, schema: Schema, **_: object) -> None:
    pattern = re.escape(found.code.strip())
    pattern = re.sub(r"\d+", r"\\d+", pattern)
    to = f"file:{tmp_path}/e.jsonl"
    code, text = await asyncio.to_thread(cli, "relay", "--once", "--db", schema.dsn, "--to", to)
    assert code == 0, text
    assert re.fullmatch(pattern, text.strip()), text


async def config_toml(found: Block, tmp_path: Path, **_: object) -> None:
    path = tmp_path / "relaybox.toml"
    path.write_text(found.code)
    settings = load_settings(config=path, environ={})
    assert (settings.batch_size, settings.max_attempts, settings.backoff_max) == (500, 20, 1800.0)
    assert settings.dead_retention == 14 * 86400


async def config_commands(found: Block, tmp_path: Path, **_: object) -> None:
    toml = tmp_path / "relaybox.toml"
    toml.write_text(block("docs/outbox.md: # /etc/shop/relaybox.toml").code)
    show, relay = found.code.strip().splitlines()
    out = shell(swapped(show, {"/etc/shop/relaybox.toml": str(toml)}), tmp_path)
    assert re.search(r"owner\s+relay-1\s+variable RELAYBOX_OWNER", out), out
    assert re.search(r"batch_size\s+500\s+config file", out), out
    help_covers(relay.split()[2:])


async def pyproject_toml(found: Block, tmp_path: Path, **_: object) -> None:
    (tmp_path / "pyproject.toml").write_text(found.code)
    out = shell("relaybox config --json", tmp_path)
    rows = {row["key"]: row for row in map(json.loads, out.splitlines())}
    assert rows["db"] == {
        "key": "db",
        "value": "sqlite:///var/shop.db",
        "source": "[tool.relaybox] in pyproject.toml",
    }


async def outbox_serve(found: Block, schema: Schema, **_: object) -> None:
    await serve_until_delivered(found, schema, "postgresql://relay@db.internal:5432/shop")


async def webhook(found: Block, **_: object) -> None:
    answers = {"/ok": 200, "/refused": 404}

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(answers[self.path])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for path, delivered in (("/ok", True), ("/refused", False)):
            url = f"http://127.0.0.1:{server.server_port}{path}"
            namespace: dict[str, object] = {}
            code = swapped(found.code, {"https://hooks.example.com/orders": url})
            await run_python(found, namespace, code)
            from relaybox.testing.messages import message

            outcome = await namespace["publisher"].publish([message(1)])  # type: ignore[attr-defined]
            assert len(outcome.delivered) == int(delivered)
            if not delivered:
                assert isinstance(outcome.failed[0].error, PermanentError)
    finally:
        server.shutdown()
        server.server_close()


async def status_sample(found: Block, **_: object) -> None:
    from relaybox.cli.overview import snapshot_view
    from relaybox.cli.render import console
    from relaybox.ports.insight import FailingEvent, TopicCounts
    from relaybox.ports.store import Status
    from relaybox.service.snapshots import Snapshot

    shot = Snapshot(
        Status(2, 0, 1, 1, 0, 3.6),
        (FailingEvent("0193", "mail", None, 1, None, "TemporaryError: smtp said 451"),),
        (TopicCounts("mail", 1, 1, 0),),
    )
    screen = console()
    with screen.capture() as captured:
        screen.print(snapshot_view(shot))
    real = {line.split()[0] for line in captured.get().splitlines() if line.strip()}
    shown = {line.split()[0] for line in found.code.splitlines()[1:] if line.strip()}
    assert shown - {"0193a7c2-5d1e-7b40-9c1a-2f4e8d6b1a90", "audit", "orders"} <= real | {"mail"}


async def synopses(found: Block, **_: object) -> None:
    for line in found.code.splitlines():
        words = line.split("#")[0].replace("[", " ").replace("]", " ").split()
        help_covers(words)


async def written_test(found: Block, tmp_path: Path, **_: object) -> None:
    namespace: dict[str, object] = {}
    await run_python(found, namespace)
    await namespace["test_a_placed_order_publishes_order_placed"](tmp_path)  # type: ignore[operator]


# -- docs/architecture.md --------------------------------------------------------------------


async def layers_diagram(found: Block, **_: object) -> None:
    declared = (ROOT / ".importlinter").read_text()
    for line in found.code.splitlines():
        if line.startswith("relaybox."):
            assert f"    {line.split()[0]}" in declared


async def contract(found: Block, **_: object) -> None:
    from collections.abc import Sequence
    from dataclasses import dataclass, fields
    from typing import Generic, Protocol, TypeVar

    from relaybox.core.outcome import Failure, Outcome

    namespace = {
        "Protocol": Protocol,
        "Generic": Generic,
        "Sequence": Sequence,
        "T": TypeVar("T"),
        "dataclass": dataclass,
        "Failure": Failure,
    }
    await run_python(found, namespace)
    assert [f.name for f in fields(namespace["Outcome"])] == [f.name for f in fields(Outcome)]


async def flow_diagram(found: Block, **_: object) -> None:
    operate = next(line for line in found.code.splitlines() if line.startswith("operate"))
    for command in ("status", "dead list", "dead show", "keys parked", "keys unpark"):
        assert cli(*command.split(), "--help")[0] == 0
    assert "replay / purge" in operate


MIGRATE_SQL = (
    "relaybox migrate --sql --dialect postgresql --table relaybox_outbox > relaybox_outbox.sql"
)
Check = Callable[..., Awaitable[None]]
CHECKS: dict[str, tuple[Check, dict[str, object]]] = {
    "README.md: ./scripts/demo    # the embedded demo: a": (
        readme_setup,
        {},
    ),
    'README.md: python -m pip install -e ".[postgres]"': (
        readme_install,
        {},
    ),
    "README.md: ./scripts/bench            # pipeline, o": (
        readme_bench,
        {},
    ),
    "README.md: export RELAYBOX_DB=postgresql://app@loca": (
        readme_migrate,
        {},
    ),
    "README.md: import asyncpg": (readme_asyncpg, {}),
    "README.md: from sqlalchemy.ext.asyncio import Async": (readme_alchemy, {}),
    "README.md: relaybox relay --to file:///var/lib/shop": (
        commands_have_help,
        {},
    ),
    "README.md: import relaybox": (readme_serve, {}),
    "README.md: import sqlite3": (readme_pipeline, {}),
    "README.md: from relaybox import PollingCoordinator,": (
        readme_resilience,
        {},
    ),
    "README.md: coordinator = relaybox.StreamingCoordina": (readme_streams, {}),
    "docs/outbox.md: relaybox migrate --db postgresql://app@d": (
        outbox_migrate,
        {},
    ),
    "docs/outbox.md: " + MIGRATE_SQL[:40]: (migrate_sql, {}),
    "docs/outbox.md: # migrations/versions/0042_relaybox_outb": (
        applied_by_a_migration_tool,
        {"module": "alembic"},
    ),
    "docs/outbox.md: # shop/migrations/0042_relaybox_outbox.p": (
        applied_by_a_migration_tool,
        {"module": "django"},
    ),
    "docs/outbox.md: from datetime import UTC, datetime": (the_event, {}),
    "docs/outbox.md: from dataclasses import dataclass": (encoder_example, {}),
    "docs/outbox.md: import asyncpg": (outbox_asyncpg, {}),
    "docs/outbox.md: import psycopg": (outbox_psycopg, {}),
    "docs/outbox.md: from sqlalchemy import text": (outbox_alchemy, {}),
    "docs/outbox.md: from sqlalchemy.ext.asyncio import Async": (outbox_async_alchemy, {}),
    "docs/outbox.md: import sqlite3": (outbox_sqlite, {}),
    "docs/outbox.md: import aiosqlite": (outbox_sqlite, {}),
    "docs/outbox.md: import sqlite3 (2)": (written_test, {}),
    "docs/outbox.md: async with pool.acquire() as conn:": (outbox_wake, {}),
    "docs/outbox.md: async with pool.acquire() as conn: (2)": (outbox_notify, {}),
    "docs/outbox.md: relaybox relay --db postgresql://app@db.": (
        commands_have_help,
        {},
    ),
    "docs/outbox.md: relayed 657 events: delivered 657, retri": (
        once_output,
        {},
    ),
    "docs/outbox.md: # /etc/shop/relaybox.toml": (config_toml, {}),
    "docs/outbox.md: RELAYBOX_CONFIG=/etc/shop/relaybox.toml": (
        config_commands,
        {},
    ),
    "docs/outbox.md: [tool.relaybox]": (pyproject_toml, {}),
    "docs/outbox.md: import relaybox": (outbox_serve, {}),
    "docs/outbox.md: import urllib.error": (webhook, {}),
    "docs/outbox.md: $ relaybox status": (status_sample, {}),
    "docs/outbox.md: relaybox dead list [--topic T] [--key K]": (
        synopses,
        {},
    ),
    "docs/outbox.md: relaybox keys parked [--limit 50] [--jso": (
        synopses,
        {},
    ),
    "docs/architecture.md: relaybox.cli        thin command line: p": (
        layers_diagram,
        {},
    ),
    "docs/architecture.md: class Applier(Protocol[T]):": (contract, {}),
    "docs/architecture.md: write    app transaction: UPDATE orders": (
        flow_diagram,
        {},
    ),
    "docs/brokers.md: relaybox relay --to 'redis://app@cache:6": (redis_and_nats, {}),
    "docs/kafka.md: relaybox relay --db postgresql://... --t": (kafka_relay, {}),
    "docs/kafka.md: from relaybox import StreamingCoordinato": (kafka_consume, {}),
    "docs/rabbitmq-mqtt-webhooks.md: relaybox relay --to 'amqp://app@rabbit:5": (rabbitmq, {}),
    "docs/rabbitmq-mqtt-webhooks.md: relaybox relay --to 'mqtt://relay@broker": (mqtt, {}),
    "docs/rabbitmq-mqtt-webhooks.md: export RELAYBOX_WEBHOOK_SECRET='whsec_..": (webhooks, {}),
}


def test_every_block_is_checked() -> None:
    assert sorted(b.name for b in blocks()) == sorted(CHECKS)


def _needs_schema(name: str) -> bool:
    return "schema" in inspect.signature(CHECKS[name][0]).parameters


ON_SERVER = sorted(name for name in CHECKS if _needs_schema(name))
LOCAL = sorted(name for name in CHECKS if not _needs_schema(name))


@pytest.mark.parametrize("name", LOCAL)
async def test_block_runs(name: str, tmp_path: Path) -> None:
    check, options = CHECKS[name]
    await check(block(name), tmp_path=tmp_path, **options)


@pytest.mark.parametrize("name", ON_SERVER)
async def test_block_runs_on_postgresql(name: str, tmp_path: Path, schema: Schema) -> None:
    check, options = CHECKS[name]
    await check(block(name), tmp_path=tmp_path, schema=schema, **options)
