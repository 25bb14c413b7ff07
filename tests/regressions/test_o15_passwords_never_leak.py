"""O15: no password appears in any message, log line or status output, whatever the URL form.

``redact()`` missed passwords given as query parameters (``?password=s3cret``)
and returned URLs that fail to parse (``postgresql://app:s3cret@[::1/shop``)
unchanged, so they reached error messages and logs as written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from click.testing import CliRunner

from relaybox.cli import relaybox
from relaybox.cli.logs import JsonFormatter, ScrubbingFormatter
from relaybox.core.errors import ConfigurationError
from relaybox.service import load_settings, locate_store, redact
from relaybox.service.redaction import scrub

SECRET = "s3cret-Pw"
# Port 1 of the loopback refuses at once: every form reaches the driver or the parser.
URLS = [
    f"postgresql://app:{SECRET}@127.0.0.1:1/shop",
    f"postgresql+asyncpg://app:{SECRET}@127.0.0.1:1/shop",
    f"postgresql://app@127.0.0.1:1/shop?password={SECRET}",
    f"postgresql://app@127.0.0.1:1/shop?sslmode=disable&password={SECRET}",
    f"postgres://app:{SECRET.replace('-', '%2D')}@127.0.0.1:1/shop",
    f"postgresql://app:{SECRET}@[::1/shop",
    f"postgresql://app:{SECRET}@127.0.0.1:port/shop",
    f"postgresql://app:{SECRET}@/shop?host=/nonexistent",
    f"mysql://app:{SECRET}@db/shop",
]
IDS = [
    "userinfo",
    "driver",
    "query",
    "query-2nd",
    "encoded",
    "bad-ipv6",
    "bad-port",
    "socket",
    "scheme",
]


def leaked(text: str) -> bool:
    return SECRET in text or SECRET.replace("-", "%2D") in text


@pytest.mark.parametrize("url", URLS, ids=IDS)
def test_redact_masks_the_password_of_every_url_form(url: str) -> None:
    shown = redact(url)
    assert not leaked(shown)
    assert "***" in shown


def refusal(attempt: Callable[[], object]) -> str:
    """The message of the ConfigurationError ``attempt`` raises, or ``""``."""
    try:
        attempt()
    except ConfigurationError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("url", URLS, ids=IDS)
def test_refusals_of_a_url_never_show_its_password(url: str) -> None:
    assert not leaked(refusal(lambda: locate_store(url)))
    assert not leaked(refusal(lambda: load_settings(environ={"RELAYBOX_DB": url})))


@pytest.mark.integration
@pytest.mark.parametrize("url", URLS, ids=IDS)
def test_no_command_prints_or_logs_the_password(url: str) -> None:
    runner = CliRunner()
    outputs = [
        runner.invoke(relaybox, ["-vv", "status", "--db", url]),
        runner.invoke(relaybox, ["--log-format", "json", "-vv", "status", "--json", "--db", url]),
        runner.invoke(relaybox, ["config", "--db", url, "--to", "-"]),
        runner.invoke(relaybox, ["-vv", "relay", "--once", "--db", url, "--to", "-"]),
        runner.invoke(relaybox, ["migrate", "--db", url]),
    ]
    for result in outputs:
        assert result.exit_code != 0 or result.output
        assert not leaked(result.output), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("url", URLS, ids=IDS)
def test_log_lines_mentioning_a_url_are_masked(url: str) -> None:
    record = logging.LogRecord(
        "relaybox", logging.ERROR, __file__, 1, "cannot reach %s", (url,), None
    )
    record.dsn = url  # an extra= field, as structured loggers pass them
    assert not leaked(ScrubbingFormatter("%(message)s").format(record))
    assert not leaked(JsonFormatter().format(record))


def test_masking_twice_changes_nothing_more() -> None:
    message = f"cannot open the database at {redact(URLS[2])}: connection refused"
    assert scrub(message) == message
    assert message.endswith("password=***: connection refused")
