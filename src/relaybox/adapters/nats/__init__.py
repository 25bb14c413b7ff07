"""NATS JetStream: a publisher (acks windowed, ``Nats-Msg-Id`` dedup) and a pull-consumer source.

Needs the ``nats`` extra (nats-py).
"""

try:
    import nats.js  # noqa: F401 - fail here, at import, when the extra is missing
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("relaybox.adapters.nats needs nats-py: pip install 'relaybox[nats]'") from exc

from relaybox.adapters.nats.destination import nats_publisher
from relaybox.adapters.nats.headers import message_headers
from relaybox.adapters.nats.publisher import JetStreamPublisher
from relaybox.adapters.nats.source import JetStreamSource

__all__ = ["JetStreamPublisher", "JetStreamSource", "message_headers", "nats_publisher"]
