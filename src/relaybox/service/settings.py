"""What a relaybox process is told: where the outbox is, where events go, how to relay.

:class:`Settings` is flat on purpose: each field is one key of the config file,
one ``RELAYBOX_*`` environment variable and (for the common ones) one
command-line flag, so an operator never has to guess a nesting.
:mod:`relaybox.service.config` reads those sources; this module only says what
a valid value is.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Literal

from relaybox.core.backoff import Backoff, BackoffStrategy, FixedBackoff, LinearBackoff
from relaybox.core.errors import ConfigurationError
from relaybox.outbox.destinations import PublisherOptions
from relaybox.outbox.routing import TopicMap
from relaybox.outbox.settings import DEFAULT_BACKOFF, KeyFailure, RelaySettings
from relaybox.outbox.tables import Tables
from relaybox.service.keys import KEYS
from relaybox.service.publishers import check_destination

BackoffKind = Literal["exponential", "linear", "fixed"]
_RELAY = RelaySettings()  # the relay's own defaults are ours: one place to change them


class SettingError(ConfigurationError):
    """A setting has a value it may not have; ``key`` names it, ``other`` the key it contradicts."""

    def __init__(self, key: str, problem: str, *, other: str | None = None) -> None:
        self.key = key
        self.problem = problem
        self.other = other
        super().__init__(f"{key}: {problem}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting with its default; validated (and normalised) on construction.

    ``db`` and ``to`` are URLs (see :func:`relaybox.service.open_store` and
    :func:`relaybox.service.publisher_for`). The relay fields mean what they mean
    in :class:`relaybox.outbox.relay.RelaySettings`; ``backoff`` picks the
    strategy and ``backoff_*`` shape it (``linear`` steps by ``backoff_initial``,
    ``fixed`` waits ``backoff_initial``). Durations are seconds.
    """

    db: str | None = None
    to: str | None = None
    topic_template: str | None = None
    route: tuple[tuple[str, str], ...] = ()
    publisher: str | None = None
    table: str = Tables().name
    batch_size: int = _RELAY.batch_size
    lease: float = _RELAY.lease
    max_attempts: int = _RELAY.max_attempts
    max_lease_expiries: int = _RELAY.max_lease_expiries
    max_age: float | None = _RELAY.max_age
    outage_max: float = _RELAY.outage_backoff.max_delay
    backoff: BackoffKind = "exponential"
    backoff_initial: float = DEFAULT_BACKOFF.initial
    backoff_max: float = DEFAULT_BACKOFF.max_delay
    backoff_multiplier: float = DEFAULT_BACKOFF.multiplier
    backoff_jitter: float = DEFAULT_BACKOFF.jitter
    on_key_failure: KeyFailure = _RELAY.on_key_failure
    poll_min: float = _RELAY.poll_min
    poll_max: float = _RELAY.poll_max
    dead_retention: float = _RELAY.dead_retention
    cleanup_interval: float = _RELAY.cleanup_interval
    cleanup_batch: int = _RELAY.cleanup_batch
    owner: str | None = _RELAY.owner
    grace: float = _RELAY.grace

    def __post_init__(self) -> None:
        for item in fields(self):
            try:
                value = KEYS[item.name].parse(getattr(self, item.name))
            except ValueError as exc:
                raise SettingError(item.name, str(exc)) from None
            object.__setattr__(self, item.name, value)
        if self.backoff != "fixed" and self.backoff_max < self.backoff_initial:
            raise SettingError(
                "backoff_max",
                f"must be at least backoff_initial ({self.backoff_initial:g} s)",
                other="backoff_initial",
            )
        if self.to is not None and self.publisher is None:
            try:
                check_destination(self.to)
            except ConfigurationError as exc:
                raise SettingError("to", str(exc)) from None
        try:
            self.topic_map()
        except ConfigurationError as exc:
            raise SettingError("route", str(exc), other="topic_template") from None
        if self.poll_max < self.poll_min:
            raise SettingError(
                "poll_max", f"must be at least poll_min ({self.poll_min:g} s)", other="poll_min"
            )

    def require_db(self) -> str:
        """The database URL; a :class:`ConfigurationError` saying how to give one if unset."""
        if self.db is None:
            raise ConfigurationError(
                "no database given: pass --db URL, set RELAYBOX_DB or db in the config file"
            )
        return self.db

    def require_to(self) -> str:
        """The destination URL; a :class:`ConfigurationError` saying how to give one if unset."""
        if self.to is None:
            raise ConfigurationError(
                "no destination given: pass --to URL, set RELAYBOX_TO or to in the config file"
            )
        return self.to

    def topic_map(self) -> TopicMap:
        """Where each topic goes: ``route`` overrides, then ``topic_template``.

        With routes and no template only the routed topics have a destination
        (the relay refuses to start while others are pending); with neither,
        each topic keeps its own name.
        """
        template = self.topic_template or (None if self.route else "{topic}")
        return TopicMap(template=template, overrides=dict(self.route))

    def publisher_options(self) -> PublisherOptions:
        """Options for the publisher: a publish call is bounded by a third of the lease."""
        return PublisherOptions(
            topics=self.topic_map(),
            timeout=self.lease / 3,
            max_retry_delay=self.backoff_initial if self.backoff == "fixed" else self.backoff_max,
        )

    def tables(self) -> Tables:
        return Tables(self.table)

    def backoff_strategy(self) -> BackoffStrategy:
        """The durable retry schedule these settings describe."""
        if self.backoff == "linear":
            return LinearBackoff(step=self.backoff_initial, max_delay=self.backoff_max)
        if self.backoff == "fixed":
            return FixedBackoff(seconds=self.backoff_initial)
        return Backoff(
            initial=self.backoff_initial,
            max_delay=self.backoff_max,
            multiplier=self.backoff_multiplier,
            jitter=self.backoff_jitter,
        )

    def relay_settings(self) -> RelaySettings:
        return RelaySettings(
            batch_size=self.batch_size,
            lease=self.lease,
            max_attempts=self.max_attempts,
            max_lease_expiries=self.max_lease_expiries,
            max_age=self.max_age,
            outage_backoff=replace(
                _RELAY.outage_backoff,
                initial=min(_RELAY.outage_backoff.initial, self.outage_max),
                max_delay=self.outage_max,
            ),
            backoff=self.backoff_strategy(),
            on_key_failure=self.on_key_failure,
            poll_min=self.poll_min,
            poll_max=self.poll_max,
            dead_retention=self.dead_retention,
            cleanup_interval=self.cleanup_interval,
            cleanup_batch=self.cleanup_batch,
            owner=self.owner,
            grace=self.grace,
        )
