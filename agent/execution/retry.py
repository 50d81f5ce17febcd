"""Retries of broker calls on transient errors: exponential backoff with jitter.

Only idempotent calls are retried blindly (reads, cancels). A submit or replace is retried
only when the error says the request was certainly not applied (``ambiguous=False``, e.g. a
429); an ambiguous failure goes back to the caller, which must look the order up by client
order id. The sleep is injected so tests never wait, and the jitter comes from a seeded
generator.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from agent.errors import TransientBrokerError
from agent.logging import logger

__all__ = ["Retrier", "RetryPolicy"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """``attempts`` calls in all; the n-th wait is ``base_delay_s × 2ⁿ`` (capped at
    ``max_delay_s``) times a random factor in ``[1, 1 + jitter]``, and at least the
    broker's ``retry_after_s``."""

    attempts: int = 3
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    jitter: float = 0.5


class Retrier:
    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.retries = 0
        """Retries made so far (a health counter)."""

    def delay_s(self, attempt: int, error: TransientBrokerError) -> float:
        policy = self.policy
        backoff = min(policy.max_delay_s, policy.base_delay_s * 2.0**attempt)
        delay = backoff * (1.0 + policy.jitter * self.rng.random())
        if error.retry_after_s is not None:
            delay = max(delay, error.retry_after_s)
        return delay

    def call(self, what: str, fn: Callable[[], T], *, retry_ambiguous: bool = True) -> T:
        """``fn()``, retried on :class:`TransientBrokerError` (the last error propagates)."""
        attempts = max(1, self.policy.attempts)
        for attempt in range(attempts):
            try:
                return fn()
            except TransientBrokerError as error:
                if attempt == attempts - 1 or (error.ambiguous and not retry_ambiguous):
                    raise
                delay = self.delay_s(attempt, error)
                self.retries += 1
                logger.warning(
                    "{} failed ({}); retry {}/{} in {:.2f}s",
                    what,
                    error,
                    attempt + 1,
                    attempts - 1,
                    delay,
                )
                self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover
