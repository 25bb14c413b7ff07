"""The resilient stack delivering to a real HTTP server over loopback."""

import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.core.errors import PermanentError
from relaybox.pipeline.appliers import process
from relaybox.pipeline.polling import PollingCoordinator
from relaybox.pipeline.resilient import resilient
from relaybox.pipeline.sources import FunctionSource

pytestmark = pytest.mark.integration


class Webhook(BaseHTTPRequestHandler):
    """503 on the first delivery of ids divisible by 3, 422 for ids divisible by 10."""

    hits: ClassVar[Counter[int]] = Counter()
    accepted: ClassVar[Counter[int]] = Counter()
    lock = threading.Lock()

    def do_POST(self) -> None:
        record = int(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.hits[record] += 1
            first = self.hits[record] == 1
        if record % 10 == 0:
            self.send_response(422)
        elif record % 3 == 0 and first:
            self.send_response(503)
        else:
            with self.lock:
                self.accepted[record] += 1
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Webhook.hits.clear()
    Webhook.accepted.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    httpd.shutdown()
    httpd.server_close()


async def test_resilient_http_delivery_retries_5xx_and_dead_letters_4xx(server: str) -> None:
    def post(record: int) -> None:
        request = urllib.request.Request(server, data=str(record).encode(), method="POST")
        try:
            urllib.request.urlopen(request, timeout=5).close()
        except urllib.error.HTTPError as exc:
            exc.close()
            if 400 <= exc.code < 500:
                raise PermanentError(f"webhook rejected {record}: HTTP {exc.code}") from exc
            raise

    pending = list(range(1, 61))
    marked: list[int] = []

    def fetch(limit: int) -> list[int]:
        return [r for r in pending if r not in marked][:limit]

    stack = resilient(
        process(post), retry=RetryPolicy(attempts=3, backoff=Backoff(initial=0.001, max_delay=0.01))
    )
    coordinator = PollingCoordinator(FunctionSource(fetch, marked.extend), stack, batch_size=25)
    while (await coordinator.run_once()).fetched:
        pass

    assert sorted(marked) == pending
    letters = await stack.dead_letters.peek()
    assert sorted(letter.record for letter in letters) == [10, 20, 30, 40, 50, 60]
    assert all(letter.attempts == 1 for letter in letters)
    assert all("HTTP 422" in str(letter.error) for letter in letters)
    good = [r for r in pending if r % 10]
    assert sorted(Webhook.accepted) == good
    assert all(Webhook.accepted[r] == 1 for r in good)
    assert all(Webhook.hits[r] == 2 for r in good if r % 3 == 0)
