"""The examples in examples/ run and print what they promise."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "examples"


def run(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cron_run_once_reports_the_permanent_failure_and_exits_one() -> None:
    result = run("cron_run_once.py")
    assert result.returncode == 1
    assert "delivered=2 failed=1" in result.stdout
    assert "not an email address" in result.stdout


def test_resilient_sync_dead_letters_only_the_malformed_records() -> None:
    result = run("resilient_sync.py")
    assert result.returncode == 0, result.stderr
    assert "delivered=196 dead-lettered=4 marked=200" in result.stdout


def test_stream_per_key_order_keeps_order_at_both_destinations() -> None:
    result = run("stream_per_key_order.py")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("60 events, per-account order kept: True") == 2


def test_outbox_sqlite_delivers_committed_events_in_order_and_nothing_rolled_back() -> None:
    result = run("outbox_sqlite.py")
    assert result.returncode == 0, result.stderr
    assert "delivered: o-1 Placed, o-1 Confirmed, o-3 Placed, o-3 Confirmed" in result.stdout
    assert "retried=1 dead=0" in result.stdout


def test_outbox_to_webhook_delivers_committed_events_with_verified_signatures() -> None:
    result = run("outbox_to_webhook.py")
    assert result.returncode == 0, result.stderr
    assert "o-1: Placed, Confirmed\no-3: Placed, Confirmed\n" in result.stdout
    assert "verified=4 refused=1" in result.stdout
