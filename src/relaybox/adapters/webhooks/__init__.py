"""Signed HTTP webhooks through aiohttp (``pip install "relaybox[webhooks]"``).

``relaybox relay --to 'https://hooks.example.com/in/{topic}'`` POSTs each event,
signed with the secrets in ``$RELAYBOX_WEBHOOK_SECRET``; see
:mod:`relaybox.adapters.webhooks.address` for the URL's options. Receivers
verify with :func:`relaybox.webhooks.verify`, which needs no extra.
"""

from __future__ import annotations

try:
    import aiohttp  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'relaybox.adapters.webhooks needs aiohttp: pip install "relaybox[webhooks]"'
    ) from exc

from relaybox.adapters.webhooks.address import WebhookAddress
from relaybox.adapters.webhooks.publisher import WebhookPublisher, from_url

__all__ = ["WebhookAddress", "WebhookPublisher", "from_url"]
