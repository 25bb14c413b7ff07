"""The JetStream publisher named by a ``nats://`` destination URL."""

from __future__ import annotations

from relaybox.adapters.nats.publisher import JetStreamPublisher
from relaybox.outbox.destinations import DestinationUrl, PublisherOptions


def nats_publisher(url: str, options: PublisherOptions) -> JetStreamPublisher:
    """The publisher of ``nats://[user[:password]@]host[:port][?max_pending=N]``.

    ``?token=`` authenticates with a token; ``password_env=VAR`` and
    ``token_env=VAR`` read those secrets from the environment variable ``VAR``.
    """
    where = DestinationUrl.parse(url, allowed=("max_pending", "token"), environ=options.environ)
    connect: dict[str, object] = {}
    if where.username:
        connect.update(user=where.username, password=where.password)
    if (token := where.text("token")) is not None:
        connect["token"] = token
    server = f"nats://{where.host or 'localhost'}:{where.port or 4222}"
    return JetStreamPublisher(
        server,
        topics=options.topics,
        timeout=options.timeout,
        max_retry_delay=options.max_retry_delay,
        max_pending=where.integer("max_pending", 4000) or 4000,
        connect=connect,
        where=where.redacted(),
    )
