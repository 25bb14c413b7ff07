"""O-9: moving events to the dead letters is one atomic step that never drops an event.

The hazard: row-by-row inserts that tolerate failures inside the transaction
(which PostgreSQL aborts at the first error), and a delete of every selected
row even when its insert failed, which loses events. Here the move happens in
the settle's transaction: if the dead letter cannot be stored, the event stays
in the outbox; an event is deleted only together with its dead letter.
"""

from __future__ import annotations

from relaybox.core.errors import PermanentError, SettleError
from relaybox.core.events import Event, Message
from relaybox.outbox.relay import Relay
from relaybox.outbox.settings import RelaySettings
from relaybox.ports.store import DeadFilter
from relaybox.testing.publisher import MemoryPublisher


def reject_poison(message: Message) -> BaseException | None:
    return PermanentError("cannot be delivered") if message.topic == "poison" else None


REFUSE_POISON = {
    "postgresql": "ALTER TABLE {dead} ADD CONSTRAINT {dead}_refuse CHECK (topic <> 'poison')",
    "sqlite": (
        "CREATE TRIGGER {dead}_refuse BEFORE INSERT ON {dead} WHEN NEW.topic = 'poison' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    ),
}


async def test_o09_an_event_whose_dead_letter_cannot_be_stored_stays_in_the_outbox(
    outbox_db,
) -> None:
    await outbox_db.write(Event("poison", key="a"), Event("fine", key="b"))
    await outbox_db.execute(REFUSE_POISON[outbox_db.dialect])
    relay = Relay(outbox_db.store, MemoryPublisher(reject_poison))

    result = await relay.relay_batch()

    assert isinstance(result.error, SettleError)
    assert await outbox_db.scalar("SELECT count(*) FROM {events} WHERE topic = 'poison'") == 1
    assert await outbox_db.scalar("SELECT count(*) FROM {dead}") == 0


RESTART_NUMBERING = {
    "postgresql": "TRUNCATE {events} RESTART IDENTITY",
    "sqlite": "DELETE FROM {events}; DELETE FROM sqlite_sequence WHERE name = '{events}'",
}


async def test_o09_an_event_is_never_deleted_without_its_dead_letter(outbox_db) -> None:
    """Row numbers can repeat (an outbox emptied with its numbering restarted, a
    restored backup); an older dead letter holding the same number must not make
    the new event vanish."""
    relay = Relay(outbox_db.store, MemoryPublisher(reject_poison))
    await outbox_db.write(Event("poison", {"life": 1}))
    await relay.drain()
    await outbox_db.execute(RESTART_NUMBERING[outbox_db.dialect])
    await outbox_db.write(Event("poison", {"life": 2}))

    await relay.drain()

    letters = await outbox_db.store.dead_letters(DeadFilter(), 10)
    pending = (await outbox_db.store.status()).pending
    assert pending == 1 or sorted(letter.payload for letter in letters) == [
        b'{"life":1}',
        b'{"life":2}',
    ], "the second event was deleted without becoming a dead letter"


async def test_o09_dead_letters_move_whole_batches_at_a_time(outbox_db) -> None:
    await outbox_db.write(Event("poison", {"n": 0}, key="a"))
    await outbox_db.write(*(Event("poison", {"n": n}) for n in range(1, 40)))
    relay = Relay(
        outbox_db.store, MemoryPublisher(reject_poison), settings=RelaySettings(batch_size=40)
    )

    result = await relay.relay_batch()
    while result.fetched:
        assert relay.stats.dead == relay.stats.claimed  # each settle moved its whole batch
        result = await relay.relay_batch()

    assert relay.stats.dead == 40
    letters = await outbox_db.store.dead_letters(DeadFilter(), 100)
    assert sorted(letter.payload for letter in letters) == sorted(
        f'{{"n":{n}}}'.encode() for n in range(40)
    )
    assert [(d.key, d.seq) for d in letters if d.key is not None] == [("a", 1)]
    assert {letter.attempts for letter in letters} == {1}
    assert (await outbox_db.store.status()).pending == 0
