"""Retries: backoff with seeded jitter, injected sleep, ambiguous submits not retried."""

from __future__ import annotations

import random

import pytest

from agent.errors import OrderRejected, TransientBrokerError
from agent.execution.retry import Retrier, RetryPolicy


def flaky(errors: list[Exception], result: str = "ok"):  # type: ignore[no-untyped-def]
    calls = {"n": 0}

    def call() -> str:
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return result

    return call, calls


def test_transient_errors_are_retried_with_growing_delays() -> None:
    sleeps: list[float] = []
    retrier = Retrier(
        RetryPolicy(attempts=4, base_delay_s=1, jitter=0.5),
        sleep=sleeps.append,
        rng=random.Random(3),
    )
    call, calls = flaky([TransientBrokerError("503"), TransientBrokerError("503")])
    assert retrier.call("get", call) == "ok"
    assert calls["n"] == 3
    assert 1.0 <= sleeps[0] <= 1.5 and 2.0 <= sleeps[1] <= 3.0
    assert retrier.retries == 2


def test_the_last_error_propagates() -> None:
    retrier = Retrier(RetryPolicy(attempts=2), sleep=lambda s: None)
    call, calls = flaky([TransientBrokerError("a"), TransientBrokerError("b")])
    with pytest.raises(TransientBrokerError, match="b"):
        retrier.call("get", call)
    assert calls["n"] == 2


def test_retry_after_is_respected() -> None:
    sleeps: list[float] = []
    retrier = Retrier(RetryPolicy(attempts=2, base_delay_s=0.1), sleep=sleeps.append)
    call, _ = flaky([TransientBrokerError("429", retry_after_s=7.0)])
    retrier.call("get", call)
    assert sleeps == [7.0]


def test_ambiguous_failures_of_a_submit_are_not_retried() -> None:
    retrier = Retrier(sleep=lambda s: None)
    call, calls = flaky([TransientBrokerError("timeout", ambiguous=True)])
    with pytest.raises(TransientBrokerError):
        retrier.call("submit", call, retry_ambiguous=False)
    assert calls["n"] == 1


def test_other_errors_are_not_retried() -> None:
    retrier = Retrier(sleep=lambda s: None)
    call, calls = flaky([OrderRejected("no")])
    with pytest.raises(OrderRejected):
        retrier.call("submit", call)
    assert calls["n"] == 1
