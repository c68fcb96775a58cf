"""Retries: whether a failed try is tried again, and how long to wait before it.

This module owns the two numbers behind ``retries``, ``retry_delay``,
``retry_exponential_backoff`` and ``max_retry_delay``. The runner asks
:func:`should_retry` when a try fails (up_for_retry or failed), and the scheduler asks
:func:`retry_delay` to know when an ``up_for_retry`` task instance may be scheduled again.
Both are pure and deterministic, so that every scheduler computes the same time and a
test can state it exactly: there is no random jitter.
"""

from __future__ import annotations

from datetime import timedelta

#: Cap of an exponential backoff when the task sets no ``max_retry_delay``, so that
#: doubling never produces a wait of weeks (Airflow's ``[core] max_task_retry_delay``).
DEFAULT_MAX_RETRY_DELAY = timedelta(hours=24)


def should_retry(try_number: int, retries: int) -> bool:
    """Whether the failed try ``try_number`` (1-based) is followed by another.

    A task with ``retries=2`` has three tries: tries 1 and 2 are retried, try 3 is not.
    """
    if try_number < 1:
        raise ValueError(f"try_number is 1-based, got {try_number}")
    if retries < 0:
        raise ValueError(f"retries cannot be negative, got {retries}")
    return try_number <= retries


def retry_delay(
    try_number: int,
    base: timedelta,
    exponential: bool = False,
    max_delay: timedelta | None = None,
) -> timedelta:
    """How long to wait after the failed try ``try_number`` (1-based) before the next.

    Without backoff, ``base``. With ``exponential=True``, Airflow's doubling
    ``base * 2 ** (try_number - 1)`` (``base`` after try 1, twice it after try 2, ...),
    capped by ``max_delay`` or, when that is None, by :data:`DEFAULT_MAX_RETRY_DELAY`.
    An explicit ``max_delay`` also caps a plain delay: it is the longest wait the task
    accepts. Unlike Airflow there is no jitter, for the reason in the module docstring.
    """
    if try_number < 1:
        raise ValueError(f"try_number is 1-based, got {try_number}")
    if base < timedelta(0):
        raise ValueError(f"retry_delay cannot be negative, got {base}")
    if max_delay is not None and max_delay < timedelta(0):
        raise ValueError(f"max_retry_delay cannot be negative, got {max_delay}")

    if not exponential:
        return base if max_delay is None else min(base, max_delay)

    cap = DEFAULT_MAX_RETRY_DELAY if max_delay is None else max_delay
    unit = timedelta(microseconds=1)
    base_us, cap_us = base // unit, cap // unit
    if base_us == 0:
        return timedelta(0)
    # Shift in integers; stop doubling once past the cap so huge try numbers stay cheap
    # and never overflow timedelta.
    exponent = try_number - 1
    if exponent >= cap_us.bit_length() + 1:
        return cap
    return timedelta(microseconds=min(base_us << exponent, cap_us))


__all__ = ["DEFAULT_MAX_RETRY_DELAY", "retry_delay", "should_retry"]
