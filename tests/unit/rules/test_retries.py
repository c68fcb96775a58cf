"""Retries: how many tries a task gets, and how long it waits between them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradewind.rules.retries import DEFAULT_MAX_RETRY_DELAY, retry_delay, should_retry

tries = st.integers(min_value=1, max_value=10_000)
retries_counts = st.integers(min_value=0, max_value=50)
deltas = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30))
maybe_caps = st.none() | deltas


def test_should_retry_examples() -> None:
    assert should_retry(1, 2)
    assert should_retry(2, 2)
    assert not should_retry(3, 2)
    assert not should_retry(1, 0)


@given(retries_counts)
def test_a_task_gets_retries_plus_one_tries(retries: int) -> None:
    outcomes = [should_retry(t, retries) for t in range(1, retries + 10)]
    assert sum(outcomes) == retries
    # Every retry comes before the first refusal.
    assert outcomes == sorted(outcomes, reverse=True)


@pytest.mark.parametrize(("try_number", "retries"), [(0, 1), (-1, 1), (1, -1)])
def test_should_retry_rejects_bad_input(try_number: int, retries: int) -> None:
    with pytest.raises(ValueError):
        should_retry(try_number, retries)


def test_retry_delay_examples() -> None:
    five = timedelta(minutes=5)
    assert retry_delay(1, five, False, None) == five
    assert retry_delay(7, five, False, None) == five
    assert retry_delay(1, five, True, None) == five
    assert retry_delay(2, five, True, None) == timedelta(minutes=10)
    assert retry_delay(3, five, True, None) == timedelta(minutes=20)
    assert retry_delay(4, five, True, timedelta(minutes=30)) == timedelta(minutes=30)
    assert retry_delay(50, five, True, None) == DEFAULT_MAX_RETRY_DELAY
    # An explicit cap also bounds a plain delay; the default cap does not.
    assert retry_delay(1, timedelta(hours=2), False, timedelta(hours=1)) == timedelta(hours=1)
    assert retry_delay(1, timedelta(days=2), False, None) == timedelta(days=2)


@given(tries, deltas, maybe_caps)
def test_plain_delay_is_the_base_capped(
    try_number: int, base: timedelta, cap: timedelta | None
) -> None:
    delay = retry_delay(try_number, base, False, cap)
    assert delay == (base if cap is None else min(base, cap))


@given(tries, deltas, maybe_caps)
def test_exponential_delay_doubles_up_to_the_cap(
    try_number: int, base: timedelta, cap: timedelta | None
) -> None:
    limit = DEFAULT_MAX_RETRY_DELAY if cap is None else cap
    delay = retry_delay(try_number, base, True, cap)
    assert timedelta(0) <= delay <= limit
    us = timedelta(microseconds=1)
    assert delay == timedelta(microseconds=min((base // us) * 2 ** (try_number - 1), limit // us))
    following = retry_delay(try_number + 1, base, True, cap)
    assert following == min(delay * 2, limit)


@given(st.integers(min_value=1, max_value=10**9), deltas, maybe_caps)
def test_exponential_delay_never_overflows(
    try_number: int, base: timedelta, cap: timedelta | None
) -> None:
    assert retry_delay(try_number, base, True, cap) <= (cap or DEFAULT_MAX_RETRY_DELAY)
    assert retry_delay(try_number, base, True, timedelta.max) <= timedelta.max


@given(tries, deltas, maybe_caps, st.booleans())
def test_delay_is_deterministic(
    try_number: int, base: timedelta, cap: timedelta | None, exponential: bool
) -> None:
    assert retry_delay(try_number, base, exponential, cap) == retry_delay(
        try_number, base, exponential, cap
    )


@pytest.mark.parametrize(
    ("try_number", "base", "cap"),
    [
        (0, timedelta(seconds=1), None),
        (1, timedelta(seconds=-1), None),
        (1, timedelta(seconds=1), timedelta(seconds=-1)),
    ],
)
def test_retry_delay_rejects_bad_input(
    try_number: int, base: timedelta, cap: timedelta | None
) -> None:
    with pytest.raises(ValueError):
        retry_delay(try_number, base, True, cap)
