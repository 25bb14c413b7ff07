"""examples/outbox_to_kafka.py runs against PostgreSQL and a real broker (tansu)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kafka_broker import Tansu, tansu

pytestmark = pytest.mark.integration
__all__ = ["tansu"]

EXAMPLE = Path(__file__).parents[2] / "examples" / "outbox_to_kafka.py"


def test_outbox_to_kafka_relays_only_committed_orders(tansu: Tansu, pg_dsn: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KAFKA_BOOTSTRAP": tansu.bootstrap, "DATABASE_URL": pg_dsn},
    )
    assert result.returncode == 0, result.stderr
    assert "{'id': 'o-2', 'error': 'total must be positive'}" in result.stdout
    assert "relayed 2 events to orders-" in result.stdout
    assert "consumed: o-1 OrderPlaced {'id': 'o-1', 'total': 1999}" in result.stdout
    assert "consumed: o-3 OrderPlaced {'id': 'o-3', 'total': 7250}" in result.stdout
    assert "o-2 OrderPlaced" not in result.stdout
