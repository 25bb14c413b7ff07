from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaybox.core.backoff import Backoff, BackoffStrategy, FixedBackoff, LinearBackoff
from relaybox.core.errors import ConfigurationError


def test_linear_backoff_grows_by_one_step_per_retry_up_to_the_cap() -> None:
    backoff = LinearBackoff(step=2.0, max_delay=7.0)
    assert [backoff.delay(n) for n in range(6)] == [0.0, 2.0, 4.0, 6.0, 7.0, 7.0]


def test_linear_backoff_defaults_to_one_second_steps_up_to_ten_minutes() -> None:
    backoff = LinearBackoff()
    assert (backoff.delay(1), backoff.delay(42), backoff.delay(10_000)) == (1.0, 42.0, 600.0)


@pytest.mark.parametrize("retry", [10**6, 10**9, 10**18, 2**200])
def test_linear_backoff_never_overflows_on_huge_retry_numbers(retry: int) -> None:
    year = 365 * 24 * 3600.0
    assert LinearBackoff(step=year, max_delay=year).delay(retry) == year
    assert LinearBackoff().delay(retry) == 600.0


def test_fixed_backoff_waits_the_same_before_every_retry() -> None:
    backoff = FixedBackoff(2.5)
    assert [backoff.delay(n) for n in (1, 2, 50, 10**12)] == [2.5] * 4


def test_fixed_backoff_defaults_to_five_seconds() -> None:
    assert FixedBackoff().delay(1) == 5.0


@pytest.mark.parametrize("strategy", [LinearBackoff(), FixedBackoff()])
@pytest.mark.parametrize("retry", [0, -1])
def test_no_wait_before_the_first_attempt(strategy: BackoffStrategy, retry: int) -> None:
    assert strategy.delay(retry) == 0.0


@pytest.mark.parametrize(
    "build",
    [
        lambda: LinearBackoff(step=-1.0),
        lambda: LinearBackoff(step=10.0, max_delay=5.0),
        lambda: LinearBackoff(max_delay=10**9),
        lambda: FixedBackoff(-0.5),
        lambda: FixedBackoff(10**9),
    ],
)
def test_invalid_settings_are_refused_at_construction(build: object) -> None:
    with pytest.raises(ConfigurationError):
        build()  # type: ignore[operator]


def test_every_strategy_fits_the_strategy_protocol_and_ignores_the_rng() -> None:
    rng = random.Random(1)
    strategies: list[BackoffStrategy] = [Backoff(jitter=0.0), LinearBackoff(), FixedBackoff()]
    assert [s.delay(3, rng) for s in strategies] == [0.4, 3.0, 5.0]


@given(
    step=st.floats(min_value=0.0, max_value=1e6),
    extra=st.floats(min_value=0.0, max_value=1e6),
    retry=st.integers(min_value=-5, max_value=2**64),
)
def test_linear_delays_stay_within_zero_and_the_cap(step: float, extra: float, retry: int) -> None:
    backoff = LinearBackoff(step=step, max_delay=step + extra)
    assert 0.0 <= backoff.delay(retry) <= backoff.max_delay


@given(
    step=st.floats(min_value=0.0, max_value=1e3),
    retry=st.integers(min_value=1, max_value=10**6),
)
def test_linear_delays_never_shrink(step: float, retry: int) -> None:
    backoff = LinearBackoff(step=step, max_delay=1e6)
    assert backoff.delay(retry) <= backoff.delay(retry + 1)
