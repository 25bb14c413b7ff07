"""Where the relay sends events: a broker, a webhook, a file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from relaybox.core.events import Message
from relaybox.core.outcome import Outcome


class Publisher(Protocol):
    """Publishes a batch of outbox messages and reports each one's fate.

    Contract:

    * ``messages`` arrive grouped by key, each key's messages in sequence order.
      A publisher sends one key's messages in that order and, once one of them
      fails, sends none of that key's later messages in this call: it reports
      them released (:class:`~relaybox.core.errors.KeyBlockedError`). Messages
      without a key are unordered. Publishers should keep several messages in
      flight (pipelining) rather than wait for each acknowledgement in turn.
    * The returned outcome lists each message once: ``delivered`` (the
      destination acknowledged it), or ``failed`` with its own error; a
      :class:`~relaybox.core.errors.PermanentError` means it can never succeed
      (it is dead-lettered at once). One bad message never fails its batch.
    * Raising means the whole call failed (the destination is unreachable, say):
      every message counts as failed with that error.
    * Each message's ``id`` is stable across retries: pass it to the
      destination's own duplicate detection where there is one.
    * ``close()`` flushes and releases connections; it is safe to call twice.
    """

    async def publish(self, messages: Sequence[Message], /) -> Outcome[Message]: ...

    async def close(self) -> None: ...
