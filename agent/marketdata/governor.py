"""Request-rate governor: a sliding-window limiter with priorities.

Alpaca allows 200 requests per minute per account (trading and data budgets are separate).
A sliding one-minute window guarantees the limit over *any* 60 s span (a token bucket with
a burst would not). Priorities keep headroom for what matters: a request of a lower
priority is granted only while the window leaves room for the capacity reserved for the
priorities above it, so exits and cancels are never starved by a scan.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import Protocol

from agent.clock import monotonic_s


class Priority(IntEnum):
    """Lower value = more important."""

    EXIT = 0
    """Closing orders and cancels."""
    ORDER = 1
    """Opening orders, replaces and order look-ups."""
    RECONCILE = 2
    SCAN = 3
    """Market data for scans."""


DEFAULT_RESERVED_FRACTION: Mapping[Priority, float] = {
    Priority.EXIT: 0.0,
    Priority.ORDER: 0.10,
    Priority.RECONCILE: 0.20,
    Priority.SCAN: 0.30,
}
"""Share of the window a priority may NOT use (kept for the priorities above it)."""


class RateGovernor:
    """At most ``limit`` grants in any ``window_s`` seconds, shared by every caller."""

    def __init__(
        self,
        limit: int,
        *,
        window_s: float = 60.0,
        reserved_fraction: Mapping[Priority, float] = DEFAULT_RESERVED_FRACTION,
        now_s: Callable[[], float] = monotonic_s,
    ) -> None:
        if limit < 1:
            raise ValueError(f"limit must be ≥ 1 (got {limit})")
        self.limit = limit
        self.window_s = window_s
        self._caps = {
            p: max(1, int(limit * (1.0 - reserved_fraction.get(p, 0.0)))) for p in Priority
        }
        self._now = now_s
        self._grants: deque[float] = deque()
        self._lock = threading.Lock()
        self.granted = 0
        self.waits = 0

    def _expire(self, now: float) -> None:
        while self._grants and self._grants[0] <= now - self.window_s:
            self._grants.popleft()

    def try_acquire(self, priority: Priority = Priority.SCAN) -> float:
        """Take a slot now and return 0.0, or return the seconds to wait before retrying."""
        with self._lock:
            now = self._now()
            self._expire(now)
            cap = self._caps[priority]
            if len(self._grants) < cap:
                self._grants.append(now)
                self.granted += 1
                return 0.0
            self.waits += 1
            # The slot frees when the oldest grant counted against this cap leaves the window.
            oldest_blocking = self._grants[len(self._grants) - cap]
            return max(1e-3, oldest_blocking + self.window_s - now)

    def in_window(self) -> int:
        with self._lock:
            self._expire(self._now())
            return len(self._grants)


class RequestLimiter(Protocol):
    """What an adapter calls before each request: blocks until the request may go."""

    def acquire(self, priority: Priority) -> None: ...


class LocalLimiter:
    """A :class:`RequestLimiter` over an in-process :class:`RateGovernor`."""

    def __init__(
        self, governor: RateGovernor, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.governor = governor
        self._sleep = sleep
        self.waited_s = 0.0

    def acquire(self, priority: Priority) -> None:
        while (wait := self.governor.try_acquire(priority)) > 0.0:
            self.waited_s += wait
            self._sleep(wait)
