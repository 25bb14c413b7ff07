"""RabbitMQ through aio-pika (``pip install "relaybox[rabbitmq]"``): a publisher and a queue source.

``relaybox relay --to amqp://guest:guest@127.0.0.1:5672/`` publishes each event
confirmed and persistent; see :mod:`relaybox.adapters.rabbitmq.address` for
the URL's options and how topics become exchanges and routing keys.
"""

from __future__ import annotations

try:
    import aio_pika  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'relaybox.adapters.rabbitmq needs aio-pika: pip install "relaybox[rabbitmq]"'
    ) from exc

from relaybox.adapters.rabbitmq.address import RabbitAddress
from relaybox.adapters.rabbitmq.publisher import RabbitPublisher, from_url
from relaybox.adapters.rabbitmq.source import RabbitQueueSource

__all__ = ["RabbitAddress", "RabbitPublisher", "RabbitQueueSource", "from_url"]
