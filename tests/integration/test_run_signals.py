"""relaybox.run() in a real process: SIGINT stops it gracefully, settling the batch in flight."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    import relaybox.pipeline.runner as runner
    from relaybox.pipeline.convenience import sync

    counter = iter(range(10**9))
    marked = []

    def fetch(limit):
        return [next(counter) for _ in range(3)]

    async def handle(record):
        await asyncio.sleep(0.01)

    def mark(records):
        marked.extend(records)
        print("marked", len(marked), flush=True)

    runner.run(sync(fetch, handle, mark, interval=0.01))
    print("stopped cleanly after", len(marked), flush=True)
    """
)


def wait_for_line(process: subprocess.Popen[str], prefix: str, deadline: float) -> str:
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith(prefix):
            return line
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no line starting with {prefix!r} before the deadline")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_pipeline_gracefully(tmp_path: Path, signum: int) -> None:
    script = tmp_path / "pipeline.py"
    script.write_text(SCRIPT)
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    ) as process:
        try:
            deadline = time.monotonic() + 30
            wait_for_line(process, "marked", deadline)
            process.send_signal(signum)
            line = wait_for_line(process, "stopped cleanly", deadline)
            assert process.wait(timeout=30) == 0
            assert int(line.split()[-1]) % 3 == 0  # whole batches only: none cut in half
        finally:
            if process.poll() is None:
                process.kill()
