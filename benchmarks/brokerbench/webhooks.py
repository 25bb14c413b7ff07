"""Webhooks: raw aiohttp POSTs against the relay's signed publisher, both to a local receiver.

The receiver is an aiohttp server answering 204, in a child process started by
:func:`available` (so the client's event loop is measured alone). Run alone
(``python benchmarks/brokerbench/webhooks.py``) it prints both rates, the
publisher's on in-memory message batches.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import os
import socket
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp import web

NAME = "webhooks"
CONCURRENCY = 16
os.environ.setdefault("RELAYBOX_WEBHOOK_SECRET", "whsec_" + base64.b64encode(b"bench").decode())
_receiver: dict[str, object] = {}


def _serve(sock: socket.socket) -> None:
    async def accept(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks/{topic}", accept)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)


def _port() -> int:
    if "port" not in _receiver:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        process = multiprocessing.get_context("fork").Process(target=_serve, args=(sock,))
        process.daemon = True
        process.start()
        _receiver.update(port=sock.getsockname()[1], process=process)
    port: int = _receiver["port"]  # type: ignore[assignment]
    return port


async def available() -> bool:
    url = f"http://127.0.0.1:{_port()}/hooks/ping"
    deadline = time.monotonic() + 10
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.post(url, data=b"") as response:
                    return response.status == 204
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.05)  # the child is still starting
    return False


async def raw_rate(events: int, payload: bytes) -> float:
    """Plain POSTs, ``CONCURRENCY`` in flight, no signing."""
    url = f"http://127.0.0.1:{_port()}/hooks/orders"
    slots = asyncio.Semaphore(CONCURRENCY)
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with slots, session.post(url, data=payload) as response:
                await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(events)))
        return events / (time.perf_counter() - started)


def publisher_url() -> str:
    return f"http://127.0.0.1:{_port()}/hooks/{{topic}}?concurrency={CONCURRENCY}"


async def reset() -> None:
    """Nothing to drop: the receiver keeps nothing."""


async def _main(events: int = 10_000) -> None:
    from brokerbench._alone import publisher_rate

    payload = b"x" * 300
    if not await available():
        print(f"{NAME}: the local receiver did not start")
        return
    raw = await raw_rate(events, payload)
    relay = await publisher_rate(publisher_url(), events, payload)
    print(f"{NAME} raw aiohttp POST, {CONCURRENCY} in flight: {raw:>9,.0f}/s")
    print(f"{NAME} publisher, signed (in-memory batches): {relay:>9,.0f}/s")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for brokerbench._alone
    asyncio.run(_main())
