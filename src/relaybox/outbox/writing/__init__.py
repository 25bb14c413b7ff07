"""How :class:`~relaybox.outbox.writer.Outbox` writes on each database driver.

Nothing here imports a driver: connections are recognised by their class
names and used through small Protocols, so the outbox layer works with
whatever driver the application already has installed.
"""
