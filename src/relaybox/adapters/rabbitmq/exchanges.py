"""Finding the exchange a message goes to, and telling a missing one from an outage."""

from __future__ import annotations

import asyncio

import aiormq.exceptions
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from relaybox.core.errors import DestinationUnavailableError, PermanentError


async def exchange_named(
    connection: AbstractConnection,
    channel: AbstractChannel,
    name: str,
    within: float,
    where: str,
) -> AbstractExchange | PermanentError:
    """The exchange ``name`` on ``channel``, or the error its messages fail with for good.

    Raises :class:`DestinationUnavailableError` when the broker cannot say
    within ``within`` seconds.
    """
    if not name:
        return channel.default_exchange
    # A passive declare of a missing exchange closes its channel: use a spare one.
    try:
        async with asyncio.timeout(within):
            probe = await connection.channel()
            async with probe:
                await probe.get_exchange(name, ensure=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return PermanentError(f"exchange {name!r} does not exist at {where}")
    except Exception as exc:
        raise DestinationUnavailableError(
            f"cannot check exchange {name!r} at {where}: {exc!r}"
        ) from exc
    return await channel.get_exchange(name, ensure=False)
