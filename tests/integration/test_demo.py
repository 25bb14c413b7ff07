"""The embedded demo: a shop on SQLite, a relay through injected failures, and its audit.

The checks here read the published file, the dead letters and the orders
table themselves rather than trusting the demo's own audit.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from rich.console import Console

from relaybox.core.errors import ConfigurationError
from relaybox.demo import DemoSummary, run_demo
from relaybox.demo.audit import Sighting, mismatched_orders
from relaybox.demo.report import command_name
from relaybox.outbox.tables import Tables

pytestmark = pytest.mark.integration

STAGE_TYPES = ["OrderPlaced", "OrderPaid", "OrderShipped"]
STATUS_STAGES = {"placed": 1, "paid": 2, "shipped": 3}


@dataclass(frozen=True)
class Run:
    summary: DemoSummary
    output: str
    published: list[dict[str, object]]
    dead: list[tuple[str, str, str]]  # event_id, key, type
    statuses: dict[str, str]


def quiet() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=120), buffer


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One small seeded run, failure rates raised so that retries and dead letters surely happen."""
    database = tmp_path_factory.mktemp("demo") / "shop.db"
    console, buffer = quiet()
    summary = run_demo(
        database, orders=300, writers=3, fail_rate=0.2, dead_rate=0.03, seed=11, console=console
    )
    with summary.published_file.open(encoding="utf-8") as lines:
        published = [json.loads(line) for line in lines]
    conn = sqlite3.connect(database)
    try:
        dead = conn.execute(f"SELECT event_id, key, type FROM {Tables().dead}").fetchall()
        statuses = {f"order-{i:05d}": s for i, s in conn.execute("SELECT id, status FROM orders")}
    finally:
        conn.close()
    return Run(summary, buffer.getvalue(), published, dead, statuses)


def test_every_committed_event_is_delivered_or_dead_lettered_exactly_once(demo: Run) -> None:
    ids = [str(line["id"]) for line in demo.published] + [row[0] for row in demo.dead]
    assert demo.summary.ok
    assert len(ids) == len(set(ids)) == demo.summary.committed
    assert demo.summary.delivered + demo.summary.dead == demo.summary.committed
    assert demo.summary.duplicates == demo.summary.missing == demo.summary.pending == 0


def test_no_event_of_a_rolled_back_transaction_is_published(demo: Run) -> None:
    # Read from the orders table alone: a leaked placement would name an order
    # that does not exist, a leaked payment or shipment would be a second copy.
    types: dict[str, Counter[str]] = {}
    for key, kind in [(str(line["key"]), str(line["type"])) for line in demo.published] + [
        (row[1], row[2]) for row in demo.dead
    ]:
        types.setdefault(key, Counter())[kind] += 1
    assert set(types) == set(demo.statuses)
    for key, status in demo.statuses.items():
        assert types[key] == Counter(STAGE_TYPES[: STATUS_STAGES[status]]), key
    assert demo.summary.rolled_back > 0
    assert demo.summary.leaked == 0


def test_each_orders_events_are_published_in_sequence_order(demo: Run) -> None:
    by_key: dict[str, list[tuple[int, str]]] = {}
    for line in demo.published:
        by_key.setdefault(str(line["key"]), []).append((int(str(line["seq"])), str(line["type"])))
    for key, events in by_key.items():
        seqs = [seq for seq, _ in events]
        assert seqs == sorted(set(seqs)), key
        stages = [STAGE_TYPES.index(kind) for _, kind in events]
        assert stages == sorted(stages), key
    assert demo.summary.out_of_order == 0


def test_the_injected_failures_are_retried_and_dead_lettered(demo: Run) -> None:
    assert demo.summary.timeouts > 0
    assert demo.summary.retries > 0
    assert demo.summary.rejections > 0
    assert demo.summary.dead == len(demo.dead) > 0
    errors = [note.error for note in demo.summary.dead_letters]
    assert all(error.startswith(("BrokerRejection", "BrokerTimeout")) for error in errors)


def test_the_report_marks_each_check_and_names_the_files_and_next_commands(demo: Run) -> None:
    url = f"sqlite:///{demo.summary.database}"
    program = command_name()  # run in process here: `python -m relaybox`
    assert demo.output.count("✔") == len(demo.summary.checks)
    assert "✘" not in demo.output
    assert "ALL CHECKS PASSED" in demo.output
    assert str(demo.summary.published_file) in demo.output
    assert f"{program} status --db {url}" in demo.output
    assert f"{program} dead list --db {url}" in demo.output
    assert "schema registry said no" in demo.output  # a dead letter with its error


def test_the_audit_fails_the_run_on_a_duplicate_a_leak_or_an_order_break(demo: Run) -> None:
    assert not replace(demo.summary, duplicates=1).ok
    assert not replace(demo.summary, missing=1).ok
    assert not replace(demo.summary, leaked=1).ok
    assert not replace(demo.summary, out_of_order=1).ok
    statuses = {"order-00001": "paid"}
    placed = Sighting("a", "order-00001", 1, "OrderPlaced")
    paid = Sighting("b", "order-00001", 2, "OrderPaid")
    assert mismatched_orders(statuses, [placed, paid]) == 0
    assert mismatched_orders(statuses, [placed]) == 1  # lost
    assert mismatched_orders(statuses, [placed, paid, paid]) == 1  # doubled
    assert mismatched_orders(statuses, [placed, paid, replace(placed, key="order-00002")]) == 1


def test_a_rerun_on_the_same_path_starts_afresh(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    first = run_demo(database, orders=30, writers=2, seed=1, console=quiet()[0])
    second = run_demo(database, orders=40, writers=2, seed=2, console=quiet()[0])
    assert first.ok
    assert second.ok
    with second.published_file.open(encoding="utf-8") as lines:
        assert sum(1 for _ in lines) == second.delivered


def test_an_existing_file_that_is_not_a_demo_database_is_left_alone(tmp_path: Path) -> None:
    precious = tmp_path / "precious.db"
    precious.write_text("not yours")
    with pytest.raises(ConfigurationError, match="not a relaybox demo database"):
        run_demo(precious, orders=10, console=quiet()[0])
    assert precious.read_text() == "not yours"


def test_bad_options_are_refused_before_any_file_is_written(tmp_path: Path) -> None:
    for bad in (
        {"orders": 0},
        {"writers": 0},
        {"fail_rate": 1.5},
        {"fail_rate": 0.6, "dead_rate": 0.5},
    ):
        with pytest.raises(ConfigurationError):
            run_demo(tmp_path / "shop.db", console=quiet()[0], **bad)
    assert list(tmp_path.iterdir()) == []


def test_on_a_terminal_the_progress_is_a_live_table(tmp_path: Path) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, force_interactive=True, width=120)
    summary = run_demo(tmp_path / "shop.db", orders=20, writers=2, seed=3, console=console)
    assert summary.ok
    assert "┃" in buffer.getvalue()  # the table's header row
    assert "ALL CHECKS PASSED" in buffer.getvalue()


def relaybox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "relaybox", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_demo_command_exits_zero_when_every_check_passes(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    result = relaybox("demo", "--db", f"sqlite:///{database}", "--orders", "300", "--seed", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ALL CHECKS PASSED" in result.stdout
    assert "pending 0" in result.stdout  # the plain progress lines, no terminal here
    assert database.exists()
    # The injected failures are the report's to tell, not one log line per event.
    assert "failed on attempt" not in result.stderr
    assert "is a dead letter" not in result.stderr


def test_the_demo_shows_the_relays_per_event_lines_when_asked(tmp_path: Path) -> None:
    database = tmp_path / "shop.db"
    result = relaybox("-v", "demo", "--db", f"sqlite:///{database}", "--orders", "300")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed on attempt" in result.stderr


def test_the_demo_command_exits_two_on_a_bad_option() -> None:
    result = relaybox("demo", "--orders", "0")
    assert result.returncode == 2
    assert "orders must be an int within 1..1000000" in result.stderr


def test_the_try_next_commands_work_as_printed_from_another_folder(tmp_path: Path) -> None:
    """As after ./scripts/demo: .venv/bin is not on PATH, and the shell is elsewhere."""
    venv_bin = Path(sys.executable).parent
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != venv_bin)
    env = {**os.environ, "PATH": path}
    demo = subprocess.run(
        [
            str(venv_bin / "relaybox"),
            "demo",
            "--db",
            f"sqlite:///{tmp_path / 'shop.db'}",
            "--orders",
            "60",
            "--writers",
            "2",
            "--seed",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=env,
    )
    lines = demo.stdout.split("try next:")[1].strip().splitlines()
    assert len(lines) == 4
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for line in lines:
        ran = subprocess.run(
            ["bash", "-c", line.strip()],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, f"{line}: {ran.stdout}{ran.stderr}"
