"""What a publisher is built from: its destination URL, and the options every publisher gets.

A destination URL carries the broker's address and its options as query
parameters (``redis://host:6379/0?stream=orders&maxlen=100000``). Secrets stay
out of the URL where the operator wants: ``?password_env=NAME`` reads the
password from the environment variable ``NAME``. :class:`DestinationUrl` never
shows a password, in its ``repr``, its :meth:`~DestinationUrl.redacted` form or
its errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, unquote, urlsplit

from relaybox.core.errors import ConfigurationError
from relaybox.outbox.routing import TopicMap
from relaybox.ports.publisher import Publisher

ENV_SUFFIX = "_env"


@dataclass(frozen=True, slots=True)
class PublisherOptions:
    """What every URL-built publisher is given besides its URL.

    * ``topics`` - how an event's topic maps to the destination's own names.
    * ``timeout`` - the bound on one publish call, shorter than the relay's
      lease (the relay service takes a third of it), so a dropped connection
      never hangs a batch: what is unacknowledged by then fails with
      :class:`~relaybox.core.errors.DestinationUnavailableError`.
    * ``max_retry_delay`` - the relay's longest wait between two attempts of an
      event; a broker whose duplicate window is shorter cannot drop every
      re-publication, which publishers warn about.
    * ``environ`` - where ``*_env`` URL parameters are looked up; ``None`` means
      the process environment (filled in by :func:`relaybox.service.publisher_for`).
    """

    topics: TopicMap = field(default_factory=TopicMap)
    timeout: float = 10.0
    max_retry_delay: float = 600.0
    environ: Mapping[str, str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ConfigurationError(f"timeout must be positive seconds, got {self.timeout!r}")
        if not self.max_retry_delay >= 0:
            raise ConfigurationError(f"max_retry_delay must be >= 0, got {self.max_retry_delay!r}")


PublisherFactory = Callable[[str, PublisherOptions], Publisher]
"""Builds a publisher from its URL and the options; imports its driver itself."""


@dataclass(frozen=True, slots=True)
class DestinationUrl:
    """A parsed destination URL; ``password`` (resolved from ``password_env``) is never shown."""

    scheme: str
    host: str | None
    port: int | None
    path: str
    username: str | None
    password: str | None = field(repr=False)
    params: Mapping[str, str]

    @classmethod
    def parse(
        cls, url: str, *, allowed: Iterable[str] = (), environ: Mapping[str, str] | None = None
    ) -> DestinationUrl:
        """Parse ``url``, refusing query parameters not in ``allowed`` (``password`` is implied).

        A parameter ``NAME_env=VAR`` stands for ``NAME`` read from ``environ[VAR]``.
        """
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigurationError(f"bad destination URL {_safe(url)!r}: {exc}") from None
        params = _params(url, parts.query, {*allowed, "password"}, environ or {})
        password = params.pop("password", None)
        if parts.password is not None:
            password = unquote(parts.password)
        return cls(
            parts.scheme.lower(),
            parts.hostname,
            port,
            unquote(parts.path),
            unquote(parts.username) if parts.username else None,
            password,
            MappingProxyType(params),
        )

    def redacted(self) -> str:
        """The URL without its password or query, safe to print or log."""
        user = f"{self.username}{':***' if self.password else ''}@" if self.username else ""
        where = f"{self.host or ''}{f':{self.port}' if self.port else ''}"
        return f"{self.scheme}://{user}{where}{self.path}"

    def text(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name, default)

    def number(self, name: str, default: float) -> float:
        """Parameter ``name`` as a non-negative number, ``default`` when absent."""
        raw = self.params.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = -1.0
        if not value >= 0:
            raise ConfigurationError(
                f"{self.redacted()}: {name} must be a number >= 0, got {raw!r}"
            )
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        """Parameter ``name`` as a whole number >= 0, ``default`` when absent."""
        raw = self.params.get(name)
        if raw is None:
            return default
        if not raw.isdigit():
            raise ConfigurationError(
                f"{self.redacted()}: {name} must be a whole number, got {raw!r}"
            )
        return int(raw)


def _params(url: str, query: str, allowed: set[str], environ: Mapping[str, str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        plain = name.removesuffix(ENV_SUFFIX)
        if plain not in allowed:
            known = ", ".join(sorted(allowed))
            raise ConfigurationError(
                f"{_safe(url)}: unknown option {name!r} (known: {known}; NAME{ENV_SUFFIX}=VARIABLE "
                "reads NAME from the environment)"
            )
        if name.endswith(ENV_SUFFIX) and value not in environ:
            raise ConfigurationError(
                f"{_safe(url)}: {name} names the environment variable {value!r}, which is unset"
            )
        params[plain] = environ[value] if name.endswith(ENV_SUFFIX) else value
    return params


def safe_url(url: str) -> str:
    """``url`` without its query and password: safe to print or log."""
    return _safe(url)


def _safe(url: str) -> str:
    """``url`` without its query and password, for error messages."""
    head = url.partition("?")[0]
    scheme, sep, rest = head.partition("://")
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        return f"{scheme}{sep}{credentials.partition(':')[0]}:***@{host}"
    return head
