"""The real brokers the broker tests talk to, and stopping and starting them for outage tests.

A broker is stopped the way an operator would see it go away (``redis-cli
shutdown nosave``; SIGTERM to the nats-server listening on the port) and
started with the same command as ``scripts/services``; ``start`` returns once
the port answers again.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import time

REDIS_HOST, REDIS_PORT = "127.0.0.1", int(os.environ.get("RELAYBOX_TEST_REDIS_PORT", "6379"))
NATS_HOST, NATS_PORT = "127.0.0.1", int(os.environ.get("RELAYBOX_TEST_NATS_PORT", "4222"))
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
NATS_URL = f"nats://{NATS_HOST}:{NATS_PORT}"
REDIS_START = (
    "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port {port} --save '' "
    "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)
NATS_START = (
    "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
    "-a 127.0.0.1 -p {port} -js -sd /var/lib/nats-server -l /var/log/nats-server.log"
)


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


async def _until(wanted: bool, host: str, port: int, what: str, within: float = 30.0) -> None:
    """Poll until ``host:port`` answers (or stops answering, ``wanted=False``)."""
    deadline = time.monotonic() + within
    while answers(host, port) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} after {within} s")
        await asyncio.sleep(0.05)


async def _run(command: str, *, check: bool = True) -> None:
    process = await asyncio.create_subprocess_shell(
        command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    code = await process.wait()
    if check and code != 0:
        raise AssertionError(f"{command!r} exited with {code}")


async def stop_redis() -> None:
    await _run(f"redis-cli -p {REDIS_PORT} shutdown nosave", check=False)
    await _until(False, REDIS_HOST, REDIS_PORT, "Redis still answers")


async def start_redis() -> None:
    if not answers(REDIS_HOST, REDIS_PORT):
        await _run(REDIS_START.format(port=REDIS_PORT))
    await _until(True, REDIS_HOST, REDIS_PORT, "Redis does not answer")


def _nats_pid() -> int | None:
    """The pid of the nats-server listening on our port (and only that process)."""
    listing = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        if f":{NATS_PORT} " in line and "nats-server" in line:
            found = re.search(r"pid=(\d+)", line)
            return int(found.group(1)) if found else None
    return None


async def stop_nats() -> None:
    pid = _nats_pid()
    if pid is not None:
        os.kill(pid, signal.SIGTERM)  # a graceful stop: JetStream flushes what it acknowledged
    await _until(False, NATS_HOST, NATS_PORT, "NATS still answers")


async def start_nats() -> None:
    if not answers(NATS_HOST, NATS_PORT):
        await _run(NATS_START.format(port=NATS_PORT))
    await _until(True, NATS_HOST, NATS_PORT, "NATS does not answer")
