"""The composition root: settings from file, environment and flags; stores and publishers by URL.

Nothing below this layer reads the environment or a config file. The CLI (and
any application that wants the same behaviour) builds everything from here::

    settings = load_settings({"db": "sqlite:///var/lib/app/outbox.db", "to": "stdout:"})
    await relay_once(settings)
"""

from relaybox.service.admin import (
    ChunkProgress,
    check,
    find_dead,
    migrate,
    migration_sql,
    on_ready_store,
    opened_store,
    purge_dead,
    ready_store,
    replay_dead,
    require_schema,
)
from relaybox.service.config import effective_settings, flag, load_settings, variable
from relaybox.service.destinations import require_destination, writes_to_stdout
from relaybox.service.durations import format_duration, parse_duration
from relaybox.service.keys import KEYS
from relaybox.service.publishers import PublisherOptions, publisher_for, publisher_target
from relaybox.service.purging import PurgePlan, letters, plan_purge, require_dead, unpark_all
from relaybox.service.relay import Drained, relay_for, relay_once, relay_until_stopped
from relaybox.service.settings import SettingError, Settings
from relaybox.service.stores import Store, locate_store, open_store, redact

__all__ = [
    "KEYS",
    "ChunkProgress",
    "PublisherOptions",
    "Drained",
    "PurgePlan",
    "SettingError",
    "Settings",
    "Store",
    "check",
    "effective_settings",
    "find_dead",
    "flag",
    "format_duration",
    "letters",
    "load_settings",
    "locate_store",
    "migrate",
    "migration_sql",
    "on_ready_store",
    "open_store",
    "opened_store",
    "parse_duration",
    "plan_purge",
    "publisher_for",
    "publisher_target",
    "purge_dead",
    "ready_store",
    "redact",
    "relay_for",
    "relay_once",
    "relay_until_stopped",
    "replay_dead",
    "require_dead",
    "require_destination",
    "require_schema",
    "unpark_all",
    "variable",
    "writes_to_stdout",
]
