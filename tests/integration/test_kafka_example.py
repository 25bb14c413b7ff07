"""The Kafka examples run against real services: a tansu broker, PostgreSQL and Redis."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer
from kafka_broker import Tansu, tansu, unique
from redis import Redis

from brokers import REDIS_HOST, REDIS_PORT, REDIS_URL

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


TO_REDIS = Path(__file__).parents[2] / "examples" / "kafka_to_redis.py"


def test_kafka_to_redis_writes_every_message_once_in_per_key_order(tansu: Tansu) -> None:
    topic, stream = unique("payments"), unique("payments")
    tansu.create_topic(topic, partitions=3)
    producer = Producer({"bootstrap.servers": tansu.bootstrap})
    accounts = [f"acct-{n}" for n in range(5)]
    for seq in range(20):
        for account in accounts:
            producer.produce(topic, key=account, value=f"{account}:{seq}".encode())
    assert producer.flush(10) == 0
    redis = Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        result = subprocess.run(
            [sys.executable, str(TO_REDIS), "--count", "100", "--idle", "20"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **os.environ,
                "KAFKA_BOOTSTRAP": tansu.bootstrap,
                "REDIS_URL": REDIS_URL,
                "TOPIC": topic,
                "GROUP": unique("to-redis"),
                "STREAM": stream,
            },
        )
        assert result.returncode == 0, result.stderr
        assert f"wrote 100 to {stream}, dead-lettered 0" in result.stdout
        entries = [fields for _, fields in redis.xrange(stream)]
    finally:
        redis.delete(stream)
        redis.close()
    seen: dict[str, list[int]] = {account: [] for account in accounts}
    for fields in entries:
        account, seq = fields[b"payload"].decode().split(":")
        assert fields[b"key"].decode() == account
        seen[account].append(int(seq))
    assert seen == {account: list(range(20)) for account in accounts}
