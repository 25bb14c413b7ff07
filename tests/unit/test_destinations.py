"""Destination URLs, routing settings, publisher options and how publishers are found."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from relaybox.core.errors import ConfigurationError
from relaybox.outbox.destinations import DestinationUrl, PublisherOptions
from relaybox.outbox.publishers import JsonLinesPublisher
from relaybox.service import load_settings, publisher_for
from relaybox.service.publishers import check_destination, load_factory


def test_a_url_carries_its_options_and_takes_secrets_from_the_environment() -> None:
    where = DestinationUrl.parse(
        "redis://app@cache:6380/2?stream=orders&maxlen=1000&password_env=CACHE_PW",
        allowed=("stream", "maxlen"),
        environ={"CACHE_PW": "s3cret"},
    )
    assert (where.host, where.port, where.path, where.username) == ("cache", 6380, "/2", "app")
    assert where.password == "s3cret"
    assert where.text("stream") == "orders"
    assert where.integer("maxlen") == 1000
    assert "s3cret" not in repr(where)
    assert where.redacted() == "redis://app:***@cache:6380/2"


def test_unknown_options_and_unset_variables_are_refused_without_echoing_secrets() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown option 'maxlne'.*maxlen") as bad:
        DestinationUrl.parse("redis://u:hunter2@h/0?maxlne=5", allowed=("maxlen",))
    assert "hunter2" not in str(bad.value)
    with pytest.raises(ConfigurationError, match="'PW_VAR', which is unset"):
        DestinationUrl.parse("nats://h?password_env=PW_VAR", environ={})
    with pytest.raises(ConfigurationError, match="maxlen must be a whole number"):
        DestinationUrl.parse("redis://h/0?maxlen=ten", allowed=("maxlen",)).integer("maxlen")


def test_routes_and_a_template_come_from_flags_environment_and_file(tmp_path: Path) -> None:
    config = tmp_path / "relaybox.toml"
    config.write_text('[relaybox]\nroute = { "orders" = "shop.orders" }\n')
    from_file = load_settings(config=config, environ={})
    assert from_file.topic_map().destination("orders") == "shop.orders"
    with pytest.raises(ConfigurationError, match="'payments'"):
        from_file.topic_map().check(["orders", "payments"])

    env = {"RELAYBOX_ROUTE": "a=x, b=y", "RELAYBOX_TOPIC_TEMPLATE": "app.{topic}"}
    from_env = load_settings(environ=env).topic_map()
    assert [from_env.destination(t) for t in ("a", "b", "c")] == ["x", "y", "app.c"]

    flags = load_settings({"route": ("a=z",)}, environ=env).topic_map()
    assert flags.destination("a") == "z"
    assert load_settings(environ={}).topic_map().destination("any") == "any"


def test_bad_routes_templates_and_factories_name_their_setting() -> None:
    with pytest.raises(ConfigurationError, match="route from option --route"):
        load_settings({"route": ("no-equals-sign",)}, environ={})
    with pytest.raises(ConfigurationError, match="topic_template from variable"):
        load_settings(environ={"RELAYBOX_TOPIC_TEMPLATE": "{key}.x"})
    with pytest.raises(ConfigurationError, match="publisher from option --publisher"):
        load_settings({"publisher": "not a factory"}, environ={})


def test_publish_calls_are_bounded_by_a_third_of_the_lease() -> None:
    settings = load_settings({"lease": "45s", "backoff_max": "5m"}, environ={})
    options = settings.publisher_options()
    assert options.timeout == pytest.approx(15.0)
    assert options.max_retry_delay == pytest.approx(300.0)
    with pytest.raises(ConfigurationError):
        PublisherOptions(timeout=0)


def test_unknown_schemes_are_refused_and_files_still_work(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="unsupported destination 'kafkaa://h'"):
        check_destination("kafkaa://h")
    check_destination("redis://127.0.0.1:6379/0")
    check_destination("nats://127.0.0.1:4222")
    assert isinstance(publisher_for(f"file://{tmp_path}/x.jsonl"), JsonLinesPublisher)


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution (on sys.path) registering the scheme ``fake`` and factories."""
    (tmp_path / "fakebroker.py").write_text(
        textwrap.dedent(
            """
            from relaybox.testing import MemoryPublisher

            def factory(url, options):
                publisher = MemoryPublisher()
                publisher.url, publisher.options = url, options
                return publisher

            def not_a_publisher(url, options):
                return object()

            NOT_CALLABLE = 3
            """
        )
    )
    (tmp_path / "needs_extra.py").write_text(
        "raise ImportError(\"needs_extra needs foo: pip install 'relaybox[foo]'\")\n"
    )
    info = tmp_path / "fakebroker-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakebroker\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[relaybox.publishers]\nfake = fakebroker:factory\nmissing = needs_extra:factory\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_an_entry_point_adds_a_scheme(plugin: Path) -> None:
    check_destination("fake://anywhere")
    options = PublisherOptions(timeout=3.0)
    publisher = publisher_for("fake://anywhere", options)
    assert publisher.url == "fake://anywhere"  # type: ignore[attr-defined]
    assert publisher.options.timeout == 3.0  # type: ignore[attr-defined]
    assert publisher.options.environ is not None  # type: ignore[attr-defined]


def test_a_missing_extra_names_the_pip_install(plugin: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"pip install 'relaybox\[foo\]'"):
        publisher_for("missing://h")


def test_a_named_factory_builds_the_publisher_and_bad_ones_are_explained(plugin: Path) -> None:
    publisher = publisher_for("whatever://x", factory="fakebroker:factory")
    assert publisher.url == "whatever://x"  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="must look like module:function"):
        load_factory("fakebroker")
    with pytest.raises(ConfigurationError, match="cannot be imported"):
        load_factory("no_such_module_here:factory")
    with pytest.raises(ConfigurationError, match="is not a function"):
        load_factory("fakebroker:NOT_CALLABLE")
    with pytest.raises(ConfigurationError, match="no publish"):
        publisher_for("x://y", factory="fakebroker:not_a_publisher")


@pytest.mark.parametrize(
    ("module", "driver", "extra"), [("redis", "redis", "redis"), ("nats", "nats", "nats")]
)
def test_an_adapter_without_its_driver_names_the_extra(
    module: str, driver: str, extra: str
) -> None:
    # A fresh interpreter where the driver cannot be imported, as without the extra.
    code = (
        f"import sys; sys.modules[{driver!r}] = None\n"
        "from relaybox.service import publisher_for\n"
        f"publisher_for('{module}://127.0.0.1')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.returncode != 0
    assert f"pip install 'relaybox[{extra}]'" in run.stderr
    assert "ConfigurationError" in run.stderr


def test_an_unknown_scheme_is_refused_without_its_password() -> None:
    with pytest.raises(ConfigurationError, match="unsupported destination") as refused:
        check_destination("kafkaa://user:hunter2@broker:9092?x=1")
    assert "hunter2" not in str(refused.value)
