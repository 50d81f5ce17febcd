"""Clocks. This is the only module that reads the system clock.

Every service takes a :class:`Clock`. Backtests step a :class:`SimClock`; the accelerated
simulation runs an :class:`AcceleratedClock` whose simulated time is a pure function of wall
time, so every actor process computes the same "now" without talking to the others; paper
and live use :class:`SystemClock`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable


def _require_aware(at: datetime, what: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (got naive {at!r})")
    return at.astimezone(UTC)


@runtime_checkable
class Clock(Protocol):
    """A source of the current time (timezone-aware UTC)."""

    def now(self) -> datetime: ...

    def real_seconds_until(self, target: datetime) -> float:
        """Wall-clock seconds to wait until ``target`` is reached on this clock (≥ 0)."""
        ...


class SystemClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def real_seconds_until(self, target: datetime) -> float:
        return max(0.0, (_require_aware(target, "target") - self.now()).total_seconds())


def wall_time_s() -> float:
    """Seconds since the epoch from the system clock (for anchoring accelerated clocks)."""
    return time.time()


def monotonic_s() -> float:
    """A monotonic reading in seconds, for measuring durations."""
    return time.monotonic()


class SimClock:
    """A stepped clock for tests and backtests: time moves only when told to."""

    def __init__(self, start: datetime) -> None:
        self._now = _require_aware(start, "start")

    def now(self) -> datetime:
        return self._now

    def real_seconds_until(self, target: datetime) -> float:
        # A stepped clock never waits: the driver advances it.
        return 0.0

    def advance(self, delta: timedelta) -> datetime:
        if delta < timedelta(0):
            raise ValueError(f"a clock cannot go backwards (delta={delta})")
        self._now += delta
        return self._now

    def set(self, at: datetime) -> datetime:
        at = _require_aware(at, "at")
        if at < self._now:
            raise ValueError(f"a clock cannot go backwards ({at} < {self._now})")
        self._now = at
        return self._now


@dataclass(frozen=True, slots=True, kw_only=True)
class ActiveWindow:
    """A span of simulated time during which the accelerated clock runs at its speed."""

    start: datetime
    end: datetime


class AcceleratedClock:
    """Simulated time running ``speed`` times faster than wall time, skipping idle spans.

    ``windows`` yields, in order, the spans of simulated time worth living through (market
    sessions and the minutes around scheduled jobs); time outside them is jumped over
    instantly. Simulated time is a pure function of wall time and the anchor
    (``anchor_wall_s``, ``anchor_sim``), so separate processes built with the same anchor
    agree on "now" to within their wall clocks' agreement.
    """

    def __init__(
        self,
        *,
        anchor_sim: datetime,
        anchor_wall_s: float,
        speed: float,
        windows: Callable[[datetime], ActiveWindow | None],
        wall_clock: Callable[[], float] = wall_time_s,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0 (got {speed})")
        self._anchor_sim = _require_aware(anchor_sim, "anchor_sim")
        self._anchor_wall_s = anchor_wall_s
        self.speed = speed
        self._windows = windows
        self._wall = wall_clock

    @property
    def anchor(self) -> tuple[datetime, float]:
        return self._anchor_sim, self._anchor_wall_s

    def _sim_at(self, budget_sim_s: float) -> datetime:
        """Walk the active windows from the anchor, spending ``budget_sim_s`` of active time."""
        cursor = self._anchor_sim
        remaining = budget_sim_s
        while True:
            window = self._windows(cursor)
            if window is None:
                return cursor + timedelta(seconds=remaining)
            start = max(window.start, cursor)
            span = (window.end - start).total_seconds()
            if remaining < span:
                return start + timedelta(seconds=remaining)
            remaining -= span
            cursor = window.end

    def now(self) -> datetime:
        elapsed_wall = max(0.0, self._wall() - self._anchor_wall_s)
        return self._sim_at(elapsed_wall * self.speed)

    def real_seconds_until(self, target: datetime) -> float:
        target = _require_aware(target, "target")
        cursor = self.now()
        active_s = 0.0
        while cursor < target:
            window = self._windows(cursor)
            if window is None:
                active_s += (target - cursor).total_seconds()
                break
            start = max(window.start, cursor)
            if target <= start:
                break  # target falls in a skipped span: reached as soon as the span starts
            end = min(window.end, target)
            active_s += (end - start).total_seconds()
            cursor = window.end
        return max(0.0, active_s / self.speed)
