from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaybox.core.backoff import Backoff, RetryPolicy
from relaybox.core.errors import ConfigurationError


def test_base_delay_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.1, max_delay=1.0, multiplier=2.0, jitter=0.0)
    delays = [backoff.base_delay(n) for n in range(7)]
    assert delays == pytest.approx([0.0, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_defaults() -> None:
    assert Backoff() == Backoff(initial=0.1, max_delay=30.0, multiplier=2.0, jitter=0.1)
    policy = RetryPolicy()
    assert (policy.attempts, policy.max_elapsed, policy.elapsed_limit) == (5, None, None)


def test_zero_initial_delay_never_waits() -> None:
    assert Backoff(initial=0.0, max_delay=0.0).delay(5) == 0.0


@pytest.mark.parametrize("retry", [37, 64, 1_000, 10_000, 10**9])
def test_huge_retry_numbers_stay_at_the_cap(retry: int) -> None:
    assert Backoff(multiplier=1000.0).base_delay(retry) == 30.0
    assert Backoff(jitter=0.0).delay(retry) == 30.0


backoffs = st.builds(
    lambda initial, extra, multiplier, jitter: Backoff(
        initial, initial + extra, multiplier, jitter
    ),
    # Realistic delays: from 0 or a microsecond up to 10 s before the first retry.
    st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=10.0)),
    st.floats(min_value=0.0, max_value=100.0),
    st.floats(min_value=1.0, max_value=1000.0),
    st.floats(min_value=0.0, max_value=1.0),
)


@given(
    backoff=backoffs,
    retry=st.integers(min_value=0, max_value=10**6),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_jittered_delay_stays_within_zero_and_the_cap(
    backoff: Backoff, retry: int, seed: int
) -> None:
    delay = backoff.delay(retry, random.Random(seed))
    assert 0.0 <= delay <= backoff.max_delay


def test_jitter_moves_the_delay_within_its_fraction() -> None:
    backoff = Backoff(initial=1.0, max_delay=10.0, jitter=0.5)
    rng = random.Random(7)
    delays = [backoff.delay(1, rng) for _ in range(200)]
    assert all(0.5 <= d <= 1.5 for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": -1.0}, "initial"),
        ({"initial": 5.0, "max_delay": 1.0}, "max_delay"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"jitter": 1.5}, "jitter"),
    ],
)
def test_backoff_settings_are_validated(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Backoff(**kwargs)


def test_policy_settings_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="at least 1"):
        RetryPolicy(attempts=0)
    with pytest.raises(ConfigurationError, match="max_elapsed"):
        RetryPolicy(max_elapsed=0)


def test_unlimited_attempts_get_a_time_budget() -> None:
    assert RetryPolicy(attempts=None).elapsed_limit == 60.0
    assert RetryPolicy(attempts=None, max_elapsed=5.0).elapsed_limit == 5.0
    assert RetryPolicy(attempts=None).should_retry(10**9)


def test_attempts_count_the_first_try() -> None:
    policy = RetryPolicy(attempts=3)
    assert [policy.should_retry(n) for n in (1, 2, 3)] == [True, True, False]
