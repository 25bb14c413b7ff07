"""Receiving relaybox webhooks: verify their Standard Webhooks signatures (no extra needed).

In a handler, with the raw body bytes and the request headers::

    from relaybox.webhooks import WebhookVerificationError, verify

    try:
        event_id = verify(body, request.headers, [os.environ["WEBHOOK_SECRET"]])
    except WebhookVerificationError:
        return Response(status=401)

``event_id`` is the outbox event id (also in ``Idempotency-Key``): store it to
drop redeliveries, since delivery is at least once.
"""

from relaybox.core.signatures import (
    TOLERANCE,
    WebhookVerificationError,
    secret_key,
    sign,
    signature,
    verify,
)

__all__ = ["TOLERANCE", "WebhookVerificationError", "secret_key", "sign", "signature", "verify"]
