from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.clock import AcceleratedClock, ActiveWindow, SimClock

T0 = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


def test_sim_clock_steps_and_never_goes_back() -> None:
    clock = SimClock(T0)
    assert clock.advance(timedelta(minutes=5)) == T0 + timedelta(minutes=5)
    with pytest.raises(ValueError, match="backwards"):
        clock.set(T0)
    assert clock.real_seconds_until(T0 + timedelta(days=1)) == 0.0


def test_sim_clock_rejects_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(datetime(2026, 3, 2, 9, 30))


def _two_windows(cursor: datetime) -> ActiveWindow | None:
    windows = [
        ActiveWindow(start=T0, end=T0 + timedelta(hours=1)),
        ActiveWindow(start=T0 + timedelta(days=1), end=T0 + timedelta(days=1, hours=1)),
    ]
    for window in windows:
        if cursor < window.end:
            return window
    return None


def test_accelerated_clock_runs_at_speed_and_jumps_idle_time() -> None:
    wall = [1000.0]
    clock = AcceleratedClock(
        anchor_sim=T0,
        anchor_wall_s=1000.0,
        speed=60.0,
        windows=_two_windows,
        wall_clock=lambda: wall[0],
    )
    assert clock.now() == T0
    wall[0] += 30  # 30 wall seconds = 30 simulated minutes
    assert clock.now() == T0 + timedelta(minutes=30)
    wall[0] += 45  # 75 s total: the first hour is spent, 15 min into the next day's window
    assert clock.now() == T0 + timedelta(days=1, minutes=15)


def test_accelerated_clock_wait_skips_idle_spans() -> None:
    wall = [0.0]
    clock = AcceleratedClock(
        anchor_sim=T0,
        anchor_wall_s=0.0,
        speed=60.0,
        windows=_two_windows,
        wall_clock=lambda: wall[0],
    )
    # 45 active minutes remain today, 10 more tomorrow: 55 min at 60x = 55 s of wall time.
    target = T0 + timedelta(days=1, minutes=10)
    wall[0] = 15.0
    assert clock.real_seconds_until(target) == pytest.approx(55.0)
    # A target inside the idle span is reached when the first window ends.
    assert clock.real_seconds_until(T0 + timedelta(hours=5)) == pytest.approx(45.0)


def test_two_accelerated_clocks_with_the_same_anchor_agree() -> None:
    wall = [500.0]
    a = AcceleratedClock(
        anchor_sim=T0,
        anchor_wall_s=400.0,
        speed=600.0,
        windows=_two_windows,
        wall_clock=lambda: wall[0],
    )
    b = AcceleratedClock(
        anchor_sim=T0,
        anchor_wall_s=400.0,
        speed=600.0,
        windows=_two_windows,
        wall_clock=lambda: wall[0],
    )
    assert a.now() == b.now()
