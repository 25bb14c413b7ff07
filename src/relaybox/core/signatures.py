"""Standard Webhooks signatures (https://www.standardwebhooks.com), on the standard library.

A sender signs ``"{webhook-id}.{webhook-timestamp}.{body}"`` with HMAC-SHA256
under each of its secrets and sends ``webhook-signature: v1,<base64> ...``
(one entry per secret, space-separated, so a secret can be rotated without a
gap). A secret is ``whsec_`` followed by the base64 of its key bytes.
A receiver calls :func:`verify` with the secrets it accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping

from relaybox.core.errors import RelayboxError

PREFIX = "whsec_"
TOLERANCE = 300.0
"""How far (seconds) a timestamp may be from the receiver's clock, either way."""


class WebhookVerificationError(RelayboxError, ValueError):
    """The webhook's signature does not verify; reject the request."""


def secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_``-prefixed (or bare) base64 secret."""
    try:
        return base64.b64decode(secret.strip().removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret must be base64, optionally prefixed whsec_") from exc


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature entry."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign(keys: Iterable[bytes], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one entry per key, space-separated."""
    return " ".join(signature(key, message_id, timestamp, body) for key in keys)


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Iterable[str],
    *,
    tolerance: float = TOLERANCE,
    now: float | None = None,
) -> str:
    """Check a received webhook; return its ``webhook-id``.

    ``headers`` is looked up by lower-case name first, then as given (pass a
    case-insensitive mapping, such as aiohttp's, as it is). It raises
    :class:`WebhookVerificationError` for a missing header, a timestamp more
    than ``tolerance`` seconds from ``now`` (replays), or no signature entry
    matching any of ``secrets``; comparisons take constant time.
    """
    message_id, stamp, signatures = (
        _header(headers, name) for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    )
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a whole number") from None
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old or in the future")
    offered = [entry.partition(",")[2] for entry in signatures.split() if entry.startswith("v1,")]
    for secret in secrets:
        expected = signature(secret_key(secret), message_id, timestamp, body).partition(",")[2]
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return message_id
    raise WebhookVerificationError("no webhook-signature matches")


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.title())
    if not value:
        raise WebhookVerificationError(f"the {name} header is missing")
    return value
