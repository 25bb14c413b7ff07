"""What a publisher learns once per subject from the JetStream stream behind it.

JetStream answers a refused message only after the batch is on the wire, too
late to hold the key's later messages back. The refusal a relay meets in
practice is a message over the stream's size limit, so that limit is learnt
up front and such a message is failed before anything is sent. The stream's
duplicate window is checked against the relay's longest retry delay at the
same time: a shorter window lets a late re-publication through as a copy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from nats.js import JetStreamContext

from relaybox.adapters.nats.faults import UNREACHABLE
from relaybox.adapters.nats.headers import message_headers
from relaybox.core.errors import PermanentError
from relaybox.core.events import Message

log = logging.getLogger("relaybox.adapters.nats.publisher")
_STATUS_LINE = len(b"NATS/1.0\r\n\r\n")


class StreamLimits:
    """Per subject: the size limit of its stream (``-1``: none), learnt once."""

    def __init__(self, max_retry_delay: float) -> None:
        self._max_retry_delay = max_retry_delay
        self._sizes: dict[str, int] = {}
        self._warned: set[str] = set()

    async def learn(self, js: JetStreamContext, subjects: Iterable[str]) -> None:
        """Look up each new subject's stream; a subject with no stream yet is asked again later."""
        for subject in set(subjects) - self._sizes.keys():
            try:
                stream = await js.find_stream_name_by_subject(subject)
                config = (await js.stream_info(stream)).config
            except UNREACHABLE:
                raise
            except Exception:  # no stream for it yet: its publish will say so
                continue
            self._sizes[subject] = config.max_msg_size if config.max_msg_size is not None else -1
            self._check_window(stream, config.duplicate_window or 0.0)

    def refusal(self, subject: str, message: Message) -> BaseException | None:
        """The error JetStream would answer ``message`` with for its size, or ``None``."""
        limit = self._sizes.get(subject, -1)
        if limit < 0:
            return None
        size = len(message.payload) + _headers_size(message)
        if size <= limit:
            return None
        return PermanentError(f"a message of {size} bytes exceeds the stream's limit of {limit}")

    def _check_window(self, stream: str, window: float) -> None:
        if window < self._max_retry_delay and stream not in self._warned:
            self._warned.add(stream)
            log.warning(
                "JetStream stream %r keeps message ids for %.0f s, less than the relay's "
                "longest retry delay (%.0f s): a re-published event may be stored twice",
                stream,
                window,
                self._max_retry_delay,
            )


def _headers_size(message: Message) -> int:
    """Bytes of the header block as sent (JetStream counts it with the payload)."""
    pairs = message_headers(message).items()
    return _STATUS_LINE + sum(len(k.encode()) + len(v.encode()) + 4 for k, v in pairs)
