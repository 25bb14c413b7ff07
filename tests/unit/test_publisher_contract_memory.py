"""The publisher contract suite against the in-memory publisher."""

from __future__ import annotations

from relaybox.core.errors import DestinationUnavailableError, PermanentError
from relaybox.core.events import Message
from relaybox.outbox.destinations import PublisherOptions
from relaybox.ports.publisher import Publisher
from relaybox.testing import MemoryPublisher, message
from relaybox.testing.publisher_contract import PublisherContract, Received

REJECTED_TOPIC = "rejected"


def _refuse(message: Message) -> BaseException | None:
    return PermanentError("too large") if message.topic == REJECTED_TOPIC else None


class TestMemoryPublisher(PublisherContract):
    async def make_publisher(self, options: PublisherOptions) -> Publisher:
        self.publisher = MemoryPublisher(_refuse)
        return self.publisher

    async def received(self) -> list[Received]:
        return [
            Received(m.id, m.key, m.type, m.topic, m.headers, m.payload)
            for m in self.publisher.published
        ]

    async def unreachable_publisher(self, options: PublisherOptions) -> Publisher:
        return MemoryPublisher(lambda m: DestinationUnavailableError("nothing listens"))

    async def rejected_message(self, row_id: int, key: str) -> Message | None:
        return message(row_id, key=key, topic=REJECTED_TOPIC)
