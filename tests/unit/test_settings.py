"""Settings: defaults < TOML file < environment < flags, and errors that name key and source."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaybox.core.backoff import Backoff, FixedBackoff, LinearBackoff
from relaybox.core.errors import ConfigurationError
from relaybox.outbox.settings import RelaySettings
from relaybox.service import (
    KEYS,
    Settings,
    flag,
    format_duration,
    load_settings,
    locate_store,
    parse_duration,
    publisher_target,
    redact,
    variable,
)


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "relaybox.toml"
    path.write_text(text)
    return path


def test_the_defaults_are_the_relays_own() -> None:
    assert Settings().relay_settings() == RelaySettings()
    assert Settings().table == "relaybox_outbox"


def test_every_key_has_a_variable_and_a_flag_name() -> None:
    assert set(KEYS) == set(Settings.__dataclass_fields__)
    assert variable("batch_size") == "RELAYBOX_BATCH_SIZE"
    assert flag("on_key_failure") == "--on-key-failure"


def test_the_file_overrides_defaults_the_environment_overrides_the_file_flags_win(
    tmp_path: Path,
) -> None:
    path = config(tmp_path, '[relaybox]\nbatch_size = 10\nlease = "5m"\nmax_attempts = 3\n')
    environ = {"RELAYBOX_LEASE": "45s", "RELAYBOX_MAX_ATTEMPTS": "4"}

    settings = load_settings({"max_attempts": "5"}, config=path, environ=environ)

    assert (settings.batch_size, settings.lease, settings.max_attempts) == (10, 45.0, 5)
    assert settings.grace == RelaySettings().grace


def test_the_config_file_comes_from_relaybox_config_unless_a_flag_names_one(
    tmp_path: Path,
) -> None:
    named = config(tmp_path, "[relaybox]\nbatch_size = 7\n")
    other = tmp_path / "other.toml"
    other.write_text("[relaybox]\nbatch_size = 8\n")
    environ = {"RELAYBOX_CONFIG": str(named)}

    assert load_settings(environ=environ).batch_size == 7
    assert load_settings(config=other, environ=environ).batch_size == 8


def test_unset_flags_and_empty_variables_count_as_not_given() -> None:
    settings = load_settings({"batch_size": None}, environ={"RELAYBOX_BATCH_SIZE": ""})
    assert settings.batch_size == Settings().batch_size


def test_durations_take_units() -> None:
    assert [parse_duration(v) for v in (30, 2.5, "500ms", "30s", "5m", "2h", "7d", "1w")] == [
        30.0,
        2.5,
        0.5,
        30.0,
        300.0,
        7200.0,
        604800.0,
        604800.0,
    ]
    for bad in ("5 parsecs", "-1", True, "", "nan"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)


def test_a_bad_value_in_the_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = config(tmp_path, "[relaybox]\nbatch_size = 0\n")
    with pytest.raises(ConfigurationError, match=rf"batch_size from config file {path}: .*got 0"):
        load_settings(config=path, environ={})


def test_a_bad_variable_names_the_key_and_the_variable() -> None:
    with pytest.raises(ConfigurationError, match=r"lease from variable RELAYBOX_LEASE: .*duration"):
        load_settings(environ={"RELAYBOX_LEASE": "soon"})


def test_a_bad_flag_names_the_key_and_the_option() -> None:
    with pytest.raises(ConfigurationError, match=r"backoff from option --backoff: .*exponential"):
        load_settings({"backoff": "random"}, environ={})


def test_an_unknown_key_in_the_file_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    path = config(tmp_path, "[relaybox]\nbatch_sise = 5\n")
    with pytest.raises(ConfigurationError, match=r"'batch_sise' in config file .*'batch_size'"):
        load_settings(config=path, environ={})


def test_a_file_without_a_relaybox_table_or_not_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"has no \[relaybox\] table"):
        load_settings(config=config(tmp_path, "batch_size = 5\n"), environ={})
    with pytest.raises(ConfigurationError, match="is not valid TOML"):
        load_settings(config=config(tmp_path, "[relaybox\n"), environ={})
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        load_settings(config=tmp_path / "missing.toml", environ={})


def test_contradicting_keys_name_both_sources(tmp_path: Path) -> None:
    path = config(tmp_path, '[relaybox]\nbackoff_initial = "20m"\n')
    with pytest.raises(ConfigurationError) as info:
        load_settings(config=path, environ={})
    message = str(info.value)
    assert "backoff_max from the defaults: must be at least backoff_initial" in message
    assert f"backoff_initial from config file {path}" in message


def test_direct_construction_is_validated_and_normalised() -> None:
    assert Settings(lease=30).lease == 30.0
    with pytest.raises(ConfigurationError, match=r"table: .*identifier"):
        Settings(table="drop table;")
    with pytest.raises(ConfigurationError, match="poll_max: must be at least poll_min"):
        Settings(poll_min=2.0, poll_max=1.0)


def test_the_backoff_kind_picks_the_strategy() -> None:
    assert Settings(backoff="linear", backoff_initial=2, backoff_max=60).backoff_strategy() == (
        LinearBackoff(step=2.0, max_delay=60.0)
    )
    assert Settings(backoff="fixed", backoff_initial=9).backoff_strategy() == FixedBackoff(9.0)
    assert Settings(backoff_multiplier=3, backoff_jitter=0).backoff_strategy() == Backoff(
        initial=1.0, max_delay=600.0, multiplier=3.0, jitter=0.0
    )


def test_missing_database_or_destination_says_how_to_give_one() -> None:
    with pytest.raises(ConfigurationError, match="--db URL, set RELAYBOX_DB"):
        Settings().require_db()
    with pytest.raises(ConfigurationError, match="--to URL, set RELAYBOX_TO"):
        Settings().require_to()


@pytest.mark.parametrize(
    ("url", "kind", "target"),
    [
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql", None),
        ("postgres://u:p@db/app", "postgresql", "postgresql://u:p@db/app"),
        ("postgresql+asyncpg://u@db/app", "postgresql", "postgresql://u@db/app"),
        ("postgresql+psycopg://u@db:5433/app?sslmode=require", "postgresql", None),
        ("sqlite:///outbox.db", "sqlite", "outbox.db"),
        ("sqlite:///var/lib/outbox.db", "sqlite", "var/lib/outbox.db"),
        ("sqlite:////var/lib/outbox.db", "sqlite", "/var/lib/outbox.db"),
        ("sqlite+aiosqlite:////var/lib/outbox.db", "sqlite", "/var/lib/outbox.db"),
        ("sqlite:///my%20outbox.db", "sqlite", "my outbox.db"),
    ],
)
def test_store_urls_follow_sqlalchemy(url: str, kind: str, target: str | None) -> None:
    location = locate_store(url)
    assert location.kind == kind
    assert location.target == (target or url.replace("+psycopg", ""))


@pytest.mark.parametrize(
    "url",
    ["sqlite:///shop.db", "sqlite:////var/lib/shop.db", "sqlite:///a/b%20c.db", "sqlite:///./x.db"],
)
def test_a_sqlite_url_names_the_file_sqlalchemy_would_open(url: str) -> None:
    from sqlalchemy.engine import make_url

    assert locate_store(url).target == make_url(url).database


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("mysql://x/y", r"use postgresql://.*sqlite:///"),
        ("outbox.db", r"use postgresql://.*sqlite:///"),
        ("sqlite://", "names no database file"),
        ("sqlite:///", "names no database file"),
        ("sqlite:outbox.db", r"write sqlite:///outbox.db for a file in the working directory"),
        ("sqlite:///:memory:", "in-memory database, which only its own connection sees"),
        ("sqlite://host/x.db", "names a host"),
        ("postgresql://app:s3cret@[::1/shop", "cannot parse the database URL"),
        ("postgresql://app:s3cret@db:port/shop", "cannot parse the database URL"),
    ],
)
def test_unsupported_store_urls_say_what_to_write(url: str, reason: str) -> None:
    with pytest.raises(ConfigurationError, match=reason) as info:
        locate_store(url)
    assert "s3cret" not in str(info.value)


def test_an_unsupported_store_url_in_a_setting_names_the_source_but_not_the_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(environ={"RELAYBOX_DB": "mysql://app:hunter2@db/app"})
    assert "db from variable RELAYBOX_DB" in str(info.value)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("file:///srv/events.jsonl", "/srv/events.jsonl"),
        ("file:events.jsonl", "events.jsonl"),
        ("jsonl:out/events.jsonl", "out/events.jsonl"),
        ("stdout:", "-"),
        ("-", "-"),
    ],
)
def test_destination_urls_name_a_file_or_stdout(url: str, target: str) -> None:
    assert publisher_target(url) == target


@pytest.mark.parametrize("url", ["kafka://broker:9092/t", "events.jsonl", "file://host/x.jsonl"])
def test_unsupported_destinations_list_the_supported_ones(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"file:///.*stdout: or -"):
        publisher_target(url)


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://app:s3cret@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact("postgresql://app@db/x") == "postgresql://app@db/x"
    assert redact("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


def test_durations_print_short() -> None:
    assert [format_duration(s) for s in (0.25, 12, 60, 303, 7200, 90000)] == [
        "0.2s",
        "12s",
        "1m",
        "5m 3s",
        "2h",
        "1d 1h",
    ]
